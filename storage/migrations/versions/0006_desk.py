"""desk: indexes for the desk's read paths (a person's cases, role queues, escalations, the dashboard, a line)

Revision ID: 0006_desk
Revises: 0005
Create Date: 2026-11-27

Indexes only: no table or row changes. The two on ``cases.people`` are expression indexes on the JSON value
(SQLite ``json_extract``, PostgreSQL ``->>``), written exactly as ``storage.expressions.case_person`` compiles, so
the planner matches the queries to them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_desk"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PEOPLE_KEYS = {"ix_cases_social_worker": "social_worker", "ix_cases_iro": "iro"}


def _people_expression(key: str) -> str:
    if op.get_bind().dialect.name == "postgresql":
        return f"(people ->> '{key}')"
    return f"json_extract(people, '$.{key}')"


def upgrade() -> None:
    for name, key in PEOPLE_KEYS.items():
        op.create_index(name, "cases", [sa.text(_people_expression(key))])
    op.create_index("ix_cases_kind_state", "cases", ["kind", "state"])
    op.create_index("ix_deadlines_kind_status_due_on", "deadlines", ["kind", "status", "due_on"])
    op.create_index("ix_deadlines_status_closed_on", "deadlines", ["status", "closed_on", "kind"])
    op.create_index("ix_people_manager", "people", ["manager"])
    op.create_index("ix_escalations_raised_to_state_raised_on", "escalations", ["raised_to", "state", "raised_on"])


def downgrade() -> None:
    op.drop_index("ix_escalations_raised_to_state_raised_on", table_name="escalations")
    op.drop_index("ix_people_manager", table_name="people")
    op.drop_index("ix_deadlines_status_closed_on", table_name="deadlines")
    op.drop_index("ix_deadlines_kind_status_due_on", table_name="deadlines")
    op.drop_index("ix_cases_kind_state", table_name="cases")
    for name in PEOPLE_KEYS:
        op.drop_index(name, table_name="cases")
