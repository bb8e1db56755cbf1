"""Fixtures: real SQLite and the machine's real PostgreSQL, the CLI run in-process, a standard cast of people.

PostgreSQL is never skipped: if it cannot be reached the tests that need it fail, naming the URL.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from storage.casebook import Casebook
from storage.commands import AddPerson
from storage.db import make_engine
from storage.migrate import upgrade
from storage.models import metadata
from tests.forker import Zygote

# Temporary folders of this checkout's own: pytest's default (/tmp/pytest-of-<user>/) is shared by everyone's test
# sessions on the machine, and each session deletes all but the newest three there — end-to-end stacks had their
# databases and logs deleted from under them mid-run. (Set before the first tmp_path; xdist workers inherit it.)
os.environ.setdefault("PYTEST_DEBUG_TEMPROOT", str(Path(__file__).resolve().parent.parent / "var" / "pytest-tmp"))
Path(os.environ["PYTEST_DEBUG_TEMPROOT"]).mkdir(parents=True, exist_ok=True)

PG_URL = os.environ.get("ORDERWATCH_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
FIXED_NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)

# user, role, manager — every role of PROCEDURES §5, with managers for the ownership and escalation chains
CAST = [
    ("hos1", "head_of_service", None),
    ("tm1", "team_manager", "hos1"),
    ("tm2", "team_manager", "hos1"),
    ("sw1", "social_worker", "tm1"),
    ("sw2", "social_worker", "tm2"),
    ("irom1", "iro_manager", "hos1"),
    ("iro1", "iro", "irom1"),
    ("iro2", "iro", "irom1"),
    ("sum1", "safeguarding_unit_manager", "hos1"),
    ("su1", "safeguarding_unit", "sum1"),
    ("legal1", "legal", None),
    ("cpctm1", "cpc_team_manager", "hos1"),
    ("cpc1", "cpc", "cpctm1"),
]


def _pg_admin_engine() -> sa.Engine:
    engine = make_engine(PG_URL)
    try:
        with engine.connect() as c:
            c.execute(sa.text("select 1"))
    except sa.exc.OperationalError as exc:
        pytest.fail(f"PostgreSQL at {PG_URL} is unreachable ({exc.orig}); the storage tests need it, never skip it")
    return engine


@pytest.fixture(scope="session", autouse=True)
def fault_log_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The local fault log (storage.errors) goes to a temporary folder, not the checkout's var/log."""
    path = tmp_path_factory.mktemp("faults") / "log"
    before = os.environ.get("ORDERWATCH_LOG_DIR")
    os.environ["ORDERWATCH_LOG_DIR"] = str(path)
    yield path
    if before is None:
        os.environ.pop("ORDERWATCH_LOG_DIR", None)
    else:
        os.environ["ORDERWATCH_LOG_DIR"] = before


@pytest.fixture
def fresh_pg_url() -> Iterator[str]:
    """A new, empty schema on the real PostgreSQL (nothing migrated), dropped afterwards."""
    admin = _pg_admin_engine()
    schema = f"ow_fresh_{uuid.uuid4().hex[:10]}"
    with admin.begin() as c:
        c.execute(sa.text(f"CREATE SCHEMA {schema}"))
    yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    with admin.begin() as c:
        c.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@pytest.fixture(scope="module")
def zygote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Zygote]:
    """Real ``orderwatch`` processes, forked from one that has imported orderwatch (tests/forker.py)."""
    z = Zygote(tmp_path_factory.mktemp("children"))
    yield z
    z.close()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A schema of its own on the real PostgreSQL (one per test worker), migrated once."""
    admin = _pg_admin_engine()
    schema = f"ow_test_{uuid.uuid4().hex[:10]}"
    with admin.begin() as c:
        c.execute(sa.text(f"CREATE SCHEMA {schema}"))
    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    with admin.begin() as c:
        c.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating once is the slow part)."""
    path = tmp_path_factory.mktemp("template") / "ow.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with engine.connect() as c:
        c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


def _truncate(url: str) -> None:
    engine = make_engine(url)
    tables = ", ".join(t.name for t in metadata.sorted_tables)
    with engine.begin() as c:
        # the record's TRUNCATE guard (migration 0007_record) is a trigger; a replica session fires none
        c.execute(sa.text("SET LOCAL session_replication_role = replica"))
        c.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """A fresh, migrated, empty database: a SQLite file, or the PostgreSQL test schema emptied."""
    if request.param == "sqlite":
        target = tmp_path / "ow.db"
        shutil.copy(sqlite_template, target)
        return f"sqlite:///{target}"
    url: str = request.getfixturevalue("pg_url")
    _truncate(url)
    return url


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def book(engine: sa.Engine) -> Casebook:
    """A casebook with the standard cast of people already added."""
    casebook = Casebook(engine, clock=lambda: FIXED_NOW)
    for user, role, manager in CAST:
        casebook.handle(AddPerson(actor="test-setup", user=user, role=role, manager=manager))
    return casebook


@dataclass
class Ran:
    rc: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        return json.loads(self.out)


Cli = Callable[..., Ran]


@pytest.fixture
def cli(db_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    """Run ``orderwatch ...`` in-process against the test database, with ``--json``; people of CAST added."""
    from cli.main import main

    monkeypatch.setenv("ORDERWATCH_ACTOR", "test-reader")

    def run(*args: str, json_out: bool = True) -> Ran:
        argv = [*args, "--db", db_url] + (["--json"] if json_out else [])
        capsys.readouterr()
        rc = main(argv)
        captured = capsys.readouterr()
        return Ran(rc, captured.out, captured.err)

    # the reader of the tests' command lines is an admin (an admin sees every case, PROCEDURES §6), added first
    # while nobody is (setting up from the server); the cast is then added by that admin
    assert run("people", "add", "test-reader", "--role", "admin").rc == 0
    for user, role, manager in CAST:
        extra = ["--manager", manager] if manager else []
        assert run("people", "add", user, "--role", role, *extra).rc == 0
    return run


def snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a stable order: to prove a refusal changed nothing."""
    engine = make_engine(url)
    out: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as c:
        for table in metadata.sorted_tables:
            rows = c.execute(sa.select(table)).all()
            out[table.name] = sorted(tuple(map(repr, r)) for r in rows)
    engine.dispose()
    return out


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[str]:
    """One Prefect test server for the whole session (per test worker); yields its database URL."""
    from prefect.settings import PREFECT_SERVER_DATABASE_CONNECTION_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield PREFECT_SERVER_DATABASE_CONNECTION_URL.value()


@pytest.fixture
def flow_db(db_url: str, prefect_harness: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Flows run against the test database (SQLite and PostgreSQL), under the session's Prefect server."""
    from flows.runtime import dispose_engines

    monkeypatch.setenv("ORDERWATCH_DATABASE_URL", db_url)
    yield db_url
    dispose_engines()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A skipped test is a failed one here: CI never skips silently (a test that applies to one backend only is
    parametrized for that backend, not skipped on the other)."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped, which this suite does not allow: {report.longrepr}"
