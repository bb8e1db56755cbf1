"""``orderwatch status``: the one screen an operator reads first.

Prefect server up (and accepting the credential); a worker online in the ``orderwatch`` pool (its heartbeat); the
last completed sweep (when, as of which day, how many deadlines passed) and whether it is behind; the next scheduled
sweep; failed or crashed flow runs and Prefect service errors (tracebacks in ``var/prefect/server.log``) in the last
24 hours; open escalations by level; who receives alarms. Exit 1 when something needs attention, one line per
problem; 0 when all is well.
"""

from __future__ import annotations

import re
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pendulum

from storage import clock

__all__ = ["TRANSIENT", "ServiceError", "Status", "service_errors", "status"]

REFUSING = {"record-event", "escalation-action"}  # deployments whose Failed runs are the rules refusing an entry
_STAMP = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})(?:\.\d+)? \| (\w+)\s*\| ([\w.]+)")
_TIME_ONLY = re.compile(r"^\d{2}:\d{2}:\d{2}\.\d+ \| (\w+)\s*\| ([\w.]+)")


# Prefect's embedded SQLite now and then refuses a write with "database is locked" when two of its own services
# write at once (a known class of Prefect issues, e.g. PrefectHQ/prefect#10188, #16299; in 3.8.8 typically the worker
# channel's heartbeat); the service tries again on its next cycle. One is noise; many mean the database is overloaded.
TRANSIENT = "database is locked"
TRANSIENT_LIMIT = 10  # in 24 hours, before it is a problem


@dataclass(frozen=True, slots=True)
class ServiceError:
    """A Python traceback in the server's log: when (if the line said), which logger, and the exception line."""

    at: str | None
    logger: str
    error: str

    @property
    def transient(self) -> bool:
        return TRANSIENT in self.error


def service_errors(log: Path, since: datetime | None = None) -> list[ServiceError]:
    """Tracebacks in a Prefect server log (all of them, or those logged since ``since``; lines are dated as
    ``orderwatch up`` configures Prefect's logging, in the server's local time)."""
    if not log.is_file():
        return []
    found: list[ServiceError] = []
    at: datetime | None = None
    logger = "?"
    block: list[str] | None = None

    def close() -> None:
        if block is not None and (since is None or (at is not None and at >= since)):
            # the exception line follows the last (indented) frame line; lines after it may be anything
            frames = [i for i, ln in enumerate(block) if ln.startswith((" ", "\t"))]
            after = block[frames[-1] + 1 :] if frames else block
            error = next((ln for ln in after if ln.strip()), "?")
            found.append(ServiceError(None if at is None else at.isoformat(timespec="seconds"), logger, error[:300]))

    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        stamped, time_only = _STAMP.match(line), _TIME_ONLY.match(line)
        if stamped or time_only:
            close()
            block = None
            if stamped:
                at = datetime.strptime(stamped.group(1), "%Y-%m-%d %H:%M:%S").astimezone(UTC)
                logger = stamped.group(3)
            else:
                at, logger = None, time_only.group(2) if time_only else "?"
        elif line.startswith("Traceback (most recent call last)"):
            if block is None:  # a chained exception's next traceback belongs to the same error
                block = []
        elif block is not None:
            block.append(line)
    close()
    return found


