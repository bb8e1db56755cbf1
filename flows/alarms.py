"""The alarm when the morning does not happen: Prefect Automations, the events they watch, and the flow they run.

Design (Prefect 3.8.8, ``prefect/server/events/triggers.py``)
-------------------------------------------------------------
A *proactive* ``EventTrigger`` fires when fewer than ``threshold`` ``expect`` events arrive in a window of
``within`` seconds. Without ``after`` the windows run back to back from whenever the automation was loaded, so they
cannot be pinned to 07:30 London (and they drift, and restart with the server). With ``after``, each ``after``
event opens a window of its own that starts at the event's ``occurred`` time, one per ``for_each`` key — and the
sender sets ``occurred``. So:

- **orderwatch.sweep.expected** (resource ``orderwatch.sweep.<day>``) says "a sweep must complete for <day>"; its
  ``occurred`` is the window's opening (deadline − window, 06:30 London by default), so its window closes exactly
  at the deadline (07:30 London, right across DST: the instant is worked out per day). These are emitted ahead, for
  the next two mornings, by every completed sweep of the day, by ``orderwatch worker`` (and so ``orderwatch up``)
  at start, and by this module's alarm flow — a chain that renews itself and does not depend on Prefect's
  scheduler.
- **orderwatch.sweep.completed** (the same resource) is emitted by the sweep flow when it has finished.
- Automation **"orderwatch alarm: no sweep completed by the deadline"**: proactive, ``after`` expected,
  ``expect`` completed, ``for_each`` the resource id (a window per day), threshold 1, ``within`` the window. A
  completed sweep in the window satisfies it; otherwise it fires when the window closes. It catches every way the
  morning can fail, because it watches the result, not the machinery: no run created (the scheduler broken, as in
  issue 9), the run Late because no worker took it, the run stuck Running, the run Failed or Crashed, the server
  down at 07:30 (it fires as soon as the server is back: the window is stored in Prefect's database).
- Automation **"orderwatch alarm: a sweep run failed or crashed"**: reactive, on ``prefect.flow-run.Failed``,
  ``Crashed`` or ``TimedOut`` of a run of the ``daily-sweep`` deployment: the operators hear at once, not at 07:30.

Both run the ``operator-alarm`` deployment, which works out what happened (no run, Late, Running, Failed — from
Prefect's own record of the day's runs), raises an ``orderwatch.alarm.sweep-missed`` or ``…sweep-failed`` event
and records a notification for every person with the ``operator`` role, once per day (or per failed run) however
often it is raised. Prefect also records the automation's own ``prefect.automation.triggered`` event.

Limits, on purpose: a sweep completing *before* the window opens (a catch-up at 05:00) does not count — the 06:30
scheduled run still has to happen, and if it does not, the scheduler is broken and the alarm is right. Prefect
re-evaluates a proactive trigger every ``within`` seconds or at the end of a window it already knows of; a window
announced less than ``within`` before its end (``orderwatch worker`` started at 07:00) might be looked at late, so
:func:`expect_mornings` then asks the server to reload the automation. Recording a notification needs a worker (the
alarm flow runs on one): with no worker at all, the alarm's Prefect event is there at once and the notifications
are recorded when a worker next starts (``orderwatch status`` says no worker is online).
"""

from __future__ import annotations

import time as _time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

import pendulum
from prefect import flow, get_run_logger
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterExpectedStartTime,
)
from prefect.client.schemas.objects import FlowRun
from prefect.events import emit_event
from prefect.events.worker import EventsWorker
from prefect.runtime import flow_run as current_run

from flows.views import plural
from storage import clock
from storage.config import SweepAlarm, sweep_alarm
from storage.opsbook import Operations

__all__ = [
    "ALARM_EVENTS",
    "COMPLETED",
    "EXPECTED",
    "FAILED_AUTOMATION",
    "MISSED_AUTOMATION",
    "announce_completed",
    "expect_mornings",
    "operator_alarm",
]

EXPECTED = "orderwatch.sweep.expected"
COMPLETED = "orderwatch.sweep.completed"
ALARM_EVENTS = {"sweep-missed": "orderwatch.alarm.sweep-missed", "sweep-failed": "orderwatch.alarm.sweep-failed"}
MISSED_AUTOMATION = "orderwatch alarm: no sweep completed by the deadline"
FAILED_AUTOMATION = "orderwatch alarm: a sweep run failed or crashed"
SWEEP_DEPLOYMENT = "daily-sweep/daily-sweep"
AlarmKind = Literal["sweep-missed", "sweep-failed"]


