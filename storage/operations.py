"""Operations: what the system records about running itself, apart from the cases.

- the daily sweep's own record (``sweep_runs``): each run of the sweep flow, started, completed or failed, with its
  counts — read by ``orderwatch status`` and by the catch-up at start-up;
- notifications that are not about an escalation: alarms for the people with the ``operator`` role, recorded once
  per idempotency key and person however often the alarm is raised;
- the counts an operator reads first (open escalations by level).

Typed results only; references, dates and counts (no personal data: nothing here reads a case's details).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from machines.model import Role
from storage.models import EscalationRow, NotificationRow, PersonRow, SweepRunRow

__all__ = ["EscalationLevels", "Notification", "Operations", "SweepRun", "SweepStatus"]

SweepStatus = Literal["running", "completed", "failed"]
Clock = Callable[[], datetime]


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


def _utc(instant: datetime) -> datetime:
    """SQLite hands back the UTC instants orderwatch wrote without their zone: put it back."""
    return instant if instant.tzinfo is not None else instant.replace(tzinfo=UTC)


def _sweep(row: SweepRunRow) -> SweepRun:
    completed = None if row.completed_at is None else _utc(row.completed_at)
    return SweepRun(row.flow_run_id, row.flow_run_name, row.as_of, _utc(row.started_at), completed, row.status,
                    row.deadlines_passed, row.cases, row.batches)  # fmt: skip


def _notification(row: NotificationRow) -> Notification:
    escalation = None if row.escalation_id is None else f"ESC-{row.escalation_id}"
    return Notification(row.id, row.kind, row.recipient, row.role, row.reason, row.subject, row.case_ref, escalation,
                        _utc(row.created_at), row.source)  # fmt: skip


class Operations:
    """Reads and writes of the operations tables on one database."""

    def __init__(self, engine: Engine, *, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock

    # -- the sweep's record ----------------------------------------------------------------------------------------

    def sweep_started(self, flow_run_id: str, name: str, as_of: date) -> SweepRun:
        """Record that a sweep run began (a retried run — the same flow run id — starts its record again)."""
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            row = session.scalar(select(SweepRunRow).where(SweepRunRow.flow_run_id == flow_run_id))
            if row is None:
                row = SweepRunRow(flow_run_id=flow_run_id)
                session.add(row)
            row.flow_run_name, row.as_of, row.started_at, row.completed_at = name[:100], as_of, self.clock(), None
            row.status, row.deadlines_passed, row.cases, row.batches = "running", 0, 0, 0
            session.flush()
            return _sweep(row)

    def sweep_finished(
        self, flow_run_id: str, status: SweepStatus, *, passed: int = 0, cases: int = 0, batches: int = 0
    ) -> SweepRun:
        """Record how a sweep run ended (``completed`` with its counts, or ``failed``)."""
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            row = session.scalar(select(SweepRunRow).where(SweepRunRow.flow_run_id == flow_run_id))
            if row is None:
                raise LookupError(f"no sweep run {flow_run_id} was started")
            row.status, row.deadlines_passed, row.cases, row.batches = status, passed, cases, batches
            row.completed_at = self.clock() if status == "completed" else None
            return _sweep(row)

    def last_completed_sweep(self) -> SweepRun | None:
        """The completed sweep with the latest ``as_of`` (the latest to complete among those)."""
        with Session(self.engine) as session:
            row = session.scalar(
                select(SweepRunRow)
                .where(SweepRunRow.status == "completed")
                .order_by(SweepRunRow.as_of.desc(), SweepRunRow.completed_at.desc())
                .limit(1)
            )
            return None if row is None else _sweep(row)

    def completed_at(self, days: Iterable[date]) -> dict[date, datetime]:
        """For each of ``days`` with a completed sweep, when the latest of them completed."""
        wanted = list(days)
        with Session(self.engine) as session:
            rows = session.execute(
                select(SweepRunRow.as_of, func.max(SweepRunRow.completed_at))
                .where(SweepRunRow.status == "completed", SweepRunRow.as_of.in_(wanted))
                .group_by(SweepRunRow.as_of)
            ).all()
            return {day: _utc(at) for day, at in rows if at is not None}

    def sweep_runs(self, limit: int = 20) -> list[SweepRun]:
        """The latest sweep runs, newest first."""
        with Session(self.engine) as session:
            rows = session.scalars(
                select(SweepRunRow).order_by(SweepRunRow.started_at.desc(), SweepRunRow.id.desc()).limit(limit)
            )
            return [_sweep(r) for r in rows]

    # -- operators and their alarms --------------------------------------------------------------------------------

    def operators(self) -> list[str]:
        """The people with the ``operator`` role: they receive the system's alarms."""
        with Session(self.engine) as session:
            return list(
                session.scalars(select(PersonRow.user).where(PersonRow.role == Role.OPERATOR.value).order_by("user"))
            )

    def notify_operators(self, *, reason: str, subject: str, key: str, source: str) -> list[Notification]:
        """Record an alarm for every operator, once per ``key`` and person (a repeated alarm adds nothing).

        ``subject`` must hold references, dates and counts only. Returns the notifications for this key (new or
        already there), one per operator.
        """
        users = self.operators()
        for user in users:
            try:
                with Session(self.engine) as session, session.begin():
                    exists = session.scalar(
                        select(NotificationRow.id).where(NotificationRow.idempotency_key == f"{key}:{user}")
                    )
                    if exists is None:
                        session.add(
                            NotificationRow(
                                kind="alarm",
                                escalation_id=None,
                                case_ref=None,
                                recipient=user,
                                role=Role.OPERATOR.value,
                                reason=reason[:60],
                                subject=subject[:300],
                                idempotency_key=f"{key}:{user}"[:200],
                                created_at=self.clock(),
                                source=source[:80],
                            )
                        )
            except IntegrityError:  # the same alarm recorded by another process a moment ago: once is enough
                continue
        keys = [f"{key}:{user}"[:200] for user in users]
        with Session(self.engine) as session:
            rows = session.scalars(
                select(NotificationRow).where(NotificationRow.idempotency_key.in_(keys)).order_by(NotificationRow.id)
            )
            return [_notification(r) for r in rows]

    def notifications(self, recipient: str | None = None, kind: str | None = None) -> list[Notification]:
        """Every notification (escalations and alarms), oldest first; for one person or of one kind if asked."""
        with Session(self.engine) as session:
            query = select(NotificationRow).order_by(NotificationRow.id)
            if recipient is not None:
                query = query.where(NotificationRow.recipient == recipient)
            if kind is not None:
                query = query.where(NotificationRow.kind == kind)
            return [_notification(r) for r in session.scalars(query)]

    # -- what an operator reads first ------------------------------------------------------------------------------

    def open_escalations(self) -> EscalationLevels:
        """Open escalations by level."""
        with Session(self.engine) as session:
            rows = session.execute(
                select(EscalationRow.level, func.count())
                .where(EscalationRow.state != "resolved")
                .group_by(EscalationRow.level)
                .order_by(EscalationRow.level)
            ).all()
        by_level = {int(level): int(n) for level, n in rows}
        return EscalationLevels(sum(by_level.values()), by_level)
