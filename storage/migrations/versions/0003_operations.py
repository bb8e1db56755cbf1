"""operations: the sweep's own record (operators' alarms are notifications: the outbox, migration 0005)

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


def downgrade() -> None:
    op.drop_index("ix_sweep_runs_status_as_of", table_name="sweep_runs")
    op.drop_table("sweep_runs")
