"""people: leavers, who entered what and through which channel, reads allowed or refused, desk accounts

Revision ID: 0007_people
Revises: 0006_desk
Create Date: 2026-11-26 08:00:00

People gain a display name and an active flag (a leaver is deactivated, never deleted); the people log keeps each
change's before and after, who typed it and the channel. Events and the access log record ``entered_by`` and
``channel`` beside ``actor``; the access log also records refused reads (``allowed``). Desk accounts (argon2id
hashes, lockout), OpenID Connect identities mapped to people, and one-time set-password links (hashed tokens); an
index on involvements by person (need-to-know reads a reader's line's cases through it).

Columns are added with plain ADD COLUMN, not a batch copy: on SQLite a copy of ``events`` would drop its append-only
triggers. Existing rows keep ``entered_by`` and ``channel`` empty: nobody recorded them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_people"
down_revision: str | None = "0006_desk"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str, nullable: bool = False) -> sa.Column[sa.DateTime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.add_column("people", sa.Column("display_name", sa.String(length=200), nullable=True))
    op.add_column("people", sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False))
    op.add_column("people", sa.Column("deactivated_on", sa.Date(), nullable=True))
    op.add_column("people_log", sa.Column("before", _json(), nullable=True))
    op.add_column("people_log", sa.Column("after", _json(), nullable=True))
    op.add_column("people_log", sa.Column("entered_by", sa.String(length=100), nullable=True))
    op.add_column("people_log", sa.Column("channel", sa.String(length=80), nullable=True))
    op.add_column("events", sa.Column("entered_by", sa.String(length=100), nullable=True))
    op.add_column("events", sa.Column("channel", sa.String(length=80), nullable=True))
    op.add_column("access_log", sa.Column("entered_by", sa.String(length=100), nullable=True))
    op.add_column("access_log", sa.Column("channel", sa.String(length=80), nullable=True))
    op.add_column("access_log", sa.Column("allowed", sa.Boolean(), server_default=sa.true(), nullable=False))
    op.create_index("ix_involvements_user_to_on", "involvements", ["user", "to_on"])
    op.create_table(
        "accounts",
        sa.Column("user", sa.String(length=100), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("must_change", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), server_default="0", nullable=False),
        _when("locked_until", nullable=True),
        _when("changed_at", nullable=True),
        sa.ForeignKeyConstraint(["user"], ["people.user"], name=op.f("fk_accounts_user_people")),
        sa.PrimaryKeyConstraint("user", name=op.f("pk_accounts")),
    )
    op.create_table(
        "identities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issuer", sa.String(length=300), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("user", sa.String(length=100), nullable=False),
        _when("added_at"),
        sa.ForeignKeyConstraint(["user"], ["people.user"], name=op.f("fk_identities_user_people")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identities")),
        sa.UniqueConstraint("issuer", "subject", name=op.f("uq_identities_issuer")),
    )
    op.create_index(op.f("ix_identities_user"), "identities", ["user"], unique=False)
    op.create_table(
        "account_links",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user", sa.String(length=100), nullable=False),
        _when("expires_at"),
        _when("used_at", nullable=True),
        sa.Column("issued_by", sa.String(length=100), nullable=False),
        _when("issued_at"),
        sa.ForeignKeyConstraint(["user"], ["people.user"], name=op.f("fk_account_links_user_people")),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_account_links")),
    )


def _json() -> sa.types.TypeEngine[object]:
    if op.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import JSONB

        return JSONB()
    return sa.JSON()


def downgrade() -> None:
    op.drop_table("account_links")
    op.drop_index(op.f("ix_identities_user"), table_name="identities")
    op.drop_table("identities")
    op.drop_table("accounts")
    op.drop_index("ix_involvements_user_to_on", table_name="involvements")
    for table, columns in (
        ("access_log", ("allowed", "channel", "entered_by")),
        ("events", ("channel", "entered_by")),
        ("people_log", ("channel", "entered_by", "after", "before")),
        ("people", ("deactivated_on", "active", "display_name")),
    ):
        for column in columns:
            op.drop_column(table, column)
