"""Engines and the schema: the default SQLite file, PostgreSQL when asked, Alembic upgrades on first use (under a
lock, one transaction per migration: ``storage.migrate``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from machines.errors import Refused
from machines.names import shown

if TYPE_CHECKING:
    from alembic.config import Config


__all__ = ["DEFAULT_URL", "WRITE", "database_url", "make_engine"]

DEFAULT_URL = "sqlite:///var/orderwatch.db"
# The newest migration (a test keeps it equal to Alembic's head): a current schema is recognised without importing
# Alembic, which would cost every command line a twentieth of a second.
HEAD = "0007_record"
# Execution option of a unit of work that writes: on SQLite its transaction begins IMMEDIATE (it takes the write
# lock first, so what it reads cannot change before it writes); the value EXCLUSIVE begins it EXCLUSIVE (migrations).
WRITE = "orderwatch_write"
EXCLUSIVE = "exclusive"
_SCHEMES = ("sqlite", "postgresql", "postgres")
MIGRATIONS = Path(__file__).parent / "migrations"


def database_url(url: str | None = None) -> str:
    """``--db`` if given, else ``ORDERWATCH_DATABASE_URL``, else a SQLite file under ``./var/``."""
    return url or os.environ.get("ORDERWATCH_DATABASE_URL") or DEFAULT_URL


def parse_database_url(url: str | None = None) -> URL:
    """The database URL, checked: SQLite or PostgreSQL, nothing else; a malformed one is refused in one line that
    does not repeat it (it may hold a password)."""
    text = database_url(url)
    if not text.isprintable():
        raise Refused("--db: the database URL has control characters in it")
    try:
        parsed = make_url(text)
    except (ArgumentError, ValueError):
        raise Refused("--db must be a database URL: sqlite:///path/to/file.db or postgresql://user@host/db") from None
    if parsed.get_backend_name() not in _SCHEMES:
        raise Refused(
            f"--db: {shown(parsed.get_backend_name())} databases are not supported (sqlite:///… or postgresql://…)"
        )
    if parsed.drivername not in ("sqlite", "sqlite+pysqlite", "postgresql", "postgres", "postgresql+psycopg"):
        raise Refused("--db: use the standard drivers: sqlite:///path/to/file.db or postgresql://user@host/db")
    return parsed


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    """An engine for the URL, with SQLite made safe for several processes (WAL, busy timeout, foreign keys).

    Bound parameters never appear in error messages or logs (``hide_parameters``): they carry personal data.
    """
    parsed = parse_database_url(url)
    kwargs.setdefault("hide_parameters", True)
    # orjson: the JSON columns (case dates, event payloads) are written on every transition; 15x json's speed
    kwargs.setdefault("json_serializer", _dumps)
    kwargs.setdefault("json_deserializer", orjson.loads)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername.startswith("sqlite"):
        if parsed.database and parsed.database != ":memory:":
            # a new folder is its owner's only (an existing one is left as its owner made it)
            Path(parsed.database).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        engine = create_engine(parsed, **kwargs)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            # SQLAlchemy's documented pysqlite recipe: the driver emits no BEGIN of its own, the "begin" event does
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            if parsed.database and parsed.database != ":memory:":
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
                _private(parsed.database)
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(connection: Any) -> None:
            mode = connection.get_execution_options().get(WRITE)
            connection.exec_driver_sql(
                "BEGIN EXCLUSIVE" if mode == EXCLUSIVE else "BEGIN IMMEDIATE" if mode else "BEGIN"
            )

        return engine
    return create_engine(parsed, pool_pre_ping=True, **kwargs)


def _private(database: str) -> None:
    """The SQLite file and its journal readable by their owner only (a file made before this rule, too)."""
    for path in (database, f"{database}-wal", f"{database}-shm"):
        try:
            st = os.stat(path)
            if st.st_mode & 0o077 and st.st_uid == os.geteuid():
                os.chmod(path, 0o600)
        except OSError:  # not there (yet), or not ours: nothing to do
            continue


def alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The schema's migration, or ``None`` for a database without one."""
    with engine.connect() as connection:
        try:
            found = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
        except DBAPIError:  # no alembic_version table: a new database
            return None
    return None if found is None else str(found)
