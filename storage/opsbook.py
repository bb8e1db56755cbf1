"""The operations facade: the sweep's record, operator alarms and the counts an operator reads first, on one
database — writes through the casebook's command handler (``storage.operations`` holds the commands and handlers),
typed reads."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from machines.errors import Refused
from machines.model import EscalationState
from storage.casebook import Casebook
from storage.clock import Clock
from storage.models import escalations, notifications, sweep_runs
from storage.operations import (
    SELECT_NOTES,
    SELECT_RUNS,
    EscalationLevels,
    FinishSweepRun,
    Notification,
    NotifyOperators,
    StartSweepRun,
    SweepRun,
    SweepStatus,
    as_utc,
    notification_of,
    operators,
    sweep_of,
)
from storage.uow import transaction

__all__ = ["Operations"]


class Operations:
    """The operations tables on one database: writes through the command handler, typed reads."""

    def __init__(self, engine: Engine, *, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock
        self._book = Casebook(engine, clock=clock)

    def _read(self, query: Callable[[Connection], Any]) -> Any:
        return transaction(self.engine, query, write=False)

    # -- the sweep's record ----------------------------------------------------------------------------------------

    def sweep_started(self, flow_run_id: str, name: str, as_of: date) -> SweepRun:
        """Record that a sweep run began (a retried run — the same flow run id — starts its record again)."""
        run: SweepRun = self._book.handle(StartSweepRun(flow_run_id=flow_run_id, name=name, as_of=as_of))
        return run

    def sweep_finished(
        self, flow_run_id: str, status: SweepStatus, *, passed: int = 0, cases: int = 0, batches: int = 0
    ) -> SweepRun:
        """Record how a sweep run ended (``completed`` with its counts, or ``failed``)."""
        try:
            run: SweepRun = self._book.handle(FinishSweepRun(flow_run_id=flow_run_id, status=status, passed=passed,
                                                             cases=cases, batches=batches))  # fmt: skip
        except Refused as refused:
            raise LookupError(str(refused)) from None
        return run

    def last_completed_sweep(self) -> SweepRun | None:
        """The completed sweep with the latest ``as_of`` (the latest to complete among those)."""
        query = (
            SELECT_RUNS.where(sweep_runs.c.status == "completed")
            .order_by(sweep_runs.c.as_of.desc(), sweep_runs.c.completed_at.desc())
            .limit(1)
        )
        row = self._read(lambda c: c.execute(query).first())
        return None if row is None else sweep_of(row)

    def completed_at(self, days: Iterable[date]) -> dict[date, datetime]:
        """For each of ``days`` with a completed sweep, when the latest of them completed."""
        wanted = list(days)
        query = (
            select(sweep_runs.c.as_of, func.max(sweep_runs.c.completed_at))
            .where(sweep_runs.c.status == "completed", sweep_runs.c.as_of.in_(wanted))
            .group_by(sweep_runs.c.as_of)
        )
        rows = self._read(lambda c: c.execute(query).all())
        return {day: as_utc(at) for day, at in rows if at is not None}

    def sweep_runs(self, limit: int = 20) -> list[SweepRun]:
        """The latest sweep runs, newest first."""
        query = SELECT_RUNS.order_by(sweep_runs.c.started_at.desc(), sweep_runs.c.id.desc()).limit(limit)
        rows = self._read(lambda c: c.execute(query).all())
        return [sweep_of(r) for r in rows]

    # -- operators and their alarms --------------------------------------------------------------------------------

    def operators(self) -> list[str]:
        found: list[str] = self._read(operators)
        return found

    def notify_operators(self, *, reason: str, subject: str, key: str, source: str) -> list[Notification]:
        """Record an alarm for every operator, once per ``key`` and person (a repeated alarm adds nothing).

        ``subject`` must hold references, dates and counts only. Returns the notifications for this key (new or
        already there), one per operator.
        """
        notes: list[Notification] = self._book.handle(
            NotifyOperators(reason=reason, subject=subject, key=key, source=source)
        )
        return notes

    def notifications(self, recipient: str | None = None, kind: str | None = None) -> list[Notification]:
        """Every notification (escalations and alarms), oldest first; for one person or of one kind if asked."""
        query = SELECT_NOTES
        if recipient is not None:
            query = query.where(notifications.c.recipient == recipient)
        if kind is not None:
            query = query.where(notifications.c.kind == kind)
        rows = self._read(lambda c: c.execute(query).all())
        return [notification_of(r) for r in rows]

    # -- what an operator reads first ------------------------------------------------------------------------------

    def open_escalations(self) -> EscalationLevels:
        """Open escalations by level."""
        query = (
            select(escalations.c.level, func.count())
            .where(escalations.c.state != EscalationState.resolved.value)
            .group_by(escalations.c.level)
            .order_by(escalations.c.level)
        )
        rows = self._read(lambda c: c.execute(query).all())
        by_level = {int(level): int(n) for level, n in rows}
        return EscalationLevels(sum(by_level.values()), by_level)