@dataclass
class Status:
    """Everything the screen shows; ``problems`` is what needs attention (exit 1 when not empty)."""

    now: str
    server: dict[str, Any] = field(default_factory=dict)
    worker: dict[str, Any] = field(default_factory=dict)
    last_sweep: dict[str, Any] | None = None
    next_sweep: dict[str, Any] | None = None
    failed_runs: list[dict[str, Any]] = field(default_factory=list)
    service_errors: list[dict[str, Any]] = field(default_factory=list)
    escalations: dict[str, Any] = field(default_factory=dict)
    operators: list[str] = field(default_factory=list)
    alarms: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": not self.problems}

    def lines(self) -> list[str]:
        """The screen."""
        from flows.views import plural

        def london(iso: str | None) -> str:
            if not iso:
                return "-"
            instant = pendulum.instance(datetime.fromisoformat(iso)).in_timezone(clock.LONDON)
            return str(instant.strftime("%Y-%m-%d %H:%M"))

        out = [f"orderwatch status at {london(self.now)} London"]
        s = self.server
        out.append(f"  Prefect server   {'up' if s.get('up') else 'DOWN'} at {s.get('api_url')}"
                   + (" (basic auth on)" if s.get("auth") else ""))  # fmt: skip
        w = self.worker
        out.append(
            f"  worker           {w.get('online', 0)} online in pool {w.get('pool')}"
            + (f", last heartbeat {london(w.get('last_heartbeat'))}" if w.get("last_heartbeat") else "")
        )
        last = self.last_sweep
        out.append("  last sweep       " + ("none completed" if not last else
                   f"completed {london(last['completed_at'])}, as of {last['as_of']}, "
                   f"{plural(last['deadlines_passed'], 'deadline')} passed ({last['flow_run_name']})"))  # fmt: skip
        nxt = self.next_sweep
        out.append("  next sweep       " + ("none scheduled" if not nxt else
                   f"{london(nxt['expected_start'])} London ({nxt['name']}, {nxt['state']})"))  # fmt: skip
        out.append(f"  failed runs 24h  {len(self.failed_runs) or 'none'}")
        out += [f"    {r['name']} ({r['deployment']}): {r['state']} at {london(r['at'])}" for r in self.failed_runs]
        busy = sum(1 for e in self.service_errors if e["transient"])
        out.append(f"  service errors   {(len(self.service_errors) - busy) or 'none'} in the server log (24 h)"
                   + (f"; {busy} transient (SQLite busy)" if busy else ""))  # fmt: skip
        out += [f"    {e['at'] or '?'} {e['logger']}: {e['error']}" for e in self.service_errors if not e["transient"]][
            :5
        ]
        e = self.escalations
        levels = ", ".join(f"level {k}: {v}" for k, v in e.get("by_level", {}).items())
        out.append(f"  escalations      {e.get('open', 0)} open" + (f" ({levels})" if levels else ""))
        out.append(f"  operators        {', '.join(self.operators) or 'none'}")
        out.append(f"  alarms 24h       {len(self.alarms) or 'none'}")
        out += [f"    {london(a['at'])} {a['subject']}" for a in self.alarms[-5:]]
        if self.problems:
            out.append("needs attention:")
            out += [f"  ! {p}" for p in self.problems]
        else:
            out.append("all is well")
        return out


def _health(api_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=5) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def status(var: Path | None = None) -> Status:
    """Look at everything; never raises for what it finds (that is what ``problems`` are for)."""
    from cli.secure import api_access, prefect_api, var_dir
    from flows.views import plural
    from storage.db import make_engine
    from storage.migrate import upgrade
    from storage.opsbook import Operations

    now = clock.now()
    since = now - timedelta(hours=24)
    var = var or var_dir()
    report = Status(now=now.isoformat(timespec="seconds"))
    api_url, auth = api_access(var)
    report.server = {"api_url": api_url, "up": _health(api_url), "auth": auth is not None}

    engine = make_engine()
    try:
        upgrade(engine)
        ops = Operations(engine, clock=clock.now)
        last = ops.last_completed_sweep()
        if last is not None:
            report.last_sweep = {"as_of": last.as_of.isoformat(), "flow_run_name": last.flow_run_name,
                                 "completed_at": last.completed_at.isoformat() if last.completed_at else None,
                                 "deadlines_passed": last.deadlines_passed, "cases": last.cases}  # fmt: skip
        levels = ops.open_escalations()
        report.escalations = {"open": levels.open, "by_level": {str(k): v for k, v in levels.by_level.items()}}
        report.operators = ops.operators()
        alarms = {n.subject: n for n in ops.notifications(kind="alarm") if n.created_at.astimezone(UTC) >= since}
        report.alarms = [{"at": n.created_at.isoformat(timespec="seconds"), "subject": n.subject, "reason": n.reason}
                         for n in alarms.values()]  # fmt: skip
        if not report.operators:
            report.problems.append("no one has the operator role, so alarms reach no one "
                                   "(orderwatch people add USER --role operator)")  # fmt: skip
        if report.server["up"]:
            with prefect_api(var):
                _prefect_side(report, ops, now, since)
        else:
            report.problems.append(f"the Prefect server does not answer at {api_url} (start it: make run)")
    finally:
        engine.dispose()

    found = service_errors(var / "prefect" / "server.log", since)
    report.service_errors = [{**asdict(e), "transient": e.transient} for e in found]
    errors = [e for e in found if not e.transient]
    busy = len(found) - len(errors)
    if busy >= TRANSIENT_LIMIT:
        report.problems.append(f"Prefect's SQLite database refused {busy} writes as locked in the last 24 h: it is "
                               "overloaded (README: Scaling out, Prefect's server on PostgreSQL)")  # fmt: skip
    if errors:
        report.problems.append(f"{plural(len(errors), 'Prefect service error')} in var/prefect/server.log in the last "
                               "24 h, "
                               f"latest: {errors[-1].logger}: {errors[-1].error[:120]}")  # fmt: skip
    return report


