"""``orderwatch amend``: an audited correction of a mis-keyed child id, date of birth or order date (PROCEDURES §6).

The old and new values are kept in the case's log; dates that follow from the corrected value are recomputed and
the open deadlines they drive move (cancelled and armed again); replay reproduces the amended case; the chain holds.
"""

from __future__ import annotations

import io
import json
import sys
from typing import Any

import pytest

from tests.conftest import Cli, snapshot
from tests.test_refusals import CP, SO, build_cp, build_so

TODAY = "2026-07-01"


@pytest.fixture(autouse=True)
def _pinned_today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERWATCH_TODAY", TODAY)


def _stdin(monkeypatch: pytest.MonkeyPatch, value: dict[str, Any]) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(json.dumps(value).encode())))


def _open(cli: Cli, ref: str = SO) -> dict[str, str]:
    return {d["kind"]: d["due_on"] for d in cli("show", ref, "--actor", "hos1").json["deadlines"]
            if d["status"] == "open" and "escalation" not in d}  # fmt: skip


def test_a_child_id_is_corrected_from_stdin_and_the_log_keeps_both(cli: Cli, db_url: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    build_so("plan_in_progress")(cli)
    _stdin(monkeypatch, {"field": "child_id", "to": "C-1-CORRECT", "reason": "two digits swapped", "actor": "tm1"})
    done = cli("amend", SO, "--from", "-")
    assert done.rc == 0, done.err
    assert done.json == {"case": SO, "amended": "child_id", "on": TODAY, "dates_moved": [], "consequences": {}}
    assert "C-1" not in done.out  # the answer names the field, never the values
    exported = cli("export", SO, "--actor", "hos1").json
    assert exported["case"]["child_id"] == "C-1-CORRECT"
    last = exported["events"][-1]
    assert last["event"] == "amended" and last["actor"] == "tm1"
    assert {k: last["payload"][k] for k in ("field", "from", "to", "reason")} == {
        "field": "child_id", "from": "C-1", "to": "C-1-CORRECT", "reason": "two digits swapped"}  # fmt: skip
    assert cli("replay", SO).rc == 0 and cli("verify").rc == 0
    text = cli("history", SO, "--actor", "hos1", json_out=False).out
    assert "child_id: C-1 -> C-1-CORRECT (two digits swapped)" in text


def test_an_order_date_corrected_moves_the_dates_and_deadlines_that_follow_from_it(cli: Cli, db_url: str) -> None:
    build_so("plan_in_progress")(cli)  # order 2026-01-15: expiry 2027-01-14
    assert cli("sweep", "--as-of", TODAY).rc == 0  # what was due before today has passed (the amend's catch-up)
    before = _open(cli)
    assert before["order_expiry"] == "2027-01-14"
    done = cli("amend", SO, "--field", "order_date", "--to", "2026-01-12", "--reason", "the sealed order says 12th",
               "--actor", "sw1")  # fmt: skip
    assert done.rc == 0, done.err
    assert {"order_date", "expiry", "extension_limit"} <= set(done.json["dates_moved"])
    assert sorted(done.json["consequences"]["cancelled"]) == ["month9_review", "order_expiry"]
    shown = cli("show", SO, "--actor", "hos1").json
    assert shown["dates"]["order_date"] == "2026-01-12" and shown["dates"]["expiry"] == "2027-01-11"
    after = _open(cli)
    assert after["order_expiry"] == "2027-01-11" and before["month9_review"] == "2026-10-14"
    assert after["month9_review"] == "2026-10-11"  # the review's month follows from the order date
    moved = {"order_expiry", "month9_review"}
    assert {k: v for k, v in after.items() if k not in moved} == {k: v for k, v in before.items() if k not in moved}
    # time goes on under the corrected dates; the log still reproduces the case, and the chain holds
    assert cli("fire", SO, "schedule_review", "--actor", "iro1", "--on", TODAY, "--set", "review_on=2026-10-01").rc == 0
    assert cli("replay", SO).rc == 0
    assert cli("replay", SO).rc == 0 and cli("verify").rc == 0


def test_a_date_of_birth_is_checked_as_on_registration(cli: Cli, db_url: str) -> None:
    build_cp("concurrent")(cli)
    assert cli("amend", CP, "--field", "dob", "--to", "2015-05-05", "--reason", "from the birth certificate",
               "--actor", "cpc1").rc == 0  # fmt: skip
    assert cli("export", CP, "--actor", "hos1").json["case"]["dob"] == "2015-05-05"
    assert cli("replay", CP).rc == 0


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ((SO, "--field", "child_id", "--to", "C-9", "--reason", "typo", "--actor", "iro1"), "may not amend"),
        ((SO, "--field", "child_id", "--to", "C-1", "--reason", "typo", "--actor", "sw1"), "nothing to amend"),
        ((SO, "--field", "child_id", "--to", "C-9", "--actor", "sw1"), "required: --reason"),
        ((SO, "--field", "child_id", "--to", "C-9", "--reason", " ", "--actor", "sw1"), "needs a --reason"),
        ((SO, "--field", "dob", "--to", "2027-01-01", "--reason", "typo", "--actor", "sw1"), "date of birth"),
        ((SO, "--field", "dob", "--to", "2001-01-01", "--reason", "typo", "--actor", "sw1"), "17 or over"),
        ((SO, "--field", "order_date", "--to", "2026-13-01", "--reason", "typo", "--actor", "sw1"), "--to"),
        ((CP, "--field", "order_date", "--to", "2026-01-01", "--reason", "typo", "--actor", "cpc1"), "Supervision"),
        (("SO-404", "--field", "child_id", "--to", "C-9", "--reason", "typo", "--actor", "sw1"), "unknown case"),
        ((SO, "--field", "state", "--to", "x", "--reason", "typo", "--actor", "sw1"), "invalid choice"),
    ],
)
def test_amend_refusals_change_nothing(cli: Cli, db_url: str, args: tuple[str, ...], needle: str) -> None:
    build_so("awaiting_first_cin")(cli)
    build_cp("concurrent")(cli)
    before = snapshot(db_url)
    ran = cli("amend", *args)
    assert ran.rc == 2 and needle in ran.err, ran.err
    assert "2001-01-01" not in ran.err or needle == "date of birth"
    assert snapshot(db_url) == before
