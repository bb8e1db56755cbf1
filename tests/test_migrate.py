"""Migrations that cannot half-happen: ``orderwatch migrate``; 20 processes starting on a new database at once; a
migration killed (SIGKILL) at every kind of point, then completed by the next start; an unknown schema refused."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from storage.db import HEAD, alembic_config, make_engine
from storage.models import cases, metadata, people, policies
from storage.policies import policy_hash
from tests.conftest import PG_URL, _pg_admin_engine
from tests.forker import Zygote


def _revisions() -> list[str]:
    """Every migration, oldest first."""
    from alembic.script import ScriptDirectory

    walk = ScriptDirectory.from_config(alembic_config()).walk_revisions()
    return [r.revision for r in reversed(list(walk))]


REVISIONS = _revisions()


# no application role: the cluster's roles are shared by every test schema (tests/test_record.py makes its own)
ENV: dict[str, str | None] = {
    "ORDERWATCH_TODAY": "2026-11-20",
    "ORDERWATCH_POLICY": None,
    "ORDERWATCH_APP_ROLE": "none",
}


@pytest.fixture(params=["sqlite", "postgresql"])
def new_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Iterator[str]]:
    """A maker of new, empty databases (SQLite files, or PostgreSQL schemas dropped afterwards)."""
    schemas: list[str] = []

    def make() -> Iterator[str]:
        while True:
            if request.param == "sqlite":
                yield f"sqlite:///{tmp_path / uuid.uuid4().hex[:8]}.db"
            else:
                schema = f"ow_mig_{uuid.uuid4().hex[:10]}"
                with admin.begin() as c:
                    c.execute(sa.text(f"CREATE SCHEMA {schema}"))
                schemas.append(schema)
                yield f"{PG_URL}?options=-csearch_path%3D{schema}"

    admin = _pg_admin_engine()
    yield make()
    with admin.begin() as c:
        for schema in schemas:
            c.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


def _schema_is_complete(url: str) -> None:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert context.get_current_revision() == HEAD
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()


def _revision(url: str) -> str | None:
    from storage.migrate import schema_revision

    engine = make_engine(url)
    try:
        with engine.connect() as c:
            return schema_revision(c)
    finally:
        engine.dispose()


def test_migrate_brings_a_new_database_to_the_newest_schema_once(zygote: Zygote, new_database: Iterator[str]) -> None:
    url = next(new_database)
    first = zygote.run(["migrate", "--db", url, "--json"], env=ENV)
    assert first.rc == 0, first
    assert first.json() == {"schema": HEAD, "applied": REVISIONS}
    again = zygote.run(["migrate", "--db", url, "--json"], env=ENV)
    assert again.json() == {"schema": HEAD, "applied": []}
    _schema_is_complete(url)


def test_a_schema_newer_than_the_code_is_refused(zygote: Zygote, new_database: Iterator[str]) -> None:
    url = next(new_database)
    assert zygote.run(["migrate", "--db", url], env=ENV).rc == 0
    engine = make_engine(url)
    with engine.begin() as c:
        c.execute(sa.text("UPDATE alembic_version SET version_num = '0099_from_the_future'"))
    engine.dispose()
    for argv in (["migrate"], ["people", "list"], ["people", "add", "sw9", "--role", "social_worker"]):
        ran = zygote.run([*argv, "--db", url, "--json"], env=ENV)
        assert ran.rc == 2, ran
        assert ran.json()["error"] == (
            "the database schema is at revision '0099_from_the_future', which this orderwatch does not know (its "
            f"newest is {HEAD}): it was migrated by a newer orderwatch; run that one"
        )
        assert ran.err.count("\n") == 1
    assert _revision(url) == "0099_from_the_future"


def test_twenty_processes_starting_on_a_new_database_all_succeed(zygote: Zygote, new_database: Iterator[str]) -> None:
    url = next(new_database)
    children = [zygote.spawn(["people", "add", f"sw{n}", "--role", "social_worker", "--db", url, "--json"], env=ENV)
                for n in range(20)]  # fmt: skip
    done = [child.wait() for child in children]
    assert [d.rc for d in done] == [0] * 20, [d for d in done if d.rc != 0]
    _schema_is_complete(url)
    engine = make_engine(url)
    with engine.connect() as c:
        assert c.scalar(sa.select(sa.func.count()).select_from(people)) == 20
    engine.dispose()


def test_a_migration_killed_at_any_point_is_completed_by_the_next_start(
    zygote: Zygote, new_database: Iterator[str]
) -> None:
    calibration = next(new_database)
    started = time.perf_counter()
    whole = zygote.run(["migrate", "--db", calibration], env=ENV, count=True)
    seconds = time.perf_counter() - started
    assert whole.rc == 0 and whole.steps is not None
    rng = random.Random(13)
    # every step for the first eight (the version check, the lock, the first DDL), then a spread to the last
    points = sorted({*range(1, 9), *rng.sample(range(9, whole.steps + 1), min(10, whole.steps - 8))})
    seen: set[str | None] = set()
    kills = 0
    for point in points + [None] * 4:  # None: at a random instant instead
        url = next(new_database)
        if point is None:
            child = zygote.spawn(["migrate", "--db", url], env=ENV)
            time.sleep(rng.uniform(0, seconds))
            child.kill()
            killed = child.wait()
        else:
            killed = zygote.run(["migrate", "--db", url], env=ENV, kill_at=point)
        kills += killed.killed
        seen.add(_revision(url))  # at a revision (or none), never between two
        after = zygote.run(["people", "add", "sw1", "--role", "social_worker", "--db", url, "--json"], env=ENV)
        assert after.rc == 0, (point, after)
        _schema_is_complete(url)
    assert kills >= len(points)
    assert seen <= {None, *REVISIONS} and len(seen) >= 3, seen
    print(
        f"\nmigration: {len(points) + 4} runs killed ({kills} before finishing) out of {whole.steps} steps; "
        f"revisions left behind: {sorted(map(str, seen))}; each completed by the next start"
    )


def test_a_populated_database_killed_while_upgrading_keeps_its_cases_and_records_their_policy(
    zygote: Zygote, new_database: Iterator[str], tmp_path: Path
) -> None:
    from alembic import command

    local = tmp_path / "local.toml"
    local.write_text("iro_allocation_wd = 3\n")
    env = {**ENV, "ORDERWATCH_POLICY": str(local)}
    for point in (2, 4, 6, 9, None):
        url = next(new_database)
        engine = make_engine(url)
        config = alembic_config()
        with engine.begin() as connection:  # an existing database, at the schema before this migration
            config.attributes["connection"] = connection
            command.upgrade(config, "0002")
            now = datetime(2026, 1, 16, tzinfo=UTC)
            connection.execute(sa.insert(people).values(user="sw1", role="social_worker", added_at=now))
            connection.execute(sa.insert(cases).values(
                ref="SO-OLD", kind="so", state="registered", procedure_version="wirral-so-2022.03", child_id="C-OLD",
                dates={"order_date": "2026-01-15"}, people={}, details={}, links=[], last_event_on=date(2026, 1, 16),
                last_seq=1, revision=1, opened_at=now))  # fmt: skip
        engine.dispose()
        killed = zygote.run(["migrate", "--db", url], env=env, kill_at=point)
        assert killed.killed or point is None
        assert zygote.run(["migrate", "--db", url], env=env).rc == 0
        _schema_is_complete(url)
        engine = make_engine(url)
        with engine.connect() as c:
            recorded = c.execute(
                sa.select(cases.c.ref, policies.c.hash).join(policies, policies.c.id == cases.c.policy_id)
            ).all()
        engine.dispose()
        from storage.config import load_policy

        assert recorded == [("SO-OLD", policy_hash(load_policy(str(local))))]