def sweep_resource(day: date) -> dict[str, str]:
    return {"prefect.resource.id": f"orderwatch.sweep.{day.isoformat()}", "prefect.resource.name": f"sweep {day}"}


def _london(instant: datetime) -> str:
    return pendulum.instance(instant).in_timezone(clock.LONDON).strftime("%Y-%m-%d %H:%M")


def announce_completed(day: date, flow_run_id: str | None) -> None:
    """The sweep for ``day`` has completed: the missed-sweep alarm's window for that day is satisfied."""
    related = [{"prefect.resource.id": f"prefect.flow-run.{flow_run_id}", "prefect.resource.role": "flow-run"}]
    emit_event(event=COMPLETED, resource=sweep_resource(day), related=related if flow_run_id else None,
               payload={"day": day.isoformat()})  # fmt: skip


def expect_mornings(ops: Operations, now: datetime, alarm: SweepAlarm | None = None, days: int = 2) -> list[date]:
    """Announce the next ``days`` mornings (each opens its alarm window) but those whose sweep already completed
    inside their window — such a completion came before the window existed and would not be counted.

    Repeating an announcement is harmless (Prefect keeps the window it has). Two mornings, not a week: every
    announcement is a write on Prefect's embedded SQLite, and the chain renews itself (each completed sweep, each
    worker start and each alarm announces the next two). Returns the days announced.
    """
    alarm = alarm or sweep_alarm()
    mornings = alarm.mornings(now, days)
    completed = ops.completed_at(mornings)
    announced = [d for d in mornings if d not in completed or completed[d] < alarm.opens(d)]
    for day in announced:
        emit_event(event=EXPECTED, resource=sweep_resource(day), occurred=alarm.opens(day),
                   payload={"day": day.isoformat(), "deadline": alarm.deadline(day).isoformat(),
                            "deadline_london": _london(alarm.deadline(day))})  # fmt: skip
    if any(alarm.deadline(d) - now < alarm.window for d in announced):
        EventsWorker.drain_all()  # sent before the server is asked to look again
        _reload_missed_automation(announced[0], alarm)
    return announced


def _reload_missed_automation(day: date, alarm: SweepAlarm) -> None:
    """Make the server look at the missed-sweep trigger now: a window that closes sooner than ``within`` from now
    could otherwise wait for the trigger's next periodic look. Waits (up to 10 s) until the announcement is stored."""
    with get_client(sync_client=True) as client:
        automations = client.read_automations_by_name(MISSED_AUTOMATION)
        if not automations:
            return
        query = {
            "filter": {
                "event": {"name": [EXPECTED]},
                "resource": {"id": [sweep_resource(day)["prefect.resource.id"]]},
                "occurred": {
                    "since": (alarm.opens(day) - timedelta(seconds=1)).isoformat(),
                    "until": (alarm.opens(day) + timedelta(seconds=1)).isoformat(),
                },
            },
            "limit": 1,
        }
        for _ in range(40):
            response = client._client.post("/events/filter", json=query)
            if response.status_code == 200 and response.json()["events"]:
                break
            _time.sleep(0.25)
        for automation in automations:
            client.resume_automation(automation.id)  # an update: the triggers service reloads it and looks again


# -- the flow the alarm automations run ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Finding:
    """What Prefect's record says about a day's sweep: one line for the operator, and the runs it looked at."""

    reason: str
    runs: list[str]


def _day_runs(day: date, deadline: datetime) -> list[FlowRun]:
    start = pendulum.datetime(day.year, day.month, day.day, tz=clock.LONDON)
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(SWEEP_DEPLOYMENT)
        return client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])),
            flow_run_filter=FlowRunFilter(
                expected_start_time=FlowRunFilterExpectedStartTime.model_validate(
                    {"after_": start, "before_": deadline}
                )
            ),
        )


