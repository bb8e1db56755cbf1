"""delivery: people's e-mail addresses and the outbox's delivery columns (claim, next attempt, provider id)

Revision ID: 0007_delivery
Revises: 0007_people
Create Date: 2026-11-26

``people.email`` (nullable: a person without one is told inside orderwatch only). ``notifications`` gains what the
delivery pass needs to send each row once: ``claimed_at`` (a pass took it: status ``sending``), ``next_attempt_at``
(a transient failure is retried after it: status ``retry``) and ``provider_id`` (the relay's or Notify's id of the
message sent). Existing rows keep status ``pending``: they are sent by the first pass that has a channel.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_delivery"
down_revision: str | None = "0007_people"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email", sa.String(length=254), nullable=True))
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("provider_id", sa.String(length=100), nullable=True))
        batch_op.create_index("ix_notifications_status_next_attempt_at", ["status", "next_attempt_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_status_next_attempt_at")
        batch_op.drop_column("provider_id")
        batch_op.drop_column("next_attempt_at")
        batch_op.drop_column("claimed_at")
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.drop_column("email")
