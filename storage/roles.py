"""PostgreSQL's two roles: the owner migrates, the application only appends to the record.

``orderwatch migrate`` connects as the owner (the role that owns the schema's tables) and, when that role may create
roles, creates the application's role (``orderwatch_app`` unless configured) and grants it what the application
needs: reading and writing the working tables, and on the record — ``events``, ``people_log``, ``access_log`` —
SELECT and INSERT only (no UPDATE, DELETE or TRUNCATE), but for ``UPDATE (payload)`` on ``events``, which a lawful
disposal needs and the events trigger allows only as an erasure on a disposed case. The application then connects
with its own URL (``ORDERWATCH_DATABASE_URL=postgresql://orderwatch_app@host/db``); it cannot migrate.

The grants are made again on every ``orderwatch migrate``, so a table a later migration adds is granted too.
The role gets no password here: set one (``ALTER ROLE … PASSWORD``) or use the server's own authentication.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, text

from machines.errors import Refused
from machines.names import shown
from storage.uow import transaction

__all__ = ["APP_ROLE", "RECORD", "AppRole", "app_role_name", "grant_app_role"]

APP_ROLE = "orderwatch_app"
RECORD = ("events", "people_log", "access_log")  # append-only for the application
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


@dataclass(frozen=True, slots=True)
class AppRole:
    """What ``migrate`` did about the application's role."""

    name: str
    created: bool
    granted: bool
    why: str = ""  # why nothing was granted

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {"name": self.name, "created": self.created, "granted": self.granted}
        if self.why:
            out["why"] = self.why
        return out


def app_role_name(given: str | None = None) -> str | None:
    """The application's role: ``--app-role``, else ``$ORDERWATCH_APP_ROLE``, else ``orderwatch_app``; ``None``
    for "none" (leave roles alone). Refuses a name that is not a plain lower-case identifier."""
    name = given or os.environ.get("ORDERWATCH_APP_ROLE") or APP_ROLE
    if name == "none":
        return None
    if not _NAME.fullmatch(name):
        raise Refused(f"--app-role: {shown(name)} is not a role name (lower-case letters, digits, _)")
    return name


def _grant(connection: Connection, name: str) -> AppRole:
    # one migrate at a time creates and grants (two racing CREATE ROLEs: one would fail)
    connection.execute(text("SELECT pg_advisory_xact_lock(hashtextextended('orderwatch:roles', 0))"))
    may_create = connection.scalar(text("SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user"))
    exists = connection.scalar(text("SELECT count(*) FROM pg_roles WHERE rolname = :r"), {"r": name})
    created = False
    if not exists:
        if not may_create:
            return AppRole(name, False, False, "the connecting role may not create roles")
        connection.execute(text(f'CREATE ROLE "{name}" LOGIN'))
        created = True
    schema = connection.scalar(text("SELECT current_schema()"))
    role, where = f'"{name}"', f'"{schema}"'
    record = ", ".join(RECORD)
    for statement in (
        f"GRANT USAGE ON SCHEMA {where} TO {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {where} TO {role}",
        f"REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON {record} FROM {role}",
        f"GRANT UPDATE (payload) ON events TO {role}",
        f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON alembic_version FROM {role}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {where} TO {role}",
    ):
        connection.execute(text(statement))
    return AppRole(name, created, True)


def grant_app_role(engine: Engine, name: str) -> AppRole:
    """Create (if need be, and allowed) the application's role and grant it its privileges, in one transaction."""
    if engine.dialect.name != "postgresql":
        return AppRole(name, False, False, "roles are PostgreSQL's; a SQLite file is guarded by its file mode")
    return transaction(engine, lambda c: _grant(c, name))
