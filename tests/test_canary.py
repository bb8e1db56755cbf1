"""No personal data reaches Prefect.

Cases are registered whose child identifiers, dates of birth and free-text fields carry a unique marker; every flow
runs (one of them failing on purpose, on a rule whose full message would reveal a date derived from the date of
birth); then the whole Prefect database — every text column of every table — and everything logged are searched
for the marker, and for the date of birth, and neither is found.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from datetime import date
from pathlib import Path

import pytest
from prefect.events.worker import EventsWorker
from prefect.logging.handlers import APILogWorker

from flows.intake import intake_cp_iso, intake_supervision_orders
from flows.manual import escalation_action, record_event
from flows.report import caseload_report, notify_escalation
from flows.runtime import RefusedByRules
from flows.sweep import daily_sweep
from tests.conftest import CAST, Cli, snapshot

MARKER = f"CANARY{uuid.uuid4().hex[:12].upper()}"
DOB = "2010-03-07"  # 18 on 2028-03-07: the SO extension limit becomes 2028-03-06
DOB_LIMIT = "2028-03-06"


def _prefect_text(db_url: str) -> str:
    path = db_url.split("///", 1)[1]
    chunks: list[str] = []
    with sqlite3.connect(path) as db:
        tables = [r[0] for r in db.execute("select name from sqlite_master where type='table'")]
        for table in tables:
            for row in db.execute(f'select * from "{table}"'):
                chunks.extend(str(v) if not isinstance(v, bytes) else v.decode("utf-8", "replace") for v in row)
    return "\n".join(chunks)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_no_personal_data_reaches_prefect(
    flow_db: str,
    prefect_harness: str,
    cli: Cli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    child = f"{MARKER}-child"
    ok = cli("so", "register", "--case", "SO-C1", "--child", child, "--order-date", "2026-01-15", "--dob", DOB,
             "--notified-on", "2026-01-16", "--social-worker", "sw1", "--actor", "sw1")  # fmt: skip
    assert ok.rc == 0, ok.err
    steps = [
        ["fire", "SO-C1", "allocate_iro", "--actor", "su1", "--on", "2026-01-20", "--set", "iro=iro1"],
        ["fire", "SO-C1", "record_case_summary", "--actor", "sw1", "--on", "2026-01-21", "--set",
         f"other_orders={MARKER} SGO", f"court_wording={MARKER} contact", f"plan={MARKER} owner: {MARKER} task"],
        ["fire", "SO-C1", "record_first_cin_meeting", "--actor", "sw1", "--on", "2026-02-02"],
        ["fire", "SO-C1", "record_support_plan", "--actor", "sw1", "--on", "2026-02-03", "--set",
         f"plan={MARKER} agency: {MARKER} support"],
        ["fire", "SO-C1", "fail_quality_check", "--actor", "iro1", "--on", "2026-02-05", "--set",
         "criteria_not_met=plan_smart", f"findings={MARKER} findings"],
        ["fire", "SO-C1", "confirm_remedial_action", "--actor", "tm1", "--on", "2026-02-06", "--set",
         f"note={MARKER} note"],
        ["fire", "SO-C1", "schedule_review", "--actor", "iro1", "--on", "2026-09-01", "--set", "review_on=2026-10-01"],
        ["fire", "SO-C1", "hold_review", "--actor", "iro1", "--on", "2026-10-01", "--set", "outcome=extend"],
        ["fire", "SO-C1", "issue_minutes", "--actor", "iro1", "--on", "2026-10-05", "--set",
         "distribution=tm1,hos1,sw1,iro1"],
        ["fire", "SO-C1", "decide_seek_extension", "--actor", "hos1", "--on", "2026-10-06", "--set", "team_manager=tm1",
         *[f"{k}={MARKER} {k}" for k in ("why_unsuccessful", "ongoing_concerns", "proposed_plans",
                                          "service_commitments", "expected_outcomes")]],
        ["fire", "SO-C1", "approve_application", "--actor", "legal1", "--on", "2026-10-07", "--set",
         f"note={MARKER} approved"],
        ["fire", "SO-C1", "file_application", "--actor", "legal1", "--on", "2026-10-08"],
        ["cp-iso", "register", "--case", "CP-C1", "--child", f"{MARKER}-cp", "--iso-date", "2026-06-01",
         "--next-review", "2026-08-20", "--last-review", "2026-05-20", "--issued", "2026-04-01", "--dob", DOB,
         "--actor", "cpc1"],
        ["fire", "CP-C1", "inform_cpc", "--actor", "sw1", "--on", "2026-06-02"],
        ["fire", "CP-C1", "hold_three_way_discussion", "--actor", "cpc1", "--on", "2026-06-04", "--set",
         "decision=concurrent", f"case_note={MARKER} note", "participants=sw1"],
        ["fire", "CP-C1", "record_guardian_contact", "--actor", "cpc1", "--on", "2026-06-04", "--set",
         f"note={MARKER} guardian"],
        ["fire", "CP-C1", "raise_disagreement", "--actor", "tm1", "--on", "2026-06-05", "--set",
         f"note={MARKER} disagreement"],
    ]  # fmt: skip
    for step in steps:
        ran = cli(*step)
        assert ran.rc == 0, (step, ran.err)

    # every flow, each with the marked cases in its way
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    monkeypatch.setenv("ORDERWATCH_INBOX", str(inbox))
    (inbox / "so.json").write_text(json.dumps([
        {"case": "SO-C2", "child": f"{MARKER}-intake", "order_date": "2026-03-02", "dob": DOB, "actor": "sw1",
         "notified_on": "2026-03-03"},
        {"case": "SO-C3", "child": f"{MARKER}-bad", "order_date": "2026-03-02", "dob": "2030-01-01", "actor": "sw1"},
    ]))  # fmt: skip
    (inbox / "cp.json").write_text(json.dumps([
        {"case": "CP-C2", "child": f"{MARKER}-cpintake", "iso_date": "2026-03-02", "next_review": "2026-05-01",
         "icpc": "2026-02-10", "dob": DOB, "actor": "cpc1"},
    ]))  # fmt: skip
    assert intake_supervision_orders(batch="so.json")["refused"] == ["SO-C3"]
    assert intake_cp_iso(batch="cp.json")["registered"] == ["CP-C2"]
    daily_sweep(as_of=date(2026, 10, 20))
    # fails on purpose: an extension past the day before the 18th birthday (a date derived from the DOB)
    with pytest.raises(RefusedByRules) as refused:
        record_event(case_ref="SO-C1", event="court_extends", actor="legal1", on=date(2026, 11, 2),
                     new_expiry=date(2028, 12, 1))  # fmt: skip
    assert DOB_LIMIT not in str(refused.value) and "18th birthday" in str(refused.value)
    record_event(case_ref="SO-C1", event="court_extends", actor="legal1", on=date(2026, 11, 2),
                 new_expiry=date(2027, 10, 1))  # fmt: skip
    esc = next(e for e in cli("escalations", "--open").json if e["state"] == "raised")
    who = {role: user for user, role, _ in CAST}[esc["raised_to"]]
    escalation_action(escalation=esc["id"], action="acknowledge", actor=who, on=date(2026, 11, 3))
    caseload_report(as_of=date(2026, 11, 3))
    notify_escalation(case_ref="SO-C1", escalation_no=1)

    EventsWorker.drain_all()
    APILogWorker.drain_all()
    stored = _prefect_text(prefect_harness)
    logged = capsys.readouterr()
    everything = "\n".join([stored, logged.out, logged.err, caplog.text])
    assert "SO-C1" in stored and "CP-C2" in stored  # the search does look where the runs are
    assert MARKER in repr(snapshot(flow_db)) and DOB in repr(snapshot(flow_db))  # the data is there, on our side
    assert MARKER not in everything
    assert DOB not in everything and DOB_LIMIT not in everything