def _prefect_side(report: Status, ops: Any, now: datetime, since: datetime) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterEndTime,
        FlowRunFilterExpectedStartTime,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort
    from prefect.exceptions import PrefectHTTPStatusError

    from cli.up import POOL
    from cli.worker import SWEEP_DEPLOYMENT, due_day
    from flows.views import plural

    with get_client(sync_client=True) as client:
        try:
            workers = client.read_workers_for_work_pool(POOL)
        except PrefectHTTPStatusError as exc:
            code = exc.response.status_code
            report.problems.append("the Prefect server refuses orderwatch's credential (HTTP 401)" if code == 401
                                   else f"the work pool {POOL} cannot be read (HTTP {code})")  # fmt: skip
            return
        online = [
            w
            for w in workers
            if w.last_heartbeat_time is not None
            and now - w.last_heartbeat_time <= timedelta(seconds=3 * (w.heartbeat_interval_seconds or 30))
        ]
        beats = [w.last_heartbeat_time for w in workers if w.last_heartbeat_time is not None]
        report.worker = {"pool": POOL, "online": len(online), "workers": len(workers),
                         "last_heartbeat": max(beats).isoformat(timespec="seconds") if beats else None}  # fmt: skip
        if not online:
            report.problems.append(f"no worker is online in the pool {POOL}: nothing will run "
                                   "(start one: make run, or orderwatch worker)")  # fmt: skip

        sweep = client.read_deployment_by_name(SWEEP_DEPLOYMENT)
        by_sweep = DeploymentFilter(id=DeploymentFilterId(any_=[sweep.id]))
        due = due_day(sweep, now)
        last = report.last_sweep
        if last is None or last["as_of"] < due.isoformat():
            report.problems.append(f"the sweep is behind: the last completed one is "
                                   f"{'as of ' + last['as_of'] if last else 'none'}, the {due} sweep has not "
                                   "completed")  # fmt: skip
        upcoming = client.read_flow_runs(
            deployment_filter=by_sweep,
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])),
                expected_start_time=FlowRunFilterExpectedStartTime.model_validate({"after_": now}),
            ),
            sort=FlowRunSort.EXPECTED_START_TIME_ASC,
            limit=1,
        )
        if upcoming:
            run = upcoming[0]
            report.next_sweep = {"name": run.name, "state": run.state.name if run.state else "?",
                                 "expected_start": run.expected_start_time.isoformat() if run.expected_start_time
                                 else None}  # fmt: skip
        else:
            report.problems.append("no sweep is scheduled: is Prefect's scheduler working? "
                                   "(see var/prefect/server.log)")  # fmt: skip
        late = client.read_flow_runs(
            deployment_filter=by_sweep,
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])),
                expected_start_time=FlowRunFilterExpectedStartTime.model_validate({"before_": now}),
            ),
            limit=20,
        )
        for run in late[:5]:
            if run.state is None or (run.state.name != "Late" and run.expected_start_time
                                     and now - run.expected_start_time < timedelta(minutes=1)):  # fmt: skip
                continue  # due this minute: a worker may be about to take it
            report.problems.append(f"sweep run {run.name} is {run.state.name if run.state else 'Late'} "
                                   "(due, not taken by any worker)")  # fmt: skip
        failed = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.FAILED, StateType.CRASHED])),
                end_time=FlowRunFilterEndTime.model_validate({"after_": since}),
            ),
            sort=FlowRunSort.END_TIME_DESC,
            limit=50,
        )
        names = {str(d.id): d.name for d in client.read_deployments()} if failed else {}
        for run in failed:
            when = run.end_time or (run.state.timestamp if run.state else None)
            report.failed_runs.append({"name": run.name, "deployment": names.get(str(run.deployment_id), "-"),
                                       "state": run.state.name if run.state else "?",
                                       "at": when.isoformat(timespec="seconds") if when else None})  # fmt: skip
        # a refused manual event ends Failed on purpose (its message is the rule): listed, not a problem
        faults = [r for r in report.failed_runs if r["state"] != "Failed" or r["deployment"] not in REFUSING]
        if faults:
            report.problems.append(f"{plural(len(faults), 'flow run')} failed or crashed in the last 24 h, latest "
                                   f"{faults[0]['name']} ({faults[0]['deployment']}, {faults[0]['state']})")  # fmt: skip