def diagnose(runs: list[FlowRun], now: datetime) -> Finding:
    """Why no sweep completed: the most telling state among the day's runs."""
    names = [f"{r.name} ({r.state.name if r.state else 'no state'})" for r in runs]
    by_type = {r.state.type.value if r.state else "NONE": r for r in runs}
    if not runs:
        return Finding("no run was created for the day (is Prefect's scheduler working?)", names)
    if "RUNNING" in by_type or "PENDING" in by_type:
        run = by_type.get("RUNNING") or by_type["PENDING"]
        since = run.start_time or run.expected_start_time or now
        return Finding(f"run {run.name} is still {run.state.name if run.state else 'running'} "
                       f"(since {_london(since)} London)", names)  # fmt: skip
    if "SCHEDULED" in by_type:
        run = by_type["SCHEDULED"]
        return Finding(f"run {run.name} is {run.state.name if run.state else 'Scheduled'}: no worker took it", names)
    for kind in ("CRASHED", "FAILED", "CANCELLED", "CANCELLING", "PAUSED"):
        if kind in by_type:
            run = by_type[kind]
            return Finding(f"run {run.name} ended {run.state.name if run.state else kind.title()}", names)
    return Finding("the day's runs completed outside the alarm window", names)


def _alarm_run_name() -> str:
    """``alarm-sweep-missed-<day>``, or ``alarm-sweep-failed-<the failed run's id, short>``."""
    params = current_run.get_parameters()
    about = params.get("day") or str(params.get("flow_run") or "run").removeprefix("prefect.flow-run.")[:8]
    return f"alarm-{params.get('kind')}-{about}"


@flow(name="operator-alarm", flow_run_name=_alarm_run_name)
def operator_alarm(
    kind: AlarmKind,
    day: date | None = None,
    deadline: datetime | None = None,
    flow_run: str | None = None,
    event: str | None = None,
) -> dict[str, Any]:
    """Tell the operators: a Prefect event, and a notification for each person with the ``operator`` role (once
    per day, or per failed run, however often the alarm is raised). Run by the alarm automations."""
    from flows.runtime import operations

    logger = get_run_logger()
    now = clock.now()
    ops = operations()
    related: list[dict[str, str]] = []
    if kind == "sweep-missed":
        if day is None or deadline is None:
            raise ValueError("a sweep-missed alarm names the day and its deadline")
        found = diagnose(_day_runs(day, deadline), now)
        subject = f"no daily sweep completed for {day} by {_london(deadline)} London: {found.reason}"
        key, resource_id = f"alarm:sweep-missed:{day}", f"orderwatch.alarm.sweep-missed.{day}"
        payload: dict[str, Any] = {"day": day.isoformat(), "deadline": deadline.isoformat(), "reason": found.reason,
                                   "runs": found.runs}  # fmt: skip
    else:
        if flow_run is None:
            raise ValueError("a sweep-failed alarm names the flow run")
        run_id = flow_run.removeprefix("prefect.flow-run.")
        with get_client(sync_client=True) as client:
            run = client.read_flow_run(run_id)  # type: ignore[arg-type]
        state = run.state.name if run.state else "Failed"
        ended = run.end_time or (run.state.timestamp if run.state else now)
        as_of = run.parameters.get("as_of") or (
            pendulum.instance(run.expected_start_time).in_timezone(clock.LONDON).date().isoformat()
            if run.expected_start_time
            else "?"
        )
        subject = f"daily sweep run {run.name} ended {state} at {_london(ended)} London (as of {as_of})"
        key, resource_id = f"alarm:sweep-failed:{run_id}:{event or state}", f"orderwatch.alarm.sweep-failed.{run_id}"
        related = [{"prefect.resource.id": f"prefect.flow-run.{run_id}", "prefect.resource.role": "flow-run"}]
        payload = {"flow_run": run_id, "run": run.name, "state": state, "as_of": str(as_of)}
    notified = ops.notify_operators(reason=kind, subject=subject, key=key, source=f"flow-run/{current_run.get_id()}")
    payload["operators_notified"] = len(notified)
    emit_event(event=ALARM_EVENTS[kind], resource={"prefect.resource.id": resource_id,
                                                   "prefect.resource.name": subject[:100]},
               related=related or None, payload=payload)  # fmt: skip
    if notified:
        logger.warning("alarm %s: %s; %s notified", kind, subject, plural(len(notified), "operator"))
    else:
        logger.error("alarm %s: %s; no one has the operator role (orderwatch people add USER --role operator)",
                     kind, subject)  # fmt: skip
    expect_mornings(ops, now)  # keep the next mornings watched even while the scheduler is broken
    return {"kind": kind, "subject": subject, "notified": [n.recipient for n in notified]}
