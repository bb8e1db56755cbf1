"""Issue 12, item 5 (PROCEDURES §2 "Who is told", §7, rev.): the notification outbox, written by storage in the same
transaction as the change that causes it, once per idempotency key; ``orderwatch notifications``; the involvements.

SO-1: made Thu 2026-01-15, notified Fri 2026-01-16 by sw1; the IRO due by Fri 01-23 (5 WD). Missed, the sweep for
Sat 01-24 raises it to the Safeguarding Unit manager (acknowledge by Tue 01-27, resolve by Fri 02-06); unacknowledged,
the sweep for Wed 01-28 takes it up to the Head of Service (resolve by Wed 02-11).
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command

from machines.events import InvolvementEnded, InvolvementStarted
from machines.model import Role
from storage import outbox
from storage.casebook import Casebook
from storage.db import alembic_config, make_engine
from storage.migrate import upgrade
from storage.uow import transaction
from tests.conftest import FIXED_NOW, PG_URL, Cli
from tests.test_refusals import SO, build_so, fire, so_register
from tests.test_scenarios_so import case, ok

TODAY = "2029-12-31"


@pytest.fixture(autouse=True)
def _pinned_today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERWATCH_TODAY", TODAY)


def notices(cli: Cli, *args: str) -> list[dict[str, Any]]:
    """The notices of the seeds (those telling someone an event was entered on their behalf: tests/test_trust_*)."""
    return [n for n in ok(cli, "notifications", *args) if n["kind"] != outbox.ON_BEHALF]


def test_the_safeguarding_unit_is_told_of_a_registration_once(cli: Cli) -> None:
    ok(cli, "people", "add", "su2", "--role", "safeguarding_unit", "--manager", "sum1")
    ok(cli, *so_register(SO))
    told = notices(cli)
    assert [(n["kind"], n["recipient"], n["key"]) for n in told] == [
        ("registration", "su1", "registration:SO-1:su1"), ("registration", "su2", "registration:SO-1:su2")]  # fmt: skip
    body = told[0]["body"]
    # the seed: "the child's details, ID number and date of the Order": the identifier, order date, expiry
    for fact in ("Child: C-1", "Order made: 2026-01-15", "Expiry: 2027-01-14", "by 2026-01-23", "/cases/SO-1"):
        assert fact in body
    assert (told[0]["status"], told[0]["case"], told[0]["escalation"]) == ("pending", SO, None)
    assert [n["recipient"] for n in notices(cli, "--recipient", "su2")] == ["su2"]


def test_the_social_worker_is_told_the_iros_name_and_the_iro_becomes_involved(cli: Cli) -> None:
    build_so("awaiting_first_cin")(cli)  # IRO allocated Tue 01-20
    (told,) = notices(cli, "--recipient", "sw1")
    assert (told["kind"], told["key"], told["subject"]) == ("iro_allocated", "iro_allocated:SO-1:sw1",
                                                             "SO-1: the named IRO is iro1")  # fmt: skip
    assert "C-1" not in told["body"]  # only the Safeguarding Unit's notice carries the child's identifier
    assert case(cli)["involvements"] == [
        {"user": "sw1", "role": "social_worker", "from": "2026-01-16", "to": None},
        {"user": "iro1", "role": "iro", "from": "2026-01-20", "to": None},
    ]


def test_with_no_social_worker_recorded_the_registering_team_manager_is_told(cli: Cli) -> None:
    # registered by tm1 without --social-worker: no social worker on record (D5)
    ok(cli, "so", "register", "--case", SO, "--child", "C-1", "--order-date", "2026-01-15", "--notified-on",
       "2026-01-16", "--actor", "tm1")  # fmt: skip
    ok(cli, *fire(SO, "allocate_iro", "su1", "2026-01-20", "iro=iro1"))
    assert [(n["kind"], n["recipient"]) for n in notices(cli, "--recipient", "tm1")] == [("iro_allocated", "tm1")]
    assert [i["role"] for i in case(cli)["involvements"]] == ["iro"]


def test_escalation_notices_are_written_by_the_sweep_itself_and_at_each_level(cli: Cli) -> None:
    build_so("registered")(cli)
    ok(cli, "sweep", "--as-of", "2026-01-24")  # missed iro_allocation: ESC to the Safeguarding Unit manager
    (esc,) = ok(cli, "escalations")
    esc_no = esc["id"].removeprefix("ESC-")
    (first,) = notices(cli, "--recipient", "sum1")
    assert first["key"] == f"escalation:{esc_no}:L1:sum1" and first["escalation"] == esc["id"]
    assert "Acknowledge by 2026-01-27; resolve by 2026-02-06." in first["body"]
    ok(cli, "sweep", "--as-of", "2026-01-28")  # not acknowledged by Tue 01-27: one level up
    (second,) = notices(cli, "--recipient", "hos1")
    assert second["key"] == f"escalation:{esc_no}:L2:hos1" and "level 2" in second["subject"]
    assert "Resolve by 2026-02-11." in second["body"]
    before = notices(cli)
    ok(cli, "sweep", "--as-of", "2026-01-28")  # a repeated sweep tells nobody twice
    assert notices(cli) == before


def test_notices_are_listed_for_people_and_carry_no_free_text(cli: Cli) -> None:
    build_so("quality_escalated")(cli)  # the quality check failed with findings "plan not SMART"
    told = notices(cli, "--recipient", "tm1")
    assert [n["reason"] for n in told] == ["missed:case_summary", "quality_check_failed"]
    assert all("plan not SMART" not in n["body"] for n in notices(cli))
    assert cli("notifications", json_out=False).rc == 0


def test_an_involvement_ends_when_someone_takes_the_role(cli: Cli, db_url: str) -> None:
    build_so("awaiting_first_cin")(cli)
    engine = make_engine(db_url)
    book = Casebook(engine, clock=lambda: FIXED_NOW)
    loaded = book.load(SO)
    events = [InvolvementEnded(SO, date(2026, 3, 2), "iro1", Role.IRO),
              InvolvementStarted(SO, date(2026, 3, 2), "iro2", Role.IRO)]  # fmt: skip
    transaction(engine, lambda c: outbox.write(c, events, {SO: loaded}, FIXED_NOW, "test"))
    engine.dispose()
    assert case(cli)["involvements"][1:] == [
        {"user": "iro1", "role": "iro", "from": "2026-01-20", "to": "2026-03-02"},
        {"user": "iro2", "role": "iro", "from": "2026-03-02", "to": None},
    ]


def test_a_refused_event_tells_nobody(cli: Cli) -> None:
    build_so("registered")(cli)
    before = notices(cli)
    assert cli(*fire(SO, "allocate_iro", "sw1", "2026-01-20", "iro=iro1")).rc == 2
    assert notices(cli) == before


# -- the migration keeps the notices recorded before it -------------------------------------------------------------


def _migrated_to_0002(url: str) -> sa.Engine:
    engine = make_engine(url)
    with engine.begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "0002")
    return engine


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_migration_gives_earlier_notices_their_keys(backend: str, tmp_path: Path) -> None:
    schema = f"ow_mig_{uuid.uuid4().hex[:10]}"
    admin = make_engine(PG_URL)
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        with admin.begin() as c:
            c.execute(sa.text(f"CREATE SCHEMA {schema}"))
        url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    try:
        engine = _migrated_to_0002(url)
        now = datetime(2026, 1, 24, 9, tzinfo=UTC)
        with engine.begin() as c:
            c.execute(sa.text("INSERT INTO people (\"user\", role, added_at) VALUES ('sum1', 'safeguarding_unit_manager',"
                              " :now)"), {"now": now})  # fmt: skip
            c.execute(sa.text("INSERT INTO cases (ref, kind, state, procedure_version, child_id, dates, people, details,"
                              " links, last_seq, revision, opened_at) VALUES ('SO-1', 'so', 'registered', 'v', 'C-1',"
                              " '{}', '{}', '{}', '[]', 1, 1, :now)"), {"now": now})  # fmt: skip
            c.execute(sa.text("INSERT INTO escalations (case_id, no, reason, state, raised_to, raised_on, level)"
                              " VALUES (1, 1, 'missed:iro_allocation', 'raised', 'safeguarding_unit_manager',"
                              " '2026-01-24', 1)"))  # fmt: skip
            c.execute(sa.text("INSERT INTO notifications (escalation_id, case_ref, recipient, role, reason, created_at,"
                              " source) VALUES (1, 'SO-1', 'sum1', 'safeguarding_unit_manager',"
                              " 'missed:iro_allocation', :now, 'flow')"), {"now": now})  # fmt: skip
        upgrade(engine)
        with engine.connect() as c:
            row = c.execute(
                sa.text(
                    "SELECT key, kind, status, attempts, subject FROM notifications "
                    "WHERE kind <> 'entered_on_your_behalf'"
                )
            ).one()
        engine.dispose()
        assert tuple(row[:4]) == ("escalation:1:L1:sum1", "escalation", "pending", 0)
        assert row[4] == "ESC-1 on SO-1: missed:iro_allocation, raised to safeguarding_unit_manager"
    finally:
        if backend == "postgresql":
            with admin.begin() as c:
                c.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def test_an_escalation_taken_up_by_hand_reaches_the_next_level(cli: Cli) -> None:
    build_so("quality_escalated")(cli)  # quality_check_failed raised to the team manager (tm1) on Tue 02-10
    (esc,) = [e for e in ok(cli, "escalations") if e["reason"] == "quality_check_failed"]
    ok(cli, "fire", esc["id"], "escalate", "--actor", "tm1", "--on", "2026-02-12", "--set", "note=needs HoS")
    (told,) = [n for n in notices(cli, "--recipient", "hos1") if n["escalation"] == esc["id"]]
    # resolve within 10 WD of Thu 02-12: 13 (1), 16-20 (6), 23-26 (10)
    assert told["key"].endswith(":L2:hos1") and "Resolve by 2026-02-26." in told["body"]
