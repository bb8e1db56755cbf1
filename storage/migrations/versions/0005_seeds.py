"""seeds: the notification outbox (registration, IRO allocation and escalation notices) and case involvements

Revision ID: 0005
Revises: 0004_consistency
Create Date: 2026-11-26 12:00:00

Notifications become the outbox decided in CORE ("The notification outbox"): any kind of notice, not only an
escalation's, with an idempotency key, a subject and body, and delivery columns. Existing rows (escalation notices
recorded by the notify-escalation flow) are kept and given the keys the outbox would have given them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004_consistency"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LEVEL = (
    "COALESCE((SELECT e.level FROM escalations e WHERE e.id = notifications.escalation_id "
    "AND e.raised_to = notifications.role), 1)"
)


def upgrade() -> None:
    op.create_table(
        "involvements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("user", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=40), nullable=False),
        sa.Column("from_on", sa.Date(), nullable=False),
        sa.Column("to_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_involvements_case_id_cases")),
        sa.ForeignKeyConstraint(["user"], ["people.user"], name=op.f("fk_involvements_user_people")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_involvements")),
    )
    op.create_index(op.f("ix_involvements_case_id"), "involvements", ["case_id"], unique=False)

    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("key", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("kind", sa.String(length=30), nullable=True))
        batch_op.add_column(sa.Column("subject", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("body", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("status", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("error", sa.String(length=200), nullable=True))
    subject = "'ESC-' || escalation_id || ' on ' || case_ref || ': ' || reason || ', raised to ' || role"
    op.execute(
        sa.text(  # "\\:" is a literal colon, not a bind parameter
            f"UPDATE notifications SET key = 'escalation\\:' || escalation_id || '\\:L' || {_LEVEL} || '\\:' "
            f"|| recipient, kind = 'escalation', subject = {subject}, body = {subject} || '. /cases/' || case_ref, "
            "status = 'pending', attempts = 0"
        )
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        for name, kind in (("key", sa.String(length=200)), ("kind", sa.String(length=30)),
                           ("subject", sa.String(length=200)), ("body", sa.Text()), ("status", sa.String(length=10)),
                           ("attempts", sa.Integer())):  # fmt: skip
            batch_op.alter_column(name, existing_type=kind, nullable=False)
        for name, kind in (("escalation_id", sa.Integer()), ("case_ref", sa.String(length=64)),
                           ("role", sa.String(length=40)), ("reason", sa.String(length=60))):  # fmt: skip
            batch_op.alter_column(name, existing_type=kind, nullable=True)
        batch_op.drop_constraint(batch_op.f("uq_notifications_escalation_id"), type_="unique")
        batch_op.create_unique_constraint(batch_op.f("uq_notifications_key"), ["key"])
        batch_op.create_index(batch_op.f("ix_notifications_recipient"), ["recipient"], unique=False)


def downgrade() -> None:
    op.execute("DELETE FROM notifications WHERE escalation_id IS NULL")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notifications_recipient"))
        batch_op.drop_constraint(batch_op.f("uq_notifications_key"), type_="unique")
        batch_op.create_unique_constraint(batch_op.f("uq_notifications_escalation_id"), ["escalation_id", "recipient"])
        for name, kind in (("escalation_id", sa.Integer()), ("case_ref", sa.String(length=64)),
                           ("role", sa.String(length=40)), ("reason", sa.String(length=60))):  # fmt: skip
            batch_op.alter_column(name, existing_type=kind, nullable=False)
        for name in ("error", "sent_at", "last_attempt_at", "attempts", "status", "body", "subject", "kind", "key"):
            batch_op.drop_column(name)
    op.drop_index(op.f("ix_involvements_case_id"), table_name="involvements")
    op.drop_table("involvements")
