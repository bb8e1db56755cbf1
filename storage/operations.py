"""Operations: what the system records about running itself, apart from the cases.

- the daily sweep's own record (``sweep_runs``): each run of the sweep flow, started, completed or failed, with its
  counts — read by ``orderwatch status`` and by the catch-up at start-up;
- notifications that are not about an escalation: alarms for the people with the ``operator`` role, recorded once
  per idempotency key and person however often the alarm is raised;
- the counts an operator reads first (open escalations by level).

Typed results only; references, dates and counts (no personal data: nothing here reads a case's details).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.engine import Row

from machines.errors import Refused
from machines.model import Role
from storage.commands import Command
from storage.models import notifications, people, sweep_runs
from storage.uow import UnitOfWork

__all__ = [
    "EscalationLevels",
    "FinishSweepRun",
    "Notification",
    "NotifyOperators",
    "StartSweepRun",
    "SweepRun",
    "SweepStatus",
    "finish_sweep_run",
    "notify_operators",
    "start_sweep_run",
]

SweepStatus = Literal["running", "completed", "failed"]


@dataclass(frozen=True, slots=True)
class SweepRun:
    """One run of the sweep flow as it recorded itself."""

    flow_run_id: str
    flow_run_name: str
    as_of: date
    started_at: datetime
    completed_at: datetime | None
    status: str
    deadlines_passed: int
    cases: int
    batches: int


@dataclass(frozen=True, slots=True)
class Notification:
    """A notice for one person: an escalation raised to them, or an alarm (``kind``)."""

    id: int
    kind: str
    recipient: str
    role: str
    reason: str
    subject: str
    case: str | None
    escalation: str | None
    created_at: datetime
    source: str


@dataclass(frozen=True, slots=True)
class EscalationLevels:
    """Open (unresolved) escalations: how many, and how many at each level (1 = first raised)."""

    open: int
    by_level: dict[int, int]


# -- the commands (through the one write path: ``Casebook.handle``, or ``Operations`` below) ---------------------


@dataclass(frozen=True, kw_only=True)
class StartSweepRun(Command):
    """A sweep run began (a retried run — the same flow run id — starts its record again)."""

    flow_run_id: str
    name: str
    as_of: date
    actor: str = "system"


@dataclass(frozen=True, kw_only=True)
class FinishSweepRun(Command):
    """How a sweep run ended: ``completed`` with its counts, or ``failed``."""

    flow_run_id: str
    status: SweepStatus
    passed: int = 0
    cases: int = 0
    batches: int = 0
    actor: str = "system"


@dataclass(frozen=True, kw_only=True)
class NotifyOperators(Command):
    """An alarm for every operator, once per ``key`` and person (``subject``: references, dates, counts only)."""

    reason: str
    subject: str
    key: str
    actor: str = "system"


def as_utc(instant: datetime) -> datetime:
    """SQLite hands back the UTC instants orderwatch wrote without their zone: put it back."""
    return instant if instant.tzinfo is not None else instant.replace(tzinfo=UTC)


_RUN_COLUMNS = ("flow_run_id", "flow_run_name", "as_of", "started_at", "completed_at", "status", "deadlines_passed",
                "cases", "batches")  # fmt: skip
SELECT_RUNS = select(*(sweep_runs.c[n] for n in _RUN_COLUMNS))


def sweep_of(row: Row[Any]) -> SweepRun:
    run_id, name, as_of, started, completed, status, passed, cases, batches = row
    return SweepRun(run_id, name, as_of, as_utc(started), None if completed is None else as_utc(completed), status,
                    passed, cases, batches)  # fmt: skip


_NOTE_COLUMNS = ("id", "kind", "recipient", "role", "reason", "subject", "case_ref", "escalation_id", "created_at",
                 "source")  # fmt: skip
SELECT_NOTES = select(*(notifications.c[n] for n in _NOTE_COLUMNS)).order_by(notifications.c.id)


def notification_of(row: Row[Any]) -> Notification:
    id_, kind, recipient, role, reason, subject, case, esc, created, source = row
    return Notification(id_, kind, recipient, role, reason, subject, case, None if esc is None else f"ESC-{esc}",
                        as_utc(created), source)  # fmt: skip


def _run(connection: Connection, flow_run_id: str) -> SweepRun | None:
    row = connection.execute(SELECT_RUNS.where(sweep_runs.c.flow_run_id == flow_run_id)).first()
    return None if row is None else sweep_of(row)


def start_sweep_run(uow: UnitOfWork, cmd: StartSweepRun) -> SweepRun:
    values = {"flow_run_name": cmd.name[:100], "as_of": cmd.as_of, "started_at": uow.now, "completed_at": None,
              "status": "running", "deadlines_passed": 0, "cases": 0, "batches": 0}  # fmt: skip
    c = uow.connection
    if _run(c, cmd.flow_run_id) is None:
        c.execute(insert(sweep_runs), {"flow_run_id": cmd.flow_run_id, **values})
    else:
        c.execute(update(sweep_runs).where(sweep_runs.c.flow_run_id == cmd.flow_run_id).values(**values))
    found = _run(c, cmd.flow_run_id)
    if found is None:  # pragma: no cover - written just above, in this transaction
        raise LookupError(cmd.flow_run_id)
    return found


def finish_sweep_run(uow: UnitOfWork, cmd: FinishSweepRun) -> SweepRun:
    c = uow.connection
    if _run(c, cmd.flow_run_id) is None:
        raise Refused(f"no sweep run {cmd.flow_run_id} was started")
    completed = uow.now if cmd.status == "completed" else None
    c.execute(update(sweep_runs).where(sweep_runs.c.flow_run_id == cmd.flow_run_id).values(
        status=cmd.status, deadlines_passed=cmd.passed, cases=cmd.cases, batches=cmd.batches,
        completed_at=completed))  # fmt: skip
    found = _run(c, cmd.flow_run_id)
    if found is None:  # pragma: no cover
        raise LookupError(cmd.flow_run_id)
    return found


def operators(connection: Connection) -> list[str]:
    """The people with the ``operator`` role: they receive the system's alarms."""
    query = select(people.c.user).where(people.c.role == Role.OPERATOR.value).order_by(people.c.user)
    return list(connection.scalars(query))


def notify_operators(uow: UnitOfWork, cmd: NotifyOperators) -> list[Notification]:
    """Returns the notifications for this key (new or already there), one per operator."""
    c = uow.connection
    keys = {user: f"{cmd.key}:{user}"[:200] for user in operators(c)}
    have = set(c.scalars(select(notifications.c.key).where(notifications.c.key.in_(keys.values()))))
    rows = [{"kind": "alarm", "escalation_id": None, "case_ref": None, "recipient": user, "role": Role.OPERATOR.value,
             "reason": cmd.reason[:60], "subject": cmd.subject[:200], "body": cmd.subject, "key": key,
             "created_at": uow.now, "source": (cmd.source or "system")[:80], "status": "pending", "attempts": 0}
            for user, key in keys.items() if key not in have]  # fmt: skip
    if rows:
        c.execute(insert(notifications), rows)
    return [notification_of(r) for r in c.execute(SELECT_NOTES.where(notifications.c.key.in_(keys.values())))]
