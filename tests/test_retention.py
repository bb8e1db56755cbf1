"""Retention and disposal (PROCEDURES §6): the dry run lists what is due; a disposal removes the personal data,
keeps a tombstone, and leaves every chain verifiable; nothing else may erase a log entry."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from machines.supervision_order import SORegistration
from storage import chain
from storage.casebook import Casebook
from storage.commands import Fire, Register
from storage.db import make_engine
from storage.models import events
from tests.conftest import Cli, snapshot
from tests.test_record import _tamper
from tests.test_refusals import CP, SO, build_cp, build_so, fire

DOB = "2009-03-04"  # the 25th birthday: 2034-03-04


def _at(monkeypatch: pytest.MonkeyPatch, day: str) -> None:
    monkeypatch.setenv("ORDERWATCH_TODAY", day)


def _caseload(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    _at(monkeypatch, "2026-12-31")
    build_so("discharged", "--dob", DOB)(cli)  # ended 2026-01-20, with a date of birth
    build_cp("proceedings_concluded")(cli)  # ended 2026-06-10, no date of birth: kept until 2051-06-10
    assert cli("so", "register", "--case", "SO-2", "--child", "C-3", "--order-date", "2026-11-02", "--actor",
               "sw1").rc == 0  # running  # fmt: skip


def test_the_dry_run_lists_what_is_due_and_changes_nothing(cli: Cli, db_url: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    _caseload(cli, monkeypatch)
    _at(monkeypatch, "2034-03-03")
    assert cli("retention", "--dry-run").json == []
    _at(monkeypatch, "2034-03-04")
    before = snapshot(db_url)
    assert cli("retention", "--dry-run").json == [{"case": SO, "kind": "so", "state": "discharged",
                                                   "ended_on": "2026-01-20", "basis": "birthday",
                                                   "due_on": "2034-03-04"}]  # fmt: skip
    _at(monkeypatch, "2051-06-10")
    assert [d["case"] for d in cli("retention", "--dry-run").json] == [SO, CP]
    assert cli("retention", "--dry-run").json[1]["basis"] == "ended"
    assert snapshot(db_url) == before


def test_disposal_keeps_a_tombstone_and_every_chain_verifies(cli: Cli, db_url: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    _caseload(cli, monkeypatch)
    assert cli("show", SO, "--actor", "hos1").rc == 0
    _at(monkeypatch, "2035-01-01")
    refused = cli("retention", "--dispose", "--actor", "sw1")
    assert refused.rc == 2 and "may not dispose" in refused.err
    assert cli("retention", "--dispose").rc == 2
    done = cli("retention", "--dispose", "--actor", "hos1")
    assert done.rc == 0, done.err
    assert done.json == [
        {"case": SO, "disposed_on": "2035-01-01", "basis": "birthday", "erased": done.json[0]["erased"]}
    ]
    assert done.json[0]["erased"] >= 2
    assert cli("verify").rc == 0
    # the child's identifier, date of birth and free text are gone from every table
    everything = repr(snapshot(db_url))
    assert "'C-1'" not in everything and '"C-1"' not in everything and DOB not in everything
    tomb = cli("export", SO, "--actor", "hos1").json
    assert tomb["case"]["child_id"] == "" and tomb["case"]["dob"] is None and tomb["case"]["details"] == {}
    assert tomb["case"]["disposed_on"] == "2035-01-01" and tomb["case"]["dates"]["order_date"] == "2026-01-15"
    assert [e["event"] for e in tomb["events"]][-1] == "disposed"
    assert all(list(e["payload"]) == ["~erased"] for e in tomb["events"][:-1])
    assert tomb["events"][-1]["payload"] == {"basis": "birthday", "due_on": "2034-03-04",
                                             "erased": done.json[0]["erased"]}  # fmt: skip
    # every notice about the case is erased; only the one telling hos1 the disposal was entered on their behalf
    # (by the operating-system account) is new, and names the case and the event only
    assert {n["kind"] for n in tomb["notifications"] if n["body"] != "(disposed of)"} <= {"entered_on_your_behalf"}
    assert tomb["chain"] == {"ok": True}
    # a tombstone is not a case: it is neither shown, nor changed, nor replayed, nor disposed of twice
    for args in (("show", SO, "--actor", "hos1"), ("replay", SO), fire(SO, "discharge", "legal1", "2035-01-01")):
        ran = cli(*args)
        assert ran.rc == 2 and "disposed of" in ran.err, (args, ran.err)
    assert cli("retention", "--dry-run").json == []
    # the other cases are as they were
    assert cli("show", CP, "--actor", "hos1").json["case"] == CP and cli("replay", "SO-2").rc == 0
    # in a batch, each command naming the tombstone is refused on its own; the rest of the day's work lands
    engine = make_engine(db_url)
    try:
        book = Casebook(engine, clock=lambda: datetime(2035, 1, 2, 9, tzinfo=UTC))
        on = date(2035, 1, 2)
        reg = SORegistration("SO-9", "C-9", date(2034, 12, 20), notified_on=on, social_worker="sw1")
        again = SORegistration(SO, "C-1", date(2034, 12, 20), notified_on=on, social_worker="sw1")
        results = book.handle_all([Fire(actor="legal1", ref=SO, event="discharge", on=on),
                                   Register(actor="sw1", registration=again, on=on),
                                   Register(actor="sw1", registration=reg, on=on)])  # fmt: skip
    finally:
        engine.dispose()
    assert [type(r).__name__ for r in results] == ["Refused", "Refused", "Opened"], results
    assert "disposed of" in str(results[0]) and "already registered" in str(results[1])


def test_only_a_disposal_erases_and_a_forged_erasure_is_caught(cli: Cli, db_url: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    _caseload(cli, monkeypatch)
    engine = make_engine(db_url)
    erase = """UPDATE events SET payload = '{"~erased": "0"}' WHERE seq = 1"""
    with pytest.raises(sa.exc.DBAPIError), engine.begin() as c:
        c.execute(sa.text(erase))  # the trigger: not a disposed case
    # with the guard out of the way, an "erasure" on a case never disposed of is named by verify
    with engine.connect() as c:
        cid = int(c.execute(sa.text(f"SELECT id FROM cases WHERE ref = '{CP}'")).scalar_one())
        payload = c.execute(sa.select(events.c.payload).where(events.c.case_id == cid, events.c.seq == 1)).scalar_one()
    digest = chain.digest(payload)  # the true digest: the hash still matches, the payload is gone

    _tamper(db_url, f"""UPDATE events SET payload = '{{"~erased": "{digest}"}}' WHERE case_id = {cid} AND seq = 1""")
    broken = cli("verify")
    assert broken.rc == 1 and broken.json["broken"] == {
        "table": "events",
        "case": CP,
        "position": 1,
        "why": "a payload is erased but the case was never disposed of",
    }
    engine.dispose()


def test_a_case_with_an_unresolved_escalation_is_held_back_until_it_is_resolved(
    cli: Cli, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _at(monkeypatch, "2026-12-31")
    assert cli("so", "register", "--case", "SO-3", "--child", "C-3", "--order-date", "2026-11-02", "--notified-on",
               "2026-11-03", "--actor", "sw1", "--social-worker", "sw1").rc == 0  # fmt: skip
    assert cli("sweep", "--as-of", "2026-11-20").json["escalations_raised"] >= 1  # the IRO allocation missed
    assert cli(*fire("SO-3", "discharge", "legal1", "2026-11-21")).rc == 0
    open_ = [e for e in cli("escalations", "--open").json if e["case"] == "SO-3"]
    assert open_
    _at(monkeypatch, "2052-01-01")
    listed = cli("retention", "--dry-run").json
    assert listed == [{"case": "SO-3", "kind": "so", "state": "discharged", "ended_on": "2026-11-21",
                       "basis": "ended", "due_on": "2051-11-21", "open_escalations": len(open_)}]  # fmt: skip
    held = cli("retention", "--dispose", "--actor", "hos1").json
    assert held == [{"case": "SO-3", "held_back": f"{len(open_)} unresolved escalation(s)"}]
    for esc in open_:
        actor = {"team_manager": "tm1", "safeguarding_unit_manager": "sum1", "head_of_service": "hos1"}.get(
            esc["raised_to"], "hos1"
        )
        resolved = cli("fire", esc["id"], "resolve", "--actor", actor, "--on", "2026-11-22", "--set", "note=done")
        assert resolved.rc == 0, resolved.err
    assert cli("retention", "--dispose", "--actor", "hos1").json[0]["case"] == "SO-3"
    assert cli("verify").rc == 0
    assert cli("sweep", "--as-of", "2052-01-01").rc == 0  # nothing left on the tombstone for the sweep
