"""consistency: idempotent requests; the local policy each case runs under, stored once by content hash

Revision ID: 0004_consistency
Revises: 0002
Create Date: 2026-11-27

Cases opened before this migration are recorded as running under the policy in force when it runs (the one
``orderwatch migrate`` — or the first command — loaded; the shipped defaults when none is given).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects import postgresql

revision: str = "0004_consistency"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

# The shipped defaults as they stood when this migration was written (used only when no policy is handed in).
_DEFAULTS = {
    "application_filing_wd_before_expiry": 20,
    "case_summary_wd": 10,
    "closure_days": [],
    "escalation_acknowledge_wd": 2,
    "escalation_resolve_wd": 10,
    "extension_review_quarter": 4,
    "first_cin_meeting_wd": 15,
    "guardian_invitation_wd_before_review": 5,
    "hearing_proximity_wd": 10,
    "hos_decision_wd": 10,
    "inform_cpc_wd": 1,
    "iro_allocation_wd": 5,
    "legal_gateway_wd": 10,
    "management_response_wd": 5,
    "quality_check_wd": 10,
    "single_assessment_wd_before_review": 5,
    "three_way_discussion_wd": 5,
}


def upgrade() -> None:
    op.create_table(
        "policies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("settings", _JSON, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policies")),
        sa.UniqueConstraint("hash", name=op.f("uq_policies_hash")),
    )
    op.create_table(
        "requests",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("command", sa.String(length=40), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("result", _JSON, nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_requests")),
    )
    if op.get_bind().dialect.name == "sqlite":
        # SQLite adds a column with its REFERENCES clause in place (Alembic would copy the whole table to add it)
        op.execute(
            "ALTER TABLE cases ADD COLUMN policy_id INTEGER "
            "CONSTRAINT fk_cases_policy_id_policies REFERENCES policies (id)"
        )
    else:
        op.add_column("cases", sa.Column("policy_id", sa.Integer(), nullable=True))
        op.create_foreign_key(op.f("fk_cases_policy_id_policies"), "cases", "policies", ["policy_id"], ["id"])
    _record_the_policy_in_force()


def _record_the_policy_in_force() -> None:
    """The cases already open ran under the policy in force now: store it once and point them at it."""
    bind = op.get_bind()
    if bind.scalar(sa.text("SELECT count(*) FROM cases")) == 0:
        return
    given = context.config.attributes.get("orderwatch_policy") if context.config is not None else None
    if given is None:
        import hashlib
        import json

        settings = _DEFAULTS
        digest = hashlib.sha256(json.dumps(settings, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    else:
        digest, settings = given["hash"], given["settings"]
    policies = sa.table(
        "policies",
        sa.column("id", sa.Integer),
        sa.column("hash", sa.String),
        sa.column("settings", _JSON),
        sa.column("recorded_at", sa.DateTime(timezone=True)),
    )
    bind.execute(sa.insert(policies).values(hash=digest, settings=settings, recorded_at=sa.func.current_timestamp()))
    found = bind.scalar(sa.select(policies.c.id).where(policies.c.hash == digest))
    bind.execute(sa.text("UPDATE cases SET policy_id = :id WHERE policy_id IS NULL"), {"id": found})


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("policy_id")
    op.drop_table("requests")
    op.drop_table("policies")
