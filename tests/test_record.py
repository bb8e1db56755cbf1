"""The tamper-evident record (issue 13, part B): hash chains, ``orderwatch verify``, the guards that refuse changes.

Tampering the way the probe did: on SQLite, DROP TRIGGER then rewrite an event's actor and recorded time; on
PostgreSQL, as the owner, UPDATE and TRUNCATE with the guard dropped. ``verify`` must name each break. The
application's PostgreSQL role cannot UPDATE, DELETE or TRUNCATE the record at all.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from storage.db import HEAD, make_engine
from storage.verify import verify
from tests.conftest import PG_URL, Cli
from tests.test_refusals import SO, build_cp, build_so

TODAY = "2027-12-31"


@pytest.fixture(autouse=True)
def _pinned_today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERWATCH_TODAY", TODAY)


def _busy(cli: Cli) -> None:
    """Two cases with history, reads logged: every chain has rows."""
    build_so("escalated_to_hos")(cli)
    build_cp("concurrent")(cli)
    assert cli("show", SO, "--actor", "hos1").rc == 0
    assert cli("history", SO, "--actor", "hos1").rc == 0


def _sql(url: str, *statements: str) -> None:
    engine = make_engine(url)
    with engine.begin() as c:
        for statement in statements:
            c.execute(sa.text(statement))
    engine.dispose()


def _broken(cli: Cli) -> dict[str, Any]:
    ran = cli("verify")
    assert ran.rc == 1, ran.out
    found: dict[str, Any] = ran.json["broken"]
    return found


def _case_id(url: str, ref: str) -> int:
    engine = make_engine(url)
    with engine.connect() as c:
        found = c.scalar(sa.text("SELECT id FROM cases WHERE ref = :r"), {"r": ref})
    engine.dispose()
    assert found is not None
    return int(found)


def test_verify_passes_on_a_busy_record(cli: Cli, db_url: str) -> None:
    _busy(cli)
    ran = cli("verify")
    assert ran.rc == 0, ran.out
    out = ran.json
    assert out["ok"] and out["cases"] == 2 and out["events"] > 10
    assert out["logs"]["people_log"] >= 13 and out["logs"]["access_log"] >= 2
    assert set(out["heads"]) == {"events", "people_log", "access_log"}
    human = cli("verify", json_out=False)
    assert human.rc == 0 and human.out.startswith("ok: 2 case chains")


def test_the_log_refuses_changes_while_its_guards_stand(cli: Cli, db_url: str) -> None:
    _busy(cli)
    engine = make_engine(db_url)
    for statement in (
        "UPDATE events SET actor = 'mallory' WHERE seq = 1",
        "DELETE FROM events WHERE seq = 2",
        "UPDATE access_log SET actor = 'mallory'",
        "DELETE FROM people_log",
        # an "erasure" on a case that was never disposed of is not a lawful one
        """UPDATE events SET payload = '{"~erased": "x"}' WHERE seq = 1""",
    ):
        with pytest.raises(sa.exc.DBAPIError), engine.begin() as c:
            c.execute(sa.text(statement))
    if engine.dialect.name == "postgresql":
        for table in ("events", "people_log", "access_log", "cases", "chain_heads"):
            with pytest.raises(sa.exc.DBAPIError, match="TRUNCATE"), engine.begin() as c:
                c.execute(sa.text(f"TRUNCATE {table} CASCADE"))
    engine.dispose()
    assert cli("verify").rc == 0


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # this backend's probe only
def test_sqlite_drop_trigger_then_rewrite_actor_and_time_is_caught(cli: Cli, db_url: str) -> None:
    _busy(cli)
    cid = _case_id(db_url, SO)
    _sql(db_url, "DROP TRIGGER events_no_update",
         f"UPDATE events SET actor = 'hos1', recorded_at = '2026-01-01 00:00:00.000000' WHERE case_id = {cid} "
         "AND seq = 3")  # fmt: skip
    assert cli("replay", SO).rc == 0  # the probe: replay alone does not notice
    broken = _broken(cli)
    assert broken == {"table": "events", "case": SO, "position": 3, "why": broken["why"]}
    assert "hash does not match" in broken["why"]
    text = cli("verify", json_out=False)
    assert text.rc == 1 and f"events of case {SO} at seq 3" in text.out


def test_a_log_cut_short_or_emptied_is_caught(cli: Cli, db_url: str) -> None:
    _busy(cli)
    cid = _case_id(db_url, SO)
    last = _scalar(db_url, f"SELECT last_seq FROM cases WHERE id = {cid}")
    _tamper(db_url, f"DELETE FROM events WHERE case_id = {cid} AND seq = {last}")
    assert _broken(cli) == {"table": "events", "case": SO, "position": last,
                            "why": f"the log ends at {last - 1}, the case at {last}"}  # fmt: skip
    _tamper(db_url, f"DELETE FROM events WHERE case_id = {cid}")
    assert _broken(cli)["position"] == 1


def test_people_and_access_logs_are_chained(cli: Cli, db_url: str) -> None:
    _busy(cli)
    first = _scalar(db_url, "SELECT min(id) FROM people_log")
    engine = make_engine(db_url)
    with engine.connect() as c:
        role = c.scalar(sa.text(f"SELECT role FROM people_log WHERE id = {first + 3}"))
    engine.dispose()
    _tamper(db_url, f"UPDATE people_log SET role = 'head_of_service' WHERE id = {first + 3}")
    assert _broken(cli) == {"table": "people_log", "case": None, "position": first + 3,
                            "why": "the row's hash does not match its content and the one before"}  # fmt: skip
    _tamper(db_url, f"UPDATE people_log SET role = '{role}' WHERE id = {first + 3}")
    assert cli("verify").rc == 0  # put back as it was: the chain holds again
    last = _scalar(db_url, "SELECT max(id) FROM access_log")
    _tamper(db_url, f"DELETE FROM access_log WHERE id = {last}")
    broken = _broken(cli)
    assert broken["table"] == "access_log" and "its head records" in broken["why"]


def test_a_case_removed_whole_is_caught(cli: Cli, db_url: str) -> None:
    _busy(cli)
    cid = _case_id(db_url, SO)
    _tamper(db_url, *(f"DELETE FROM {t} WHERE case_id = {cid}" for t in ("events", "deadlines", "involvements")),
         f"DELETE FROM notifications WHERE case_ref = '{SO}'",
         f"DELETE FROM escalations WHERE case_id = {cid}", f"DELETE FROM cases WHERE id = {cid}")  # fmt: skip
    broken = _broken(cli)
    assert broken["table"] == "cases" and "2 were opened" in broken["why"]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # this backend's probe only
def test_pg_owner_update_and_truncate_are_caught(cli: Cli, db_url: str) -> None:
    _busy(cli)
    cid = _case_id(db_url, SO)
    # the owner drops the row guard and rewrites an event
    _sql(db_url, "ALTER TABLE events DISABLE TRIGGER events_no_update",
         f"UPDATE events SET actor = 'hos1', recorded_at = now() WHERE case_id = {cid} AND seq = 2",
         "ALTER TABLE events ENABLE TRIGGER events_no_update")  # fmt: skip
    assert _broken(cli) == {"table": "events", "case": SO, "position": 2,
                            "why": "the event's hash does not match its content and the one before"}  # fmt: skip
    # the owner drops the TRUNCATE guard and empties the log: show and fire would carry on, verify does not
    _sql(
        db_url,
        "DROP TRIGGER events_no_truncate ON events",
        "TRUNCATE events",
        "CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events "
        "FOR EACH STATEMENT EXECUTE FUNCTION orderwatch_no_truncate()",
    )  # put back: the session's tests share it
    broken = _broken(cli)
    assert broken["table"] == "events" and broken["position"] == 1 and "the log ends at 0" in broken["why"]


# -- PostgreSQL: the application's role ------------------------------------------------------------------------------


@pytest.fixture
def app_role(pg_url: str) -> Iterator[str]:
    name = f"ow_app_{uuid.uuid4().hex[:8]}"
    yield name
    admin = make_engine(PG_URL)
    with admin.begin() as c:
        if c.scalar(sa.text("SELECT count(*) FROM pg_roles WHERE rolname = :r"), {"r": name}):
            c.execute(sa.text(f'DROP OWNED BY "{name}"'))
            c.execute(sa.text(f'DROP ROLE "{name}"'))
    admin.dispose()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # this backend's probe only
def test_pg_app_role_appends_but_cannot_rewrite(cli: Cli, db_url: str, app_role: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    migrated = cli("migrate", "--app-role", app_role)
    assert migrated.rc == 0 and migrated.json["app_role"] == {"name": app_role, "created": True, "granted": True}
    again = cli("migrate", "--app-role", app_role).json["app_role"]
    assert again == {"name": app_role, "created": False, "granted": True}
    schema = db_url.split("search_path%3D", 1)[1]
    app_url = f"postgresql://{app_role}@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
    build_so("plan_in_progress")(cli)
    from cli.main import main

    # the application works as that role: fires, registers, reads (each read appended to the access log)
    fired = ["fire", SO, "schedule_review", "--actor", "iro1", "--on", "2026-09-01", "--set", "review_on=2026-10-01"]
    assert main([*fired, "--db", app_url]) == 0
    assert main(["so", "register", "--case", "SO-9", "--child", "C-9", "--order-date", "2027-12-01",
                 "--actor", "sw1", "--db", app_url]) == 0  # fmt: skip
    assert main(["show", SO, "--db", app_url, "--actor", "hos1"]) == 0
    assert main(["sweep", "--as-of", "2026-10-20", "--db", app_url]) == 0
    # the application's role cannot migrate: a schema behind the code is refused in one line, nothing changed
    owner = make_engine(db_url)
    with owner.begin() as c:
        c.execute(sa.text("UPDATE alembic_version SET version_num = '0006_desk'"))
    capsys.readouterr()
    refused = main(["show", SO, "--actor", "hos1", "--db", app_url])
    with owner.begin() as c:
        c.execute(sa.text("UPDATE alembic_version SET version_num = :v"), {"v": HEAD})
    owner.dispose()
    assert refused == 2 and "run `orderwatch migrate` as the schema's owner" in capsys.readouterr().err
    engine = make_engine(app_url)
    for statement in (
        "UPDATE events SET actor = 'mallory'",
        "DELETE FROM events",
        "TRUNCATE events",
        "UPDATE access_log SET actor = 'mallory'",
        "DELETE FROM people_log",
        "TRUNCATE access_log",
        "DROP TRIGGER events_no_truncate ON events",
    ):
        with pytest.raises(sa.exc.DBAPIError, match=r"permission denied|must be owner"), engine.begin() as c:
            c.execute(sa.text(statement))
    engine.dispose()
    assert cli("verify").rc == 0


# -- helpers ---------------------------------------------------------------------------------------------------------


def _scalar(url: str, query: str) -> int:
    engine = make_engine(url)
    with engine.connect() as c:
        found = c.scalar(sa.text(query))
    engine.dispose()
    return int(found)


def _tamper(url: str, *statements: str) -> None:
    """What a tamperer with the owner's (or the file's) access does: the guards off, the rows changed. On SQLite the
    triggers are dropped (the file is this test's own); on PostgreSQL, whose schema the session's tests share, they
    are disabled and enabled again around the change, in its transaction."""
    if url.startswith("sqlite"):
        names = ["events_no_update", "events_no_delete", "people_log_no_update", "people_log_no_delete",
                 "access_log_no_update", "access_log_no_delete"]  # fmt: skip
        _sql(url, *(f"DROP TRIGGER IF EXISTS {n}" for n in names), *statements)
        return
    tables = ("events", "people_log", "access_log", "cases", "chain_heads")
    _sql(url, *(f"ALTER TABLE {t} DISABLE TRIGGER USER" for t in tables), *statements,
         *(f"ALTER TABLE {t} ENABLE TRIGGER USER" for t in tables))  # fmt: skip


def test_verify_reads_through_the_api(engine: sa.Engine, book: Any) -> None:
    """``storage.verify`` as a library call: a fresh record with only people verifies."""
    found = verify(engine)
    assert found.ok and found.cases == 0 and found.logs["people_log"] >= 13


def test_the_migration_seals_a_record_written_before_the_chains(cli: Cli, db_url: str) -> None:
    """A database at 0006 with history (here: made by going back down from the head) is sealed by 0007: verify
    passes, and a change made afterwards is still caught."""
    from storage.migrate import upgrade
    from tests.test_operations import _upgrade

    _busy(cli)
    engine = make_engine(db_url)
    from alembic.script import ScriptDirectory

    from storage.db import alembic_config

    before = ScriptDirectory.from_config(alembic_config()).get_revision("0007_record").down_revision
    _upgrade(engine, str(before), down=True)  # the revision 0007_record follows (the lead may re-chain it)
    with engine.connect() as c:
        assert "hash" not in {col["name"] for col in sa.inspect(c).get_columns("events")}
    assert "0007_record" in upgrade(engine)
    engine.dispose()
    assert cli("verify").rc == 0
    assert cli("sweep", "--as-of", "2027-06-01").json["passed"] > 0  # more events, chained on
    assert cli("show", SO, "--actor", "hos1").rc == 0
    assert cli("verify").rc == 0
    _tamper(db_url, "UPDATE events SET happened_on = '2026-10-22' WHERE seq = 1")
    assert _broken(cli)["position"] == 1


# -- one way into the record -----------------------------------------------------------------------------------------

CHAINED = {"events", "people_log", "access_log"}
# the only modules that may insert into a chained table: they seal the rows first (storage.chain)
SEALERS = {"storage/chain.py": {"people_log", "access_log"}, "storage/writes.py": {"events"}}


def _chained_inserts(path: Path) -> set[str]:
    """The chained tables a module inserts into with ``insert(<table>)`` (through any import alias)."""
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "storage.models":
            for name in node.names:
                if name.name in CHAINED:
                    aliases[name.asname or name.name] = name.name
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "insert":
            for arg in node.args[:1]:
                name = arg.id if isinstance(arg, ast.Name) else getattr(arg, "attr", None)
                if name in aliases:
                    found.add(aliases[name])
                elif isinstance(arg, ast.Attribute) and name in CHAINED:
                    found.add(name)
    return found


def test_rows_reach_the_record_only_sealed() -> None:
    """Every insert into the event log, the people log or the access log goes through ``storage.chain`` (the access
    and people logs: ``chain.append``; events: the unit of work's ``Writes``), so no row lands without its hash."""
    root = Path(__file__).resolve().parent.parent
    offenders = {}
    for package in ("storage", "cli", "desk", "flows", "machines"):
        for path in (root / package).rglob("*.py"):
            rel = path.relative_to(root).as_posix()
            if "/migrations/" in rel:
                continue
            tables = _chained_inserts(path) - SEALERS.get(rel, set())
            if tables:
                offenders[rel] = sorted(tables)
    assert not offenders, f"insert into a chained table without sealing it (use storage.chain.append): {offenders}"
