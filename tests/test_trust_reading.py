"""Issue 13, part A: need-to-know reading in storage (PROCEDURES §6, rev.). A refused read is exit 2, says only "not
found or not yours to read" (whether or not the case exists), and is logged; every read is logged with its reader,
who typed it and the channel. Both backends.

SO-1: sw1's (manager tm1 → hos1), iro1 allocated (manager irom1), so the Safeguarding Unit's su1 was told of it.
CP-1: sw2's (manager tm2). op1 is an operator.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from storage.access import os_account
from storage.models import access_log
from tests.conftest import Cli
from tests.test_refusals import CP, SO, build_so, cp_register
from tests.test_scenarios_so import ok

TODAY = "2026-07-01"


@pytest.fixture(autouse=True)
def _pinned_today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERWATCH_TODAY", TODAY)


@pytest.fixture
def two_cases(cli: Cli) -> Cli:
    build_so("awaiting_first_cin")(cli)
    assert cli(*cp_register(CP)[:-2], "--actor", "sw2").rc == 0
    ok(cli, "people", "add", "op1", "--role", "operator")
    return cli


def _log(url: str) -> list[Any]:
    from storage.db import make_engine

    engine = make_engine(url)
    with engine.connect() as c:
        rows = c.execute(sa.select(access_log).order_by(access_log.c.id)).all()
    engine.dispose()
    return rows


SHOWS = {  # reader: (may read SO-1, may read CP-1)
    "sw1": (True, False),
    "sw2": (False, True),
    "tm1": (True, False),
    "tm2": (False, True),
    "iro1": (True, False),
    "iro2": (False, False),
    "irom1": (True, False),
    "su1": (True, False),
    "sum1": (False, False),
    "legal1": (True, True),  # every live court order: the court may discharge any (legal records it)
    "cpc1": (False, True),
    "cpctm1": (False, True),
    "hos1": (True, True),
    "test-reader": (True, True),  # an admin
    "op1": (False, False),
    "nobody": (False, False),
}


def test_who_reads_which_case(two_cases: Cli) -> None:
    for reader, (so, cp) in SHOWS.items():
        for ref, may in ((SO, so), (CP, cp)):
            for read in ("show", "history"):
                ran = two_cases(read, ref, "--actor", reader)
                assert (ran.rc == 0) == may, (reader, read, ref, ran)
                if not may:
                    assert (ran.rc, ran.json["error"]) == (2, f"{ref}: not found or not yours to read")


def test_a_refused_read_is_logged_and_does_not_confirm_the_case_exists(db_url: str, two_cases: Cli) -> None:
    before = len(_log(db_url))
    unrelated = two_cases("show", SO, "--actor", "iro2")
    missing = two_cases("show", "SO-404", "--actor", "iro2")
    assert unrelated.json["error"] == f"{SO}: not found or not yours to read"
    assert missing.json["error"] == "SO-404: not found or not yours to read"
    rows = _log(db_url)[before:]
    assert [(r.case_ref, r.what, r.actor, r.entered_by, r.channel, r.allowed) for r in rows] == [
        (SO, "show", "iro2", os_account(), "cli", False),
        ("SO-404", "show", "iro2", os_account(), "cli", False),
    ]
    assert ok(two_cases, "history", SO, "--actor", "iro1")
    last = _log(db_url)[-1]
    assert (last.case_ref, last.what, last.actor, last.allowed) == (SO, "history", "iro1", True)


def _cases(items: list[dict[str, Any]]) -> set[str]:
    return {i["case"] for i in items}


def test_lists_hold_only_the_readers_cases_and_are_logged(db_url: str, two_cases: Cli) -> None:
    wide = ["--as-of", TODAY, "--within", "3000"]
    assert _cases(ok(two_cases, "worklist", *wide, "--actor", "hos1")) == {SO, CP}
    assert _cases(ok(two_cases, "worklist", *wide, "--actor", "sw1")) == {SO}
    assert _cases(ok(two_cases, "worklist", *wide, "--actor", "tm2")) == {CP}
    assert _cases(ok(two_cases, "worklist", *wide, "--actor", "iro2")) == set()
    assert _cases(ok(two_cases, "worklist", *wide, "--actor", "op1")) == {SO, CP}  # references and dates only
    ran = two_cases("worklist", "--actor", "nobody")
    assert (ran.rc, ran.json["error"]) == (2, "nobody may not read the worklist: not an active person orderwatch knows")
    ok(two_cases, "sweep", "--as-of", TODAY)  # SO-1's first CIN meeting missed: an escalation
    assert _cases(ok(two_cases, "escalations", "--actor", "tm1")) == {SO}
    assert _cases(ok(two_cases, "escalations", "--actor", "sw2")) == {CP}
    assert ok(two_cases, "escalations", "--actor", "iro2") == []
    rows = [r for r in _log(db_url) if r.case_ref == "*"]
    assert ("worklist", "nobody", False) in [(r.what, r.actor, r.allowed) for r in rows]
    assert ("escalations", "sw2", True) in [(r.what, r.actor, r.allowed) for r in rows]


def test_the_servers_own_account_reads_lists_but_no_case(two_cases: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ORDERWATCH_ACTOR")
    assert _cases(ok(two_cases, "worklist", "--as-of", TODAY, "--within", "3000")) == {SO, CP}
    assert two_cases("show", SO).json["error"] == f"{SO}: not found or not yours to read"
    assert two_cases("status").rc in (0, 1)  # status still runs (exit 1 only names problems)


def test_a_leaver_reads_nothing(two_cases: Cli) -> None:
    assert two_cases("show", SO, "--actor", "sw1").rc == 0
    ok(two_cases, "people", "deactivate", "sw1")
    assert two_cases("show", SO, "--actor", "sw1").rc == 2
    assert two_cases("worklist", "--actor", "sw1").rc == 2


def test_notifications_are_their_recipients_and_replay_is_logged(db_url: str, two_cases: Cli) -> None:
    mine = ok(two_cases, "notifications", "--actor", "su1")
    assert mine and {n["recipient"] for n in mine} == {"su1"}
    assert "C-1" in next(n["body"] for n in mine if n["kind"] == "registration")  # the seed names the child: theirs
    ran = two_cases("notifications", "--recipient", "su1", "--actor", "sw1")
    assert (ran.rc, ran.json["error"]) == (2, "sw1 may read only their own notifications")
    ops = ok(two_cases, "notifications", "--recipient", "su1", "--actor", "op1")
    assert ops and {n["body"] for n in ops} == {"(withheld: another person's notice)"}
    assert ok(two_cases, "replay", SO, "--actor", "op1")["reproduced"] is True
    assert two_cases("replay", SO, "--actor", "nobody").rc == 2
    rows = [(r.case_ref, r.what, r.actor, r.allowed) for r in _log(db_url)]
    assert ("*", "notifications", "sw1", False) in rows and (SO, "replay", "op1", True) in rows
