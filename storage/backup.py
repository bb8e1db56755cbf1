"""``orderwatch backup`` and ``orderwatch restore``: a consistent copy taken while the system runs, put back whole.

- SQLite: the online backup API (``sqlite3.Connection.backup``) copies the database in one step under a read
  transaction — with WAL, writers carry on meanwhile and the copy is the database as of one commit.
- PostgreSQL: ``pg_dump`` (custom format, the orderwatch schema only) reads one repeatable-read snapshot; the
  restore is ``pg_restore --clean --if-exists`` in one transaction. Connection details go to the tools through
  libpq's environment (``PGHOST``, ``PGPASSWORD``, …), never their command line, which every local user can see.

A backup is checked by ``verify`` as it is taken (SQLite: the copy itself; PostgreSQL: the snapshot it was taken
from is the one verified after restore), and a restore refuses a non-empty database without ``force``, then
verifies what it restored. Files are written readable by their owner only.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select, text
from sqlalchemy.engine import URL

from machines.errors import Refused
from storage.db import make_engine, parse_database_url
from storage.models import cases, people
from storage.uow import transaction
from storage.verify import Verified, verify

__all__ = ["Backup", "Restored", "backup", "restore"]

_TIMEOUT = 3600  # seconds: a dump or restore of a large caseload


@dataclass(frozen=True, slots=True)
class Backup:
    path: str
    bytes: int
    backend: str
    verified: Verified | None  # SQLite: the copy verified; PostgreSQL: checked after restore

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"backup": self.path, "bytes": self.bytes, "backend": self.backend}
        if self.verified is not None:
            out["verify"] = self.verified.as_json()
        return out


@dataclass(frozen=True, slots=True)
class Restored:
    source: str
    verified: Verified

    def as_json(self) -> dict[str, Any]:
        return {"restored": self.source, "verify": self.verified.as_json()}


def _sqlite_path(url: URL) -> str:
    if not url.database or url.database == ":memory:":
        raise Refused("backup and restore need a database file, not an in-memory database")
    return url.database


def _libpq_env(url: URL) -> dict[str, str]:
    """The connection as libpq's environment variables (a password never on a command line)."""
    env = dict(os.environ)
    for key, value in (("PGHOST", url.host), ("PGPORT", url.port), ("PGUSER", url.username),
                       ("PGPASSWORD", url.password), ("PGDATABASE", url.database)):  # fmt: skip
        if value is not None:
            env[key] = str(value)
    options = url.query.get("options")
    if options:
        env["PGOPTIONS"] = options if isinstance(options, str) else " ".join(options)
    return env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise Refused(f"{name} is not installed (Debian: apt-get install postgresql-client)")
    return found


def _run(argv: list[str], env: dict[str, str], what: str) -> None:
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=_TIMEOUT, check=False)
    if done.returncode != 0:
        # the tools' messages name objects, not rows; the first line is enough and carries no data
        first = (done.stderr.strip().splitlines() or ["no message"])[0][:300]
        raise Refused(f"{what} failed (exit {done.returncode}): {first}")


def _schema(engine: Engine) -> str:
    return str(transaction(engine, lambda c: c.scalar(text("SELECT current_schema()")), write=False))


def backup(engine: Engine, to: Path) -> Backup:
    """Copy the database to ``to`` (a new file, 0600), consistent as of one commit, while the system runs."""
    url = parse_database_url(str(engine.url.render_as_string(hide_password=False)))
    if to.exists():
        raise Refused(f"{to} exists already: a backup never overwrites one")
    to.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if engine.dialect.name == "sqlite":
        source = sqlite3.connect(_sqlite_path(url))
        fd = os.open(to, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        target = sqlite3.connect(str(to))
        try:
            source.backup(target)  # all pages in one step: one consistent state
        finally:
            target.close()
            source.close()
        copy = make_engine(f"sqlite:///{to}")
        try:
            checked: Verified | None = verify(copy)
        finally:
            copy.dispose()
        return Backup(str(to), to.stat().st_size, "sqlite", checked)
    schema = _schema(engine)
    fd = os.open(to, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    try:
        _run([_tool("pg_dump"), "--format=custom", f"--schema={schema}", "--no-owner", "--no-privileges",
              f"--file={to}"], _libpq_env(url), "pg_dump")  # fmt: skip
    except Refused:
        to.unlink(missing_ok=True)
        raise
    return Backup(str(to), to.stat().st_size, "postgresql", None)


def _is_empty(engine: Engine) -> bool:
    def count(connection: Any) -> int:
        try:
            return int(connection.scalar(select(func.count()).select_from(cases)) or 0) + int(
                connection.scalar(select(func.count()).select_from(people)) or 0
            )
        except Exception:  # no schema yet: empty
            return 0

    return transaction(engine, count, write=False) == 0


def restore(engine: Engine, source: Path, *, force: bool = False) -> Restored:
    """Put the backup ``source`` in place of the database (refused over one that holds anything, unless
    ``force``), then verify what was restored."""
    if not source.is_file():
        raise Refused(f"no backup at {source}")
    url = parse_database_url(str(engine.url.render_as_string(hide_password=False)))
    if not force and not _is_empty(engine):
        raise Refused("the database holds cases or people: restoring would overwrite them (--force to do so)")
    if engine.dialect.name == "sqlite":
        backup_copy = make_engine(f"sqlite:///{source}")
        try:
            checked = verify(backup_copy)
        finally:
            backup_copy.dispose()
        if not checked.ok and checked.broken is not None:
            raise Refused(f"the backup does not verify ({checked.broken.describe()}): not restored")
        engine.dispose()
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        target = sqlite3.connect(_sqlite_path(url), timeout=30)
        try:
            src.backup(target)  # page by page under the target's write lock: readers see before or after
        finally:
            target.close()
            src.close()
    else:
        with source.open("rb") as head:
            if head.read(5) != b"PGDMP":
                raise Refused(f"{source} is not a pg_dump custom-format backup")
        engine.dispose()
        _run([_tool("pg_restore"), "--clean", "--if-exists", "--single-transaction", "--no-owner",
              "--no-privileges", f"--dbname={url.database}", str(source)], _libpq_env(url), "pg_restore")  # fmt: skip
    return Restored(str(source), verify(engine))
