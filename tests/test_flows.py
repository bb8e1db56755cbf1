"""The Prefect flows, run for real under one session-wide test server, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.sorting import ArtifactSort
from prefect.events.worker import EventsWorker
from prefect.utilities.callables import parameter_schema
from sqlalchemy.exc import OperationalError

from flows.intake import intake_cp_iso, intake_supervision_orders
from flows.manual import escalation_action, record_event
from flows.report import caseload_report, notify_escalation
from flows.runtime import RefusedByRules, transient_database_error
from flows.sweep import daily_sweep
from machines.supervision_order import SORegistration
from storage.casebook import Casebook
from storage.commands import Register
from storage.db import make_engine
from tests.conftest import FIXED_NOW, Cli


def _register(cli: Cli, ref: str = "SO-1", notified: str = "2026-01-16") -> None:
    ran = cli("so", "register", "--case", ref, "--child", f"C-{ref}", "--order-date", "2026-01-15",
              "--notified-on", notified, "--social-worker", "sw1", "--actor", "sw1")  # fmt: skip
    assert ran.rc == 0, ran.err


def _artifact(key: str) -> Any:
    with get_client(sync_client=True) as client:
        # Newest first: the server is shared by every test of the session (both databases).
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])), sort=ArtifactSort.CREATED_DESC, limit=1
        )
    assert found, f"no artifact {key}"
    return found[0]


def _events(prefix: str, resource: str, at_least: int = 1) -> list[dict[str, Any]]:
    """Events the server has stored (it stores them a moment after they are emitted: poll a little)."""
    EventsWorker.drain_all()
    query = {"filter": {"event": {"prefix": [prefix]}, "resource": {"id": [resource]}, "order": "ASC"}, "limit": 50}
    events: list[dict[str, Any]] = []
    for _ in range(40):
        with get_client(sync_client=True) as client:
            response = client._client.post("/events/filter", json=query)
        response.raise_for_status()
        events = response.json()["events"]
        if len(events) >= at_least:
            break
        time.sleep(0.25)
    return events


def test_the_sweep_fires_in_batches_publishes_artifacts_and_events(flow_db: str, cli: Cli) -> None:
    for n in range(3):
        _register(cli, f"SO-{n}")
    first = daily_sweep(as_of=date(2026, 2, 2), batch_size=2)
    # each case: iro_allocation (due 01-23) and case_summary (due 01-30) missed, escalations' acknowledgements too
    assert first["missed"]["iro_allocation"] == 3 and first["missed"]["case_summary"] == 3
    assert first["escalations_by_reason"] == {"missed:case_summary": 3, "missed:iro_allocation": 3}
    assert first["batches"] == 2  # 3 cases, 2 per batch: never a task run per case
    again = daily_sweep(as_of=date(2026, 2, 2), batch_size=2)
    assert again["passed"] == 0  # idempotent for the same day
    summary = _artifact("orderwatch-sweep-summary")
    assert summary.type == "markdown" and "Sweep as of 2026-02-02" in summary.data
    worklist = _artifact("orderwatch-worklist")
    assert worklist.type == "table"
    raised = _events("orderwatch.escalation.raised", "orderwatch.case.SO-0", at_least=2)
    assert {e["payload"]["reason"] for e in raised} >= {"missed:iro_allocation", "missed:case_summary"}
    missed = _events("orderwatch.deadline.missed", "orderwatch.case.SO-0", at_least=2)
    assert any(e["payload"]["deadline"] == "iro_allocation" for e in missed)


def test_the_sweep_catches_up_after_days_without_one(flow_db: str, cli: Cli) -> None:
    _register(cli)
    cli("fire", "SO-1", "allocate_iro", "--actor", "su1", "--on", "2026-01-20", "--set", "iro=iro1")
    result = daily_sweep(as_of=date(2027, 1, 20))  # a year unswept: first CIN missed ... order expired
    assert result["timers"] == {"order_expiry": 1}
    assert cli("show", "SO-1").json["state"] == "expired"


def test_a_manual_event_moves_the_case_and_names_its_run(flow_db: str, cli: Cli) -> None:
    _register(cli)
    state = record_event(case_ref="SO-1", event="allocate_iro", actor="su1", on=date(2026, 1, 20), iro="iro1",
                         return_state=True)  # fmt: skip
    assert state.is_completed()
    assert cli("show", "SO-1").json["state"] == "awaiting_first_cin"
    with get_client(sync_client=True) as client:
        run = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id]))
        )[0]
    assert run.name == "SO-1-allocate_iro"
    history = cli("history", "SO-1").json
    assert history[-1]["source"].startswith("manual:flow-run/")


def test_a_refused_manual_event_fails_the_run_with_the_rule_and_changes_nothing(flow_db: str, cli: Cli) -> None:
    _register(cli)
    before = cli("show", "SO-1").json
    with pytest.raises(RefusedByRules, match="hold_review is not allowed when case SO-1 is registered"):
        record_event(case_ref="SO-1", event="hold_review", actor="iro1", on=date(2026, 1, 20), outcome="extend")
    with pytest.raises(RefusedByRules, match="allocate_iro takes no outcome"):
        record_event(case_ref="SO-1", event="allocate_iro", actor="su1", on=date(2026, 1, 20), iro="iro1",
                     outcome="extend")  # fmt: skip
    assert cli("show", "SO-1").json == before


def test_escalation_actions_from_the_ui(flow_db: str, cli: Cli) -> None:
    _register(cli)
    cli("sweep", "--as-of", "2026-01-24")  # iro_allocation missed on 01-24: ESC-1 to the safeguarding unit manager
    esc = cli("show", "SO-1").json["escalations"][0]["id"]
    acknowledged = escalation_action(escalation=esc, action="acknowledge", actor="sum1", on=date(2026, 1, 26))
    assert acknowledged["to"] == "acknowledged"
    resolved = escalation_action(escalation=esc, action="resolve", actor="sum1", on=date(2026, 1, 27),
                                 resolution="actions_completed")  # fmt: skip
    assert resolved["to"] == "resolved"
    with pytest.raises(RefusedByRules, match="a resolution is given with resolve"):
        escalation_action(escalation=esc, action="acknowledge", actor="sum1", resolution="no_further_action")


def test_the_custom_run_form_gets_dropdowns() -> None:
    schema = parameter_schema(record_event).model_dump()
    definitions = schema["definitions"]
    events = definitions["CaseEvent"]["enum"]
    assert "allocate_iro" in events and "hold_review" in events
    assert "fail_quality_check" not in events  # needs free text: recorded with the CLI, never a Prefect parameter
    assert "progress_check" not in events  # a timer
    outcome = json.dumps(definitions["Outcome"])  # the outcome field's dropdown: every outcome of the specs
    assert "inconclusive" in outcome and "supervision_order" in outcome
    assert "Outcome" in json.dumps(schema["properties"]["outcome"])
    action = parameter_schema(escalation_action).model_dump()["properties"]["action"]
    assert action["enum"] == ["acknowledge", "escalate", "resolve"]


def test_intake_registers_a_batch_and_keeps_refusals_on_orderwatchs_side(
    flow_db: str, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORDERWATCH_INBOX", str(tmp_path))
    (tmp_path / "so-batch.json").write_text(json.dumps([
        {"case": "SO-10", "child": "C-10", "order_date": "2026-01-15", "notified_on": "2026-01-16", "actor": "sw1"},
        {"case": "SO-11", "child": "C-11", "order_date": "2026-02-30", "actor": "sw1"},
    ]))  # fmt: skip
    result = intake_supervision_orders(batch="so-batch.json")
    assert result == {"registered": ["SO-10"], "refused": ["SO-11"]}
    reasons = json.loads((tmp_path / "processed" / "so-batch.json.result.json").read_text())
    assert "not a real date" in reasons["refused"][0]["reason"]
    (tmp_path / "cp-batch.json").write_text(json.dumps([
        {"case": "CP-10", "child": "C-20", "iso_date": "2026-03-02", "next_review": "2026-05-01",
         "icpc": "2026-02-10", "actor": "cpc1"},
    ]))  # fmt: skip
    assert intake_cp_iso(batch="cp-batch.json") == {"registered": ["CP-10"], "refused": []}
    assert cli("show", "CP-10").json["state"] == "iso_granted"
    with pytest.raises(RefusedByRules, match="must be a file name"):
        intake_cp_iso(batch="../etc/passwd")


def test_the_report_and_the_notification(flow_db: str, cli: Cli, book_on_flow_db: Casebook) -> None:
    _register(cli)
    cli("sweep", "--as-of", "2026-01-24")
    report = caseload_report(as_of=date(2026, 1, 24))
    assert report["cases"] == 1 and report["open escalations"] == 1
    assert "Caseload as of 2026-01-24" in _artifact("orderwatch-caseload").data
    # the outbox already holds the escalation's notice (written with the sweep); the flow adds nothing twice
    notified = notify_escalation(case_ref="SO-1", escalation_no=1, raised_to="safeguarding_unit_manager")
    assert notified["notified"] == 1
    again = notify_escalation(case_ref="SO-1", escalation_no=1, raised_to="safeguarding_unit_manager")
    assert again["notified"] == 1
    notes = [n for n in book_on_flow_db.notifications() if n.kind != "entered_on_your_behalf"]
    assert [(n.kind, n.recipient, n.role) for n in notes] == [
        ("registration", "su1", "safeguarding_unit"), ("escalation", "sum1", "safeguarding_unit_manager")]  # fmt: skip


def test_retries_only_on_transient_database_errors() -> None:
    class _State:
        def __init__(self, exc: BaseException | None) -> None:
            self.exc = exc

        def result(self) -> None:
            if self.exc is not None:
                raise self.exc

    assert transient_database_error(None, None, _State(OperationalError("select 1", {}, Exception("gone"))))
    assert not transient_database_error(None, None, _State(RefusedByRules("no")))
    assert not transient_database_error(None, None, _State(None))


@pytest.fixture
def book_on_flow_db(flow_db: str) -> Iterator[Casebook]:
    engine = make_engine(flow_db)
    yield Casebook(engine, clock=lambda: FIXED_NOW)
    engine.dispose()


def test_registration_through_the_casebook_is_visible_to_flows(
    flow_db: str, cli: Cli, book_on_flow_db: Casebook
) -> None:
    book_on_flow_db.handle(
        Register(actor="sw1", registration=SORegistration("SO-77", "C-77", date(2026, 1, 15)), on=date(2026, 1, 16))
    )
    assert caseload_report(as_of=date(2026, 1, 16))["cases"] == 1


def test_intake_refuses_a_case_opened_in_the_future_as_the_cli_does(
    flow_db: str, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORDERWATCH_INBOX", str(tmp_path))
    monkeypatch.setenv("ORDERWATCH_TODAY", "2026-03-01")
    (tmp_path / "so.json").write_text(json.dumps([
        {"case": "SO-F", "child": "C-F", "order_date": "2026-02-01", "notified_on": "2026-03-02", "actor": "sw1"},
    ]))  # fmt: skip
    (tmp_path / "cp.json").write_text(json.dumps([
        {"case": "CP-F", "child": "C-G", "iso_date": "2026-03-05", "next_review": "2026-05-01",
         "icpc": "2026-02-10", "actor": "cpc1"},
    ]))  # fmt: skip
    assert intake_supervision_orders(batch="so.json") == {"registered": [], "refused": ["SO-F"]}
    assert intake_cp_iso(batch="cp.json") == {"registered": [], "refused": ["CP-F"]}
    reasons = [json.loads((tmp_path / "processed" / f"{b}.result.json").read_text())["refused"][0]["reason"]
               for b in ("so.json", "cp.json")]  # fmt: skip
    assert reasons == ["notified_on 2026-03-02 is in the future (today is 2026-03-01)",
                       "iso_date 2026-03-05 is in the future (today is 2026-03-01)"]  # fmt: skip
    ran = cli("so", "register", "--case", "SO-F", "--child", "C-F", "--order-date", "2026-02-01", "--notified-on",
              "2026-03-02", "--actor", "sw1")  # fmt: skip
    assert ran.rc == 2 and "is in the future" in ran.json["error"]


def test_a_refused_event_ends_its_run_failed_naming_what_is_allowed_now(flow_db: str, cli: Cli) -> None:
    _register(cli)
    state = record_event(case_ref="SO-1", event="hold_review", actor="iro1", on=date(2026, 1, 20), outcome="extend",
                         return_state=True)  # fmt: skip
    assert state.is_failed()
    assert state.message == ("hold_review is not allowed when case SO-1 is registered; "
                             "allowed now (registered): allocate_iro, change_social_worker, discharge, issue_minutes, "
                             "record_case_summary, record_support_plan")  # fmt: skip
    esc = escalation_action(escalation="ESC-99", action="acknowledge", actor="su1", return_state=True)
    assert esc.is_failed() and "allowed now" not in (esc.message or "")  # no such escalation: nothing to name


def _run_name(state: Any) -> str:
    with get_client(sync_client=True) as client:
        run = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id]))
        )[0]
    return str(run.name)


def test_runs_started_by_hand_are_named_for_today(flow_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import pendulum

    today = pendulum.now("Europe/London").date().isoformat()
    assert _run_name(caseload_report(return_state=True)) == f"report-{today}"
    assert _run_name(daily_sweep(return_state=True)) == f"sweep-{today}"


def test_the_sweep_records_its_run_and_says_it_completed(flow_db: str, cli: Cli) -> None:
    from storage.opsbook import Operations

    _register(cli)
    state = daily_sweep(as_of=date(2026, 2, 2), return_state=True)
    assert state.is_completed()
    engine = make_engine(flow_db)
    try:
        (run,) = Operations(engine, clock=lambda: FIXED_NOW).sweep_runs()
    finally:
        engine.dispose()
    assert (run.flow_run_id, run.flow_run_name, run.status) == (str(state.state_details.flow_run_id),
                                                                "sweep-2026-02-02", "completed")  # fmt: skip
    assert (run.as_of, run.deadlines_passed, run.cases, run.batches) == (date(2026, 2, 2), 3, 1, 1)
    mine = f"prefect.flow-run.{run.flow_run_id}"
    for _ in range(40):  # the server is the session's: earlier tests' events are there too; wait for this run's
        done = _events("orderwatch.sweep.completed", "orderwatch.sweep.2026-02-02")
        if mine in {r["prefect.resource.id"] for e in done for r in e["related"]}:
            break
        time.sleep(0.25)
    assert mine in {r["prefect.resource.id"] for e in done for r in e["related"]}
