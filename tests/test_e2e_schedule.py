"""The schedule fires (issue 9, item 1): Prefect's scheduler → a worker → the flow, with nobody pressing anything.

A real ``prefect server`` started as ``orderwatch up`` starts it, with the scheduler's loop shortened (5 s) and its
look-ahead widened (240 days, so a date in British Summer Time is reached whatever the day), ``prefect.yaml``
deployed, and a worker started through ``orderwatch worker``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pendulum
import pytest
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterExpectedStartTime,
    FlowRunFilterTags,
)
from prefect.client.schemas.objects import FlowRun
from prefect.client.schemas.schedules import IntervalSchedule

from storage.db import make_engine
from storage.opsbook import Operations
from tests.e2e_stack import Stack, running_stack, wait_for

pytestmark = pytest.mark.e2e

LONDON = "Europe/London"
SCHEDULER = {
    "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "5",
    # the scheduler fills at least min_scheduled_time ahead (then stops: min_runs is only a floor)
    "PREFECT_SERVER_SERVICES_SCHEDULER_MIN_SCHEDULED_TIME": "P240D",
    "PREFECT_SERVER_SERVICES_SCHEDULER_MAX_SCHEDULED_TIME": "P240D",
    "PREFECT_SERVER_SERVICES_SCHEDULER_MAX_RUNS": "300",
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("e2e-schedule"), SCHEDULER) as running:
        yield running


def _first_day(utc_offset_hours: int) -> date:
    """The first day from tomorrow on which London is ``utc_offset_hours`` ahead of UTC (0: GMT, 1: BST)."""
    day = pendulum.now(LONDON).date() + timedelta(days=1)
    while pendulum.datetime(day.year, day.month, day.day, 12, tz=LONDON).utcoffset() != timedelta(
        hours=utc_offset_hours
    ):
        day += timedelta(days=1)
    return date(day.year, day.month, day.day)


def _runs(stack: Stack, deployment: str, **filters: Any) -> list[FlowRun]:
    with stack.client() as client:
        found = client.read_deployment_by_name(deployment)
        return client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[found.id])),
            flow_run_filter=FlowRunFilter(**filters),
            limit=200,
        )


def _starts_on(stack: Stack, deployment: str, day: date) -> set[datetime]:
    midnight = datetime.combine(day, time(0), UTC)
    window = FlowRunFilterExpectedStartTime.model_validate(
        {"after_": midnight, "before_": midnight + timedelta(days=1)}
    )
    return {
        r.expected_start_time for r in _runs(stack, deployment, expected_start_time=window) if r.expected_start_time
    }


@pytest.mark.parametrize(
    ("deployment", "hour", "minute"), [("daily-sweep/daily-sweep", 6, 30), ("caseload-report/caseload-report", 7, 0)]
)
def test_scheduled_runs_are_at_london_time_in_gmt_and_in_bst(
    stack: Stack, deployment: str, hour: int, minute: int
) -> None:
    gmt, bst = _first_day(0), _first_day(1)  # e.g. 2026-11-27 and 2027-03-28 when run in November 2026
    in_gmt = datetime.combine(gmt, time(hour, minute), UTC)  # 06:30 London = 06:30 UTC
    in_bst = datetime.combine(bst, time(hour - 1, minute), UTC)  # 06:30 London = 05:30 UTC
    wait_for(f"{deployment} runs on {gmt} and {bst}", lambda: in_bst in _starts_on(stack, deployment, bst), 90)
    assert _starts_on(stack, deployment, gmt) == {in_gmt}
    assert _starts_on(stack, deployment, bst) == {in_bst}
    scheduled = _runs(stack, deployment, tags=FlowRunFilterTags(all_=["auto-scheduled"]))
    assert all(r.state is not None and r.state.is_scheduled() for r in scheduled)


def test_a_schedule_due_now_runs_to_completion_with_nobody_pressing_anything(stack: Stack) -> None:
    """A test-only schedule on the real daily-sweep deployment (hourly, the first one 20 s away): the scheduler
    creates the run, the worker takes it, the sweep completes and records itself."""
    anchor = pendulum.now("UTC").add(seconds=20).replace(microsecond=0)
    with stack.client() as client:
        deployment = client.read_deployment_by_name("daily-sweep/daily-sweep")
        (added,) = client.create_deployment_schedules(
            deployment.id, [(IntervalSchedule(interval=timedelta(hours=1), anchor_date=anchor, timezone=LONDON), True)]
        )
    try:
        first = FlowRunFilterExpectedStartTime.model_validate({"after_": anchor, "before_": anchor})

        def completed() -> FlowRun | None:
            runs = _runs(stack, "daily-sweep/daily-sweep", expected_start_time=first)
            return next((r for r in runs if r.state is not None and r.state.is_completed()), None)

        run = wait_for("the scheduled sweep to complete", completed, timeout=150, every=2)
    finally:
        with stack.client() as client:
            client.delete_deployment_schedule(deployment.id, added.id)
    assert "auto-scheduled" in run.tags and run.auto_scheduled
    day = anchor.in_timezone(LONDON).date()
    assert run.name == f"sweep-{day.isoformat()}"
    engine = make_engine(stack.db)
    try:
        recorded = {r.flow_run_id: r for r in Operations(engine, clock=lambda: datetime.now(UTC)).sweep_runs()}
    finally:
        engine.dispose()
    assert recorded[str(run.id)].status == "completed" and recorded[str(run.id)].as_of.isoformat() == str(day)


def test_status_is_all_well_after_the_scheduled_morning(stack: Stack) -> None:
    stack.orderwatch("people", "add", "op1", "--role", "operator")
    # removing the previous test's schedule makes Prefect drop the deployment's future runs; its scheduler makes
    # them again on its next loop (seconds here), and until then status rightly says no sweep is scheduled
    report = wait_for("status to be all well", lambda: _all_well(stack.orderwatch("status", rc=None)), 90, every=3)
    assert report["problems"] == [] and report["ok"] is True, "\n".join(report["problems"])
    assert report["worker"]["online"] == 1
    assert report["next_sweep"]["expected_start"] is not None
    assert report["last_sweep"]["as_of"] == pendulum.now(LONDON).date().isoformat()
    screen = stack.orderwatch_text("status")
    assert screen.splitlines()[-1] == "all is well" and "last sweep       completed" in screen


def test_no_prefect_service_wrote_a_traceback(stack: Stack) -> None:
    """Issue 9: the scheduler failed every cycle with a traceback in server.log and nothing else said so."""
    assert stack.tracebacks() == []
    assert "Traceback" not in stack.server_log()


def _all_well(report: dict[str, Any]) -> dict[str, Any] | None:
    return report if report["ok"] else None
