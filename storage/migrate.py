"""Migrations that cannot half-happen: ``orderwatch migrate``, and every command's first use of a database.

Each migration runs in a transaction of its own that first takes the migration lock — PostgreSQL: an advisory lock
for this schema, held to the transaction's end; SQLite: an ``EXCLUSIVE`` transaction — then reads the schema's
revision *under* that lock, applies the one migration that follows it, and commits the migration and the new
revision together (both databases have transactional DDL). So a process killed at any point leaves the schema at
a revision, never between two; the next start carries on from there; and processes starting at once on a new
database queue on the lock, each finding the work the one before it did.

A schema newer than this code (a revision it does not know) is refused, not touched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, text

from machines.errors import Refused
from machines.names import shown
from machines.policy import DEFAULT_POLICY, Policy
from storage.db import EXCLUSIVE, HEAD, alembic_config, current_revision
from storage.policies import policy_hash, settings_of
from storage.uow import transaction

if TYPE_CHECKING:
    from alembic.script import ScriptDirectory

__all__ = ["Migrated", "migrate", "schema_revision"]

Migrated = list[str]


def schema_revision(connection: Connection) -> str | None:
    """The schema's revision, read in the caller's transaction (``None``: no schema yet). Checks that the version
    table exists first: on PostgreSQL a failed statement would abort the transaction."""
    if connection.dialect.name == "postgresql":
        exists = connection.execute(text("SELECT to_regclass('alembic_version') IS NOT NULL")).scalar()
    else:
        exists = connection.execute(
            text("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'")
        ).scalar()
    if not exists:
        return None
    found = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return None if found is None else str(found)


def _lock(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        # per schema: test schemas (and tenants) on one server do not wait for each other
        connection.execute(text("SELECT pg_advisory_xact_lock(hashtextextended('migrate:' || current_schema(), 0))"))
    # SQLite: the transaction began EXCLUSIVE (storage.db); nobody else writes until it ends


def _may_migrate(connection: Connection, current: str | None) -> None:
    """PostgreSQL: the application's role may not change the schema (``storage.roles``) — say so in one line."""
    if connection.dialect.name != "postgresql":
        return
    if not connection.execute(text("SELECT has_schema_privilege(current_schema(), 'CREATE')")).scalar():
        raise Refused(
            f"the database schema is at revision {shown(current)} and this orderwatch needs {HEAD}: this database "
            "role may not migrate it; run `orderwatch migrate` as the schema's owner"
        )


def _next(script: ScriptDirectory, current: str | None) -> str:
    """The revision that follows ``current`` (refusing one this code does not know)."""
    if current is not None:
        try:
            script.get_revision(current)
        except Exception:
            raise Refused(
                f"the database schema is at revision {shown(current)}, which this orderwatch does not know (its "
                f"newest is {HEAD}): it was migrated by a newer orderwatch; run that one"
            ) from None
    for rev in script.walk_revisions():
        down = rev.down_revision
        if down == current or (isinstance(down, tuple) and current in down):
            return str(rev.revision)
    raise Refused(f"no migration follows revision {shown(current)}")  # pragma: no cover - a broken chain


def migrate(engine: Engine, policy: Policy | None = None) -> Migrated:
    """Bring the schema to the newest revision, one locked transaction per migration; the revisions applied.

    ``policy`` is the local policy in force: a migration that records policies records the cases already open
    as running under it."""
    from alembic import command
    from alembic.script import ScriptDirectory

    config = alembic_config()
    script = ScriptDirectory.from_config(config)
    in_force = policy or DEFAULT_POLICY
    config.attributes["orderwatch_policy"] = {"hash": policy_hash(in_force), "settings": settings_of(in_force)}
    applied: Migrated = []

    def step(connection: Connection) -> str | None:
        _lock(connection)
        current = schema_revision(connection)
        if current == script.get_current_head():
            return None
        target = _next(script, current)
        _may_migrate(connection, current)
        config.attributes["connection"] = connection
        command.upgrade(config, target)  # env.py runs it in this transaction
        return target

    while True:
        done = transaction(engine, step, write=EXCLUSIVE)
        if done is None:
            return applied
        applied.append(done)


def status(engine: Engine) -> dict[str, Any]:
    """The schema's revision and this code's newest (``orderwatch migrate --json`` reports both)."""
    return {"revision": transaction(engine, schema_revision, write=False), "newest": HEAD}


def upgrade(engine: Engine, policy: Policy | None = None) -> list[str]:
    """Create or upgrade the schema to the newest migration (a no-op when it is current), under a lock, one
    transaction per migration; returns the revisions applied. ``policy`` is the local policy in force: cases opened
    before policies were recorded are recorded as running under it. An unknown (newer) schema is refused."""
    if current_revision(engine) == HEAD:
        return []
    applied: list[str] = migrate(engine, policy)
    return applied
