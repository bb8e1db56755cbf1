"""``orderwatch worker``: a Prefect worker for the ``orderwatch`` pool, started the way ``orderwatch up`` starts it.

Before it takes work it
1. announces the next mornings' sweeps to the missed-sweep alarm (:func:`flows.alarms.expect_mornings`), and
2. catches up after an outage: if the last completed sweep (orderwatch's ``sweep_runs``) is behind the day the
   ``daily-sweep`` schedule last fired for, it runs that deployment for today, named ``sweep-<today>-catch-up``
   (tag ``catch-up``) — unless a run for that day is already waiting (Scheduled or Late and due), Pending or
   Running. The sweep catches up every day it missed and is idempotent, so one run is enough.
Then it becomes ``prefect worker start --pool orderwatch --type process``.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal, NoReturn
from zoneinfo import ZoneInfo

import pendulum
from cronsim import CronSim
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterExpectedStartTime,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.client.schemas.responses import DeploymentResponse
from prefect.client.schemas.schedules import CronSchedule
from prefect.events.worker import EventsWorker

from cli.secure import api_access, prefect_api
from flows.sweep import CATCH_UP_TAG
from storage import clock
from storage.opsbook import Operations

__all__ = ["SWEEP_DEPLOYMENT", "CatchUp", "catch_up", "due_day", "run_day", "worker"]

SWEEP_DEPLOYMENT = "daily-sweep/daily-sweep"


@dataclass(frozen=True, slots=True)
class CatchUp:
    """What the catch-up check found, and did."""

    action: Literal["started", "not-needed", "already-waiting"]
    detail: str
    flow_run: str | None = None


def due_day(deployment: DeploymentResponse, now: datetime) -> date:
    """The London day of the latest time the deployment's cron schedule fired at or before ``now`` (today for a
    deployment without a schedule): the day a completed sweep should be as of."""
    for entry in deployment.schedules:
        if isinstance(entry.schedule, CronSchedule) and entry.active:
            tz = ZoneInfo(entry.schedule.timezone or "UTC")
            fired = next(CronSim(entry.schedule.cron, now.astimezone(tz) + timedelta(seconds=1), reverse=True))
            return pendulum.instance(fired).in_timezone(clock.LONDON).date()
    return pendulum.instance(now).in_timezone(clock.LONDON).date()


def run_day(run: FlowRun) -> date | None:
    """The day a sweep run sweeps for: its ``as_of``, else its scheduled London date."""
    given = run.parameters.get("as_of")
    if given:
        return date.fromisoformat(str(given))
    if run.expected_start_time is None:
        return None
    return pendulum.instance(run.expected_start_time).in_timezone(clock.LONDON).date()


def catch_up(client: SyncPrefectClient, ops: Operations, now: datetime, today: date) -> CatchUp:
    """Run the daily sweep for ``today`` if the last completed one is behind and nothing is about to do it."""
    deployment = client.read_deployment_by_name(SWEEP_DEPLOYMENT)
    due = due_day(deployment, now)
    last = ops.last_completed_sweep()
    if last is not None and last.as_of >= due:
        return CatchUp("not-needed", f"the last completed sweep is as of {last.as_of} (due: {due})")
    waiting = client.read_flow_runs(
        deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])),
        flow_run_filter=FlowRunFilter(
            state=FlowRunFilterState(
                type=FlowRunFilterStateType(any_=[StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING])
            ),
            expected_start_time=FlowRunFilterExpectedStartTime.model_validate({"before_": now + timedelta(minutes=1)}),
        ),
    )
    for run in waiting:
        day = run_day(run)
        if day is not None and day >= due:
            state = run.state.name if run.state else "waiting"
            return CatchUp("already-waiting", f"run {run.name} ({state}) will sweep as of {day}", run.name)
    behind = f"as of {last.as_of}" if last else "none yet"
    created = client.create_flow_run_from_deployment(
        deployment.id, parameters={"as_of": today.isoformat()}, tags=[CATCH_UP_TAG],
        name=f"sweep-{today.isoformat()}-{CATCH_UP_TAG}",
    )  # fmt: skip
    return CatchUp("started", f"last completed sweep {behind}, due {due}: catch-up run {created.name}", created.name)


def _prepare(pool: str, with_catch_up: bool) -> list[str]:
    """The announcements and the catch-up; every failure is reported and the worker still starts."""
    from flows.alarms import expect_mornings
    from storage.db import make_engine
    from storage.migrate import upgrade

    notes: list[str] = []
    engine = make_engine()
    try:
        upgrade(engine)
        ops = Operations(engine, clock=clock.now)
        with prefect_api(), get_client(sync_client=True) as client:
            try:
                announced = expect_mornings(ops, clock.now())
                EventsWorker.drain_all()  # this process becomes the worker next: send them now
                notes.append(f"mornings announced to the alarm: {', '.join(d.isoformat() for d in announced)}")
            except Exception as exc:  # the worker matters more than the announcement: say so and go on
                notes.append(f"could not announce the mornings ({type(exc).__name__}: {exc})")
            if with_catch_up:
                try:
                    found = catch_up(client, ops, clock.now(), clock.today())
                    notes.append(f"catch-up: {found.action}: {found.detail}")
                except Exception as exc:
                    notes.append(f"catch-up check failed ({type(exc).__name__}: {exc})")
    finally:
        engine.dispose()
    return notes


def worker(pool: str = "orderwatch", with_catch_up: bool = True) -> NoReturn:
    """Prepare, then become the Prefect worker (same process: Ctrl-C and signals reach it directly)."""
    for note in _prepare(pool, with_catch_up):
        print(f"orderwatch worker: {note}", flush=True)
    url, auth = api_access()
    env = {**os.environ, "PREFECT_API_URL": url}
    if auth is not None:
        env["PREFECT_API_AUTH_STRING"] = auth
    args = [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool, "--type", "process"]
    os.execve(sys.executable, args, env)
