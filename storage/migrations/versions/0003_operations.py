"""operations: the sweep's own record, and notifications that need not belong to an escalation (operators' alarms)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sweep_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("flow_run_id", sa.String(length=64), nullable=False),
        sa.Column("flow_run_name", sa.String(length=100), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("deadlines_passed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("cases", sa.Integer(), server_default="0", nullable=False),
        sa.Column("batches", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sweep_runs")),
        sa.UniqueConstraint("flow_run_id", name=op.f("uq_sweep_runs_flow_run_id")),
    )
    op.create_index("ix_sweep_runs_status_as_of", "sweep_runs", ["status", "as_of"], unique=False)

    # notifications: add the columns nullable, fill them for the escalation notices already there, then tighten
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=20), server_default="escalation", nullable=False))
        batch_op.add_column(sa.Column("subject", sa.String(length=300), server_default="", nullable=True))
        batch_op.add_column(sa.Column("idempotency_key", sa.String(length=200), nullable=True))
    op.execute(
        "UPDATE notifications SET "
        "subject = 'ESC-' || escalation_id || ' on ' || case_ref || ': ' || reason || ', raised to ' || role, "
        "idempotency_key = 'escalation:' || escalation_id || ':' || recipient"
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.alter_column("subject", existing_type=sa.String(length=300), nullable=False, server_default="")
        batch_op.alter_column("idempotency_key", existing_type=sa.String(length=200), nullable=False)
        batch_op.alter_column("escalation_id", existing_type=sa.Integer(), nullable=True)
        batch_op.alter_column("case_ref", existing_type=sa.String(length=64), nullable=True)
        batch_op.create_unique_constraint(batch_op.f("uq_notifications_idempotency_key"), ["idempotency_key"])


def downgrade() -> None:
    op.execute("DELETE FROM notifications WHERE escalation_id IS NULL")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_notifications_idempotency_key"), type_="unique")
        batch_op.alter_column("case_ref", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("escalation_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("idempotency_key")
        batch_op.drop_column("subject")
        batch_op.drop_column("kind")
    op.drop_index("ix_sweep_runs_status_as_of", table_name="sweep_runs")
    op.drop_table("sweep_runs")
