"""record: hash chains over the event log, the people log and the access log; their heads; append-only guards

Revision ID: 0007_record
Revises: 0007_people
Create Date: 2026-11-26

- ``hash`` on ``events``, ``people_log`` and ``access_log``; ``cases.log_head`` (with ``last_seq``, where a case's
  chain ends) and ``cases.disposed_on``; ``chain_heads`` (a log's length and head, and the count of cases opened).
- Existing rows are sealed here (``storage.chain``), in one pass per chain, oldest first.
- Guards: ``events`` may not be deleted, nor updated except by a lawful disposal (the payload replaced by its
  erased form, on a case marked disposed, nothing else changed); ``people_log`` and ``access_log`` may be neither
  updated nor deleted; on PostgreSQL a statement-level trigger refuses TRUNCATE of the logs, the cases and the
  chain heads. (The application's role cannot TRUNCATE anyway: ``storage.roles``; the guard stops the owner's
  slip, and makes the owner's deliberate TRUNCATE a two-step act: drop the guard first.)
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage import chain
from storage import models as m

revision: str = "0007_record"
down_revision: str | None = "0007_delivery"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LOGS = ("events", "people_log", "access_log")
GUARDED = ("events", "people_log", "access_log", "cases", "chain_heads")
_SQLITE_LAWFUL_ERASURE = """
NEW.id IS OLD.id AND NEW.case_id IS OLD.case_id AND NEW.seq IS OLD.seq AND NEW.hash IS OLD.hash
AND json_extract(NEW.payload, '$."~erased"') IS NOT NULL
AND (SELECT disposed_on FROM cases WHERE cases.id = OLD.case_id) IS NOT NULL
"""
_PG_EVENTS = """
CREATE OR REPLACE FUNCTION events_append_only() RETURNS trigger AS $$
BEGIN
  -- the one change allowed: a lawful disposal erases the payload of a disposed case's events, nothing else
  IF TG_OP = 'UPDATE' AND (to_jsonb(NEW) - 'payload') = (to_jsonb(OLD) - 'payload')
     AND NEW.payload ? '~erased'
     AND EXISTS (SELECT 1 FROM cases WHERE cases.id = OLD.case_id AND cases.disposed_on IS NOT NULL) THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'the event log is append-only';
