"""No personal data reaches Prefect, nor any error message.

Cases are registered whose child identifiers, dates of birth and free-text fields carry a unique marker; every flow
runs (one of them failing on purpose, on a rule whose full message would reveal a date derived from the date of
birth); then the whole Prefect database — every text column of every table — and everything logged are searched
for the marker, and for the date of birth, and neither is found.

The error paths too, on both backends, through the command line and through Prefect: over-long values, NUL bytes, an
integrity error whose database message quotes the child's identifier, and database faults whose messages carry the
marker (a crashed intake, a manual event, a sweep): the marker is in none of the messages, nor anywhere in Prefect —
only in the local fault log, which only its owner can read.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest
from prefect.events.worker import EventsWorker
from prefect.logging.handlers import APILogWorker

from flows.alarms import operator_alarm
from flows.delivery import daily_digest, deliver_notifications
from flows.intake import intake_cp_iso, intake_supervision_orders
from flows.manual import escalation_action, record_event
from flows.report import caseload_report, notify_escalation
from flows.runtime import RefusedByRules
from flows.sweep import daily_sweep
from tests.conftest import CAST, Cli, snapshot
from tests.mail_servers import smtp_server

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
    refused = record_event(case_ref="SO-C1", event="court_extends", actor="legal1", on=date(2026, 11, 2),
                           new_expiry=date(2028, 12, 1), return_state=True)  # fmt: skip
    assert refused.is_failed() and DOB_LIMIT not in str(refused.message) and "18th birthday" in str(refused.message)
    with pytest.raises(RefusedByRules):  # called directly, the refusal is raised
        record_event(case_ref="SO-C1", event="court_extends", actor="legal1", on=date(2026, 11, 2),
                     new_expiry=date(2028, 12, 1))  # fmt: skip
    record_event(case_ref="SO-C1", event="court_extends", actor="legal1", on=date(2026, 11, 2),
                 new_expiry=date(2027, 10, 1))  # fmt: skip
    esc = next(e for e in cli("escalations", "--open").json if e["state"] == "raised")
    who = {role: user for user, role, _ in CAST}[esc["raised_to"]]
    escalation_action(escalation=esc["id"], action="acknowledge", actor=who, on=date(2026, 11, 3))
    caseload_report(as_of=date(2026, 11, 3))
    notify_escalation(case_ref="SO-C1", escalation_no=1)
    assert cli("people", "add", "ops1", "--role", "operator").rc == 0
    alarm = operator_alarm(kind="sweep-failed", flow_run=f"prefect.flow-run.{refused.state_details.flow_run_id}",
                           event="canary")  # fmt: skip
    assert alarm["notified"] == ["ops1"]
    # notifications delivered by e-mail: the registration notice carries the child's identifier, an address the
    # marker; the digest too. Prefect sees counts only.
    assert cli("people", "set-email", "su1", f"su1.{MARKER}@council.test").rc == 0
    with smtp_server() as (recorder, port):
        for name, value in (("HOST", "127.0.0.1"), ("PORT", str(port)), ("FROM", "orderwatch@council.test")):
            monkeypatch.setenv(f"ORDERWATCH_SMTP_{name}", value)
        assert daily_digest(as_of=date(2026, 11, 3))["made"] >= 1
        assert deliver_notifications()["sent"] >= 2
    assert any(MARKER in m.as_string() for m in recorder.messages)  # it was sent, by orderwatch

    EventsWorker.drain_all()
    APILogWorker.drain_all()
    stored = _prefect_text(prefect_harness)
    logged = capsys.readouterr()
    everything = "\n".join([stored, logged.out, logged.err, caplog.text])
    assert "SO-C1" in stored and "CP-C2" in stored  # the search does look where the runs are
    assert MARKER in repr(snapshot(flow_db)) and DOB in repr(snapshot(flow_db))  # the data is there, on our side
    assert MARKER not in everything
    assert DOB not in everything and DOB_LIMIT not in everything


def _install_faults(url: str, marker: str) -> None:
    """This test's own traps: a unique index on child identifiers (so a second case of one child is an integrity
    error quoting it, on PostgreSQL), and triggers failing with the marker in their message."""
    from storage.db import make_engine

    engine = make_engine(url)
    with engine.begin() as c:
        c.exec_driver_sql("CREATE UNIQUE INDEX canary_one_case_per_child ON cases (child_id)")
        if engine.dialect.name == "postgresql":
            c.exec_driver_sql(
                "CREATE FUNCTION canary_crash() RETURNS trigger AS $$ BEGIN "
                f"RAISE EXCEPTION 'crashed on {marker} (%%)', TG_TABLE_NAME; END; $$ LANGUAGE plpgsql"
            )
            for table, when in (("cases", "NEW.child_id LIKE '%%CRASH%%'"), ("events", "NEW.event = 'discharge'")):
                c.exec_driver_sql(f"CREATE TRIGGER canary_{table} BEFORE INSERT ON {table} FOR EACH ROW "
                                  f"WHEN ({when}) EXECUTE FUNCTION canary_crash()")  # fmt: skip
            c.exec_driver_sql("CREATE TRIGGER canary_deadlines BEFORE UPDATE ON deadlines FOR EACH ROW "
                              "EXECUTE FUNCTION canary_crash()")  # fmt: skip
        else:
            for table, when in (("cases", "BEFORE INSERT ON cases WHEN NEW.child_id LIKE '%CRASH%'"),
                                ("events", "BEFORE INSERT ON events WHEN NEW.event = 'discharge'"),
                                ("deadlines", "BEFORE UPDATE ON deadlines")):  # fmt: skip
                c.exec_driver_sql(f"CREATE TRIGGER canary_{table} {when} BEGIN "
                                  f"SELECT RAISE(ABORT, 'crashed on {marker}'); END")  # fmt: skip
    engine.dispose()


def _remove_faults(url: str, tables: tuple[str, ...] = ("cases", "events", "deadlines"), index: bool = True) -> None:
    """Take the traps away again (the PostgreSQL schema outlives the test: the next tests must not meet them)."""
    from storage.db import make_engine

    engine = make_engine(url)
    pg = engine.dialect.name == "postgresql"
    with engine.begin() as c:
        for table in tables:
            c.exec_driver_sql(f"DROP TRIGGER IF EXISTS canary_{table}" + (f" ON {table}" if pg else ""))
        if index:
            c.exec_driver_sql("DROP INDEX IF EXISTS canary_one_case_per_child")
            if pg:
                c.exec_driver_sql("DROP FUNCTION IF EXISTS canary_crash()")
    engine.dispose()


@pytest.fixture
def traps(flow_db: str) -> Iterator[Callable[[str], None]]:
    yield lambda marker: _install_faults(flow_db, marker)
    _remove_faults(flow_db)


@pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)
def test_no_personal_data_in_any_error(
    flow_db: str,
    prefect_harness: str,
    cli: Cli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    fault_log_dir: Path,
    traps: Callable[[str], None],
) -> None:
    from flows.intake import IntakeCrashed
    from storage.errors import Fault

    marker = f"CANARY{uuid.uuid4().hex[:12].upper()}"
    monkeypatch.setenv("ORDERWATCH_TODAY", "2026-11-20")
    so = ("so", "register", "--order-date", "2026-01-15", "--notified-on", "2026-01-16", "--actor", "sw1")
    assert cli(*so, "--case", "SO-E0", "--child", f"{marker}-child").rc == 0
    traps(marker)
    said: list[str] = []

    def refused(*argv: str, rc: int = 2) -> None:
        ran = cli(*argv)
        said.extend([ran.out, ran.err])
        assert ran.rc == rc, (argv, ran.err)

    refused(*so, "--case", "SO-E1", "--child", marker * 6)  # over-long
    refused(*so, "--case", "SO-E1", "--child", f"{marker}\x00")  # NUL byte in the identifier
    refused("fire", "SO-E0", "allocate_iro", "--actor", "su1", "--set", "iro=iro1", f"note={marker}\x00")
    refused("fire", "SO-E0", "discharge", "--actor", "legal1", "--set", f"note={marker}\x00")  # NUL in free text
    refused(*so, "--case", "SO-E2", "--child", f"{marker}-child")  # integrity error: the same child again
    refused(*so, "--case", "SO-E3", "--child", f"{marker}-CRASH", rc=1)  # a database fault quoting the marker
    refused("fire", "SO-E0", "discharge", "--actor", "legal1", "--set", f"note={marker} why", rc=1)

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    monkeypatch.setenv("ORDERWATCH_INBOX", str(inbox))
    item = {"order_date": "2026-03-02", "notified_on": "2026-03-03", "actor": "sw1"}
    (inbox / "errors.json").write_text(json.dumps([
        {**item, "case": "SO-I1", "child": f"{marker}-intake"},
        {**item, "case": "SO-I2", "child": marker * 6},
        {**item, "case": "SO-I3", "child": f"{marker}\u0000"},
        {**item, "case": "SO-I4", "child": f"{marker}-child"},
        {**item, "case": "SO-I5", "child": f"{marker}-CRASH"},
        {**item, "case": "SO-I6", "child": f"{marker}-later"},
    ]))  # fmt: skip
    with pytest.raises(IntakeCrashed) as crashed:
        intake_supervision_orders(batch="errors.json")
    said.append(str(crashed.value))
    result = json.loads((inbox / "processed" / "errors.json.result.json").read_text())
    assert result["status"] == "crashed" and result["registered"] == ["SO-I1"] and result["unprocessed"] == 2
    assert [r["case"] for r in result["refused"]] == ["SO-I2", "SO-I3", "SO-I4"]
    assert (inbox / "errors.json").exists()  # left to be run again
    _remove_faults(flow_db, ("cases",), index=False)
    again = intake_supervision_orders(batch="errors.json")  # SO-I1 answered from its request id, not twice
    assert again == {"registered": ["SO-I1", "SO-I5", "SO-I6"], "refused": ["SO-I2", "SO-I3", "SO-I4"]}
    (inbox / "broken.json").write_text(f'{{"child": "{marker}"')
    with pytest.raises(RefusedByRules, match="not a JSON list: moved to quarantine"):
        intake_supervision_orders(batch="broken.json")
    assert json.loads((inbox / "quarantine" / "broken.json.result.json").read_text())["status"] == "quarantined"

    with pytest.raises(Fault) as fault:  # through Prefect: a manual event, then the sweep, fail on the database
        record_event(case_ref="SO-E0", event="discharge", actor="legal1", on=date(2026, 2, 2))
    said.append(str(fault.value))
    with pytest.raises(Fault):
        daily_sweep(as_of=date(2026, 3, 2))

    EventsWorker.drain_all()
    APILogWorker.drain_all()
    logged = capsys.readouterr()
    stored = _prefect_text(prefect_harness)
    assert "SO-E0" in stored and "intake-so-errors.json" in stored  # the search looks where the runs are
    for name, chunk in (("prefect", stored), ("out", logged.out), ("err", logged.err),
                        ("caplog", caplog.text), ("said", "\n".join(said))):  # fmt: skip
        at = chunk.find(marker)
        assert at < 0, (name, chunk[max(0, at - 1500) : at + 200])
    log = fault_log_dir / "faults.log"
    assert marker in log.read_text()  # the detail is kept, locally, for its owner
    assert log.stat().st_mode & 0o777 == 0o600 and log.parent.stat().st_mode & 0o777 == 0o700
