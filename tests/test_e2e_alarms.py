"""The alarm when the morning does not happen (issue 9, item 2), on a real server, worker and Automations.

Both paths end with the Prefect event stored and a notification row for each operator; the delay from the alarm's
deadline (or the failure) to the notification is measured and printed (``pytest -s`` shows it).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pendulum
import pytest
from prefect.client.schemas.actions import WorkQueueUpdate
from prefect.client.schemas.objects import FlowRun

from cli.up import ROOT
from flows.alarms import FAILED_AUTOMATION, MISSED_AUTOMATION
from storage.db import make_engine
from storage.operations import Notification
from storage.opsbook import Operations
from tests.e2e_stack import Stack, running_stack, wait_for

pytestmark = pytest.mark.e2e

LONDON = "Europe/London"
OPERATORS = ["op1", "op2"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # heartbeats every 10 s: a dead worker is seen offline after 30 s (3 missed heartbeats)
    with running_stack(tmp_path_factory.mktemp("e2e-alarms"), {"PREFECT_WORKER_HEARTBEAT_SECONDS": "10"}) as running:
        for user in OPERATORS:
            running.orderwatch("people", "add", user, "--role", "operator")
        yield running


def _alarms(stack: Stack, reason: str) -> list[Notification]:
    engine = make_engine(stack.db)
    try:
        found = Operations(engine, clock=lambda: datetime.now(UTC)).notifications(kind="alarm")
    finally:
        engine.dispose()
    return [n for n in found if n.reason == reason]


def _events(stack: Stack, name: str, since: datetime) -> list[dict[str, Any]]:
    query = {"filter": {"event": {"name": [name]}, "occurred": {"since": since.isoformat()}}, "limit": 50}
    with stack.client() as client:
        response = client._client.post("/events/filter", json=query)
    response.raise_for_status()
    events: list[dict[str, Any]] = response.json()["events"]
    return events


def _triggered(stack: Stack, automation: str, since: datetime) -> list[dict[str, Any]]:
    return [e for e in _events(stack, "prefect.automation.triggered", since)
            if e["resource"].get("prefect.resource.name") == automation]  # fmt: skip


def _sweep_run(stack: Stack, **kwargs: Any) -> FlowRun:
    today = pendulum.now(LONDON).date().isoformat()
    with stack.client() as client:
        deployment = client.read_deployment_by_name("daily-sweep/daily-sweep")
        return client.create_flow_run_from_deployment(deployment.id, parameters={"as_of": today}, **kwargs)


def test_a_failed_sweep_tells_the_operators_at_once(stack: Stack) -> None:
    since = datetime.now(UTC)
    # the database the sweep needs is down (nothing listens on port 1): the run fails at its first write
    run = _sweep_run(stack, job_variables={"env": {"ORDERWATCH_DATABASE_URL": "postgresql://ow@127.0.0.1:1/none"}})

    def failed() -> FlowRun | None:
        with stack.client() as client:
            found = client.read_flow_run(run.id)
        return found if found.state is not None and found.state.is_final() else None

    ended = wait_for("the sweep run to end", failed, timeout=90)
    assert ended.state is not None and ended.state.is_failed()
    notes = wait_for("the operators' notifications", lambda: _alarms(stack, "sweep-failed"), timeout=90)
    assert sorted(n.recipient for n in notes) == OPERATORS
    assert f"daily sweep run {ended.name} ended Failed" in notes[0].subject
    assert ended.state.timestamp is not None
    delay = (notes[0].created_at - ended.state.timestamp).total_seconds()
    print(f"\nsweep failed at {ended.state.timestamp:%H:%M:%S}; operators notified {delay:.1f} s later")
    assert 0 < delay < 90
    assert wait_for("the alarm event", lambda: _events(stack, "orderwatch.alarm.sweep-failed", since), 30)
    assert _triggered(stack, FAILED_AUTOMATION, since)


def test_a_sweep_that_never_completes_tells_the_operators_at_the_deadline(stack: Stack) -> None:
    """The deadline 40 s away, a window of 60 s (through the configuration), and today's sweep run waiting in a
    paused work queue — Late, never taken. The Automation fires at the deadline with nobody pressing anything."""
    since = datetime.now(UTC)
    deadline = pendulum.now(LONDON).add(seconds=40).replace(microsecond=0)
    stack.env.update(
        {"ORDERWATCH_SWEEP_ALARM_AT": deadline.strftime("%H:%M:%S"), "ORDERWATCH_SWEEP_ALARM_WINDOW": "60"}
    )
    applied = subprocess.run([sys.executable, "-m", "flows.automations"], env=stack.env, cwd=ROOT, text=True,
                             capture_output=True, timeout=120)  # fmt: skip
    assert f"updated: {MISSED_AUTOMATION}" in applied.stdout, applied.stdout + applied.stderr
    with stack.client() as client:
        held = client.create_work_queue(name="held", work_pool_name="orderwatch")
        client.update_work_queue(held.id, **WorkQueueUpdate(is_paused=True).model_dump(exclude_unset=True))
    stuck = _sweep_run(stack, work_queue_name="held")
    stack.stop_worker()
    stack.start_worker()  # announces today's morning with the new settings, as `orderwatch up` would
    notes = wait_for("the operators' notifications", lambda: _alarms(stack, "sweep-missed"), timeout=120)
    assert sorted(n.recipient for n in notes) == OPERATORS
    day = deadline.date().isoformat()
    assert notes[0].subject.startswith(f"no daily sweep completed for {day} by {deadline:%Y-%m-%d %H:%M} London")
    assert f"run {stuck.name} is Late: no worker took it" in notes[0].subject
    delay = (notes[0].created_at - deadline).total_seconds()
    print(f"\nalarm deadline {deadline:%H:%M:%S} London; operators notified {delay:.1f} s later")
    assert 0 <= delay < 60
    assert wait_for("the alarm event", lambda: _events(stack, "orderwatch.alarm.sweep-missed", since), 30)
    fired = _triggered(stack, MISSED_AUTOMATION, since)
    assert fired and fired[0]["payload"]["triggering_labels"] == {"prefect.resource.id": f"orderwatch.sweep.{day}"}


def test_a_repeated_alarm_notifies_once(stack: Stack) -> None:
    before = {n.id for n in _alarms(stack, "sweep-missed")}
    first = next(iter(_alarms(stack, "sweep-missed")))
    day = first.subject.split(" for ", 1)[1].split(" ", 1)[0]
    with stack.client() as client:
        alarm = client.read_deployment_by_name("operator-alarm/operator-alarm")
        run = client.create_flow_run_from_deployment(
            alarm.id, parameters={"kind": "sweep-missed", "day": day, "deadline": datetime.now(UTC).isoformat()}
        )

    def done() -> FlowRun | None:
        with stack.client() as client:
            found = client.read_flow_run(run.id)
        return found if found.state is not None and found.state.is_final() else None

    assert wait_for("the repeated alarm run", done, timeout=90).state.is_completed()  # type: ignore[union-attr]
    assert {n.id for n in _alarms(stack, "sweep-missed")} == before


def test_status_says_what_needs_attention(stack: Stack) -> None:
    def late_seen() -> dict[str, Any] | None:  # the late-runs service marks the held run Late within seconds
        found: dict[str, Any] = stack.orderwatch("status", rc=1)
        return found if any("is Late" in p for p in found["problems"]) else None

    report = wait_for("status to see the Late sweep", late_seen, timeout=60, every=3)
    problems = "\n".join(report["problems"])
    assert "the sweep is behind" in problems
    assert "(daily-sweep, Failed)" in problems
    assert "is Late (due, not taken by any worker)" in problems
    assert {a["reason"] for a in report["alarms"]} == {"sweep-failed", "sweep-missed"}
    stack.kill_worker()
    report = wait_for("the worker to be seen offline", lambda: _offline(stack), timeout=90, every=3)
    assert report["worker"]["online"] == 0
    screen = stack.orderwatch_text("status", rc=1)
    assert "needs attention:" in screen and "! no worker is online in the pool orderwatch" in screen


def _offline(stack: Stack) -> dict[str, Any] | None:
    report: dict[str, Any] = stack.orderwatch("status", rc=1)
    return report if any("no worker is online" in p for p in report["problems"]) else None


def test_no_prefect_service_wrote_a_traceback(stack: Stack) -> None:
    assert stack.tracebacks() == []


def test_the_alarm_window_is_at_the_configured_time_every_day() -> None:
    from datetime import date, time

    from storage.config import SweepAlarm

    alarm = SweepAlarm(time(7, 30), timedelta(hours=1))
    assert alarm.deadline(date(2026, 12, 1)) == datetime(2026, 12, 1, 7, 30, tzinfo=UTC)
    assert alarm.deadline(date(2027, 4, 1)) == datetime(2027, 4, 1, 6, 30, tzinfo=UTC)
    assert alarm.opens(date(2027, 3, 28)) == datetime(2027, 3, 28, 5, 30, tzinfo=UTC)  # the day clocks go forward
    assert alarm.deadline(date(2026, 10, 25)) == datetime(2026, 10, 25, 7, 30, tzinfo=UTC)  # and back