END; $$ LANGUAGE plpgsql
"""
_PG_LOGS = """
CREATE OR REPLACE FUNCTION orderwatch_log_append_only() RETURNS trigger AS $$
BEGIN RAISE EXCEPTION 'the % is append-only', TG_TABLE_NAME; END; $$ LANGUAGE plpgsql
"""
_PG_TRUNCATE = """
CREATE OR REPLACE FUNCTION orderwatch_no_truncate() RETURNS trigger AS $$
BEGIN RAISE EXCEPTION 'TRUNCATE of % is refused: orderwatch''s record is kept, not emptied', TG_TABLE_NAME; END;
$$ LANGUAGE plpgsql
"""


def _seal_existing(connection: sa.Connection) -> None:
    """Seal the rows written before the chains existed, each chain oldest first."""
    present = {t: {c["name"] for c in sa.inspect(connection).get_columns(t)} for t in LOGS}

    def columns(table: sa.Table) -> list[sa.Column[object]]:
        # only the columns this schema has (a later migration may add others to the models)
        return [c for c in table.c if c.name in present[table.name] and c.name != "hash"]

    ev = m.events
    heads: dict[int, tuple[int, str]] = {}
    updates: list[dict[str, object]] = []
    rows = connection.execute(sa.select(*columns(ev)).order_by(ev.c.case_id, ev.c.seq)).mappings()
    for row in rows:
        _count, previous = heads.get(row["case_id"], (0, chain.GENESIS))
        head = chain.link(previous, "events", row)
        heads[row["case_id"]] = (row["seq"], head)
        updates.append({"b_id": row["id"], "hash": head})
    if updates:
        connection.execute(sa.update(ev).where(ev.c.id == sa.bindparam("b_id")), updates)
        connection.execute(
            sa.update(m.cases).where(m.cases.c.id == sa.bindparam("b_id")).values(log_head=sa.bindparam("head")),
            [{"b_id": cid, "head": head} for cid, (_seq, head) in heads.items()],
        )
    for table in (m.people_log, m.access_log):
        previous = chain.GENESIS
        updates = []
        for row in connection.execute(sa.select(*columns(table)).order_by(table.c.id)).mappings():
            previous = chain.link(previous, table.name, row)
            updates.append({"b_id": row["id"], "hash": previous})
        if updates:
            connection.execute(sa.update(table).where(table.c.id == sa.bindparam("b_id")), updates)
            connection.execute(sa.insert(m.chain_heads).values(chain=table.name, count=len(updates), head=previous))
    opened = connection.scalar(sa.select(sa.func.count()).select_from(m.cases)) or 0
    if opened:
        connection.execute(sa.insert(m.chain_heads).values(chain="cases", count=opened, head=chain.GENESIS))


def _drop_old_guards(postgresql: bool) -> None:
    if postgresql:
        op.execute("DROP TRIGGER IF EXISTS events_no_update ON events")
    else:
        op.execute("DROP TRIGGER IF EXISTS events_no_update")
        op.execute("DROP TRIGGER IF EXISTS events_no_delete")


def _guard(postgresql: bool) -> None:
    if postgresql:
        op.execute(_PG_EVENTS)
        op.execute(_PG_LOGS)
        op.execute(_PG_TRUNCATE)
        op.execute(
            "CREATE TRIGGER events_no_update BEFORE UPDATE OR DELETE ON events "
            "FOR EACH ROW EXECUTE FUNCTION events_append_only()"
        )
        for table in ("people_log", "access_log"):
            op.execute(
                f"CREATE TRIGGER {table}_no_update BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION orderwatch_log_append_only()"
            )
        for table in GUARDED:
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION orderwatch_no_truncate()"
            )
        return
    op.execute(
        f"CREATE TRIGGER events_no_update BEFORE UPDATE ON events WHEN NOT ({_SQLITE_LAWFUL_ERASURE}) "
        "BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END"
    )
    op.execute(
        "CREATE TRIGGER events_no_delete BEFORE DELETE ON events "
        "BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END"
    )
    for table in ("people_log", "access_log"):
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'the {table} is append-only'); END"
            )


def upgrade() -> None:
    connection = op.get_bind()
    postgresql = connection.dialect.name == "postgresql"
    for table in LOGS:
        op.add_column(table, sa.Column("hash", sa.String(length=64), nullable=True))
    op.add_column("cases", sa.Column("log_head", sa.String(length=64), nullable=True))
    op.add_column("cases", sa.Column("disposed_on", sa.Date(), nullable=True))
    op.create_table(
        "chain_heads",
        sa.Column("chain", sa.String(length=40), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("head", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("chain", name=op.f("pk_chain_heads")),
    )
    _drop_old_guards(postgresql)
    _seal_existing(connection)
    _guard(postgresql)


def downgrade() -> None:
    connection = op.get_bind()
    postgresql = connection.dialect.name == "postgresql"
    if postgresql:
        for table in GUARDED:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        for table in ("people_log", "access_log"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update ON {table}")
        op.execute("DROP TRIGGER IF EXISTS events_no_update ON events")
        op.execute("DROP FUNCTION IF EXISTS orderwatch_no_truncate()")
        op.execute("DROP FUNCTION IF EXISTS orderwatch_log_append_only()")
    else:
        for table in LOGS:
            for action in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{action}")
    op.drop_table("chain_heads")
    # a plain DROP COLUMN (SQLite 3.35+), not a batch copy: a copied table would lose 0006's expression indexes
    for table, column in (("cases", "disposed_on"), ("cases", "log_head"), *((t, "hash") for t in LOGS)):
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    # the 0001 guard, as it was
    if postgresql:
        op.execute(
            "CREATE OR REPLACE FUNCTION events_append_only() RETURNS trigger AS $$ "
            "BEGIN RAISE EXCEPTION 'the event log is append-only'; END; $$ LANGUAGE plpgsql"
        )
        op.execute(
            "CREATE TRIGGER events_no_update BEFORE UPDATE OR DELETE ON events "
            "FOR EACH ROW EXECUTE FUNCTION events_append_only()"
        )
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER events_no_{action.lower()} BEFORE {action} ON events "
                "BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END"
            )
