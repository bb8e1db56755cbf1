"""The casebook: orderwatch's database as the entry points see it — commands in, typed results out.

``handle`` runs one command in its own unit of work; ``handle_all`` runs many in one (a day's work arriving in bulk);
``sweep`` drives the sweep's batches. Everything else here reads. The clock is injected: "today" arrives in the
commands, and ``now`` (for ``recorded_at``) from the caller's clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, select

from machines.casework import Casework
from machines.errors import Refused
from machines.model import CaseFile
from machines.policy import DEFAULT_POLICY, Policy
from storage import queries
from storage.commands import Command, Fire, Register, SweepBatch, SweepReport, WholeBatchRefused
from storage.handlers import handle
from storage.models import cases, escalations
from storage.notifications import NotificationView, notifications
from storage.rows import load_cases
from storage.uow import Directory, UnitOfWork, transaction

__all__ = ["Casebook"]

Clock = Callable[[], datetime]
R = TypeVar("R")


class Casebook:
    """All reads and changes of cases, people and escalations, on one database."""

    def __init__(
        self,
        engine: Engine,
        policy: Policy = DEFAULT_POLICY,
        *,
        clock: Clock,
        on_commit: Callable[[list[CaseFile]], None] | None = None,
    ) -> None:
        """``on_commit``, if given, is handed the case aggregates each unit of work wrote, once it has committed
        (the simulator reacts to them without reading them back)."""
        self.engine = engine
        self.policy = policy
        self.clock = clock
        self.on_commit = on_commit

    # -- commands --------------------------------------------------------------------------------------------------

    def handle(self, command: Command) -> Any:
        """Run one command in its own transaction; ``Refused`` leaves the database as it was."""
        written: list[CaseFile] = []

        def work(connection: Connection) -> Any:
            uow = self._unit(connection, command.source)
            result = handle(uow, command)
            written[:] = uow.written()
            uow.flush()
            if isinstance(command, Register):
                # registration answers with the case as stored (the contract's `show` shape)
                return queries.case_view(connection, queries.load(connection, result.case))
            return result

        result = transaction(self.engine, work)
        self._committed(written)
        return result

    def handle_all(self, commands: Sequence[Command], source: str | None = None) -> list[Any]:
        """Many commands in one transaction, in order: each checked and applied as ``handle`` would; one that is
        refused adds nothing of its own and comes back as its ``Refused``, the rest land together."""
        written: list[CaseFile] = []

        def work(connection: Connection) -> list[Any]:
            uow = self._unit(connection, source)
            uow.take([c.ref for c in commands if isinstance(c, Fire)])
            uow.people.preload(_named(commands))
            results: list[Any] = []
            for command in commands:
                try:
                    results.append(handle(uow, command))
                except WholeBatchRefused:
                    raise
                except Refused as refused:
                    results.append(refused)
            written[:] = uow.written()
            uow.flush()
            return results

        try:
            results = transaction(self.engine, work)
        except WholeBatchRefused as refused:
            raise Refused(str(refused)) from None
        self._committed(written)
        return results

    def sweep(self, as_of: date, *, batch_size: int = 500, source: str | None = None,
              max_batches: int | None = None) -> SweepReport:  # fmt: skip
        """Let every open deadline due before ``as_of`` pass, a batch of cases per transaction; idempotent.

        Reads only cases whose earliest open deadline is due (``cases.next_due_on``), so its cost grows with the
        work due, not with the caseload. On PostgreSQL each batch claims its cases ``FOR UPDATE SKIP LOCKED``,
        so several sweeps can share the work and none fires a deadline twice.
        """
        total = SweepReport(as_of)
        while max_batches is None or total.batches < max_batches:
            part: SweepReport = self.handle(SweepBatch(as_of=as_of, batch_size=batch_size, source=source))
            if not part.handled:
                break
            total.add(part)
        return total

    def _unit(self, connection: Connection, source: str | None) -> UnitOfWork:
        return UnitOfWork(connection, self.policy, now=self.clock(), source=source)

    def _committed(self, written: list[CaseFile]) -> None:
        if written and self.on_commit is not None:
            self.on_commit(written)

    # -- reads -----------------------------------------------------------------------------------------------------

    def _read(self, query: Callable[[Connection], R]) -> R:
        return transaction(self.engine, query, write=False)

    def show(self, ref: str, reader: str, as_of: date | None = None) -> queries.CaseView:
        """The case, its deadlines, escalations and involvements (``as_of``: today, for the figures that count days
        up to it); the read is logged."""

        def read(connection: Connection) -> queries.CaseView:
            view = queries.case_view(connection, queries.load(connection, ref), as_of)
            queries.record_access(connection, ref, "show", reader, self.clock())
            return view

        return transaction(self.engine, read)

    def history(self, ref: str, reader: str) -> list[queries.HistoryEntry]:
        """The case's event log, oldest first; the read is logged."""

        def read(connection: Connection) -> list[queries.HistoryEntry]:
            entries = queries.history(connection, ref)
            queries.record_access(connection, ref, "history", reader, self.clock())
            return entries

        return transaction(self.engine, read)

    def worklist(self, as_of: date, within: int = 7, role: str | None = None) -> list[queries.WorkItem]:
        return self._read(lambda c: queries.worklist(c, self.policy, as_of, within, role))

    def escalations(self, open_only: bool = False) -> list[queries.EscalationItem]:
        return self._read(lambda c: queries.escalations(c, open_only))

    def people(self) -> list[queries.PersonView]:
        return self._read(queries.people)

    def notifications(self, recipient: str | None = None) -> list[NotificationView]:
        return self._read(lambda c: notifications(c, recipient))

    def caseload_notes(self, as_of: date) -> queries.CaseloadNotes:
        return self._read(lambda c: queries.caseload_notes(c, as_of))

    def counts_by_state(self) -> dict[str, dict[str, int]]:
        return self._read(queries.counts_by_state)

    def load(self, ref: str) -> CaseFile:
        """The whole case aggregate, read-only."""
        return self._read(lambda c: queries.load(c, ref))

    def load_many(self, refs: Iterable[str], *, complete: bool = True) -> dict[str, CaseFile]:
        """Case aggregates by reference, read-only (unknown references are left out)."""

        def read(connection: Connection) -> dict[str, CaseFile]:
            ids = list(connection.scalars(select(cases.c.id).where(cases.c.ref.in_(list(refs)))))
            return {ld.case.ref: ld.case for ld in load_cases(connection, ids, complete=complete)}

        return self._read(read)

    def replay(self, ref: str) -> CaseFile:
        """Rebuild the case from its log alone."""

        def read(connection: Connection) -> CaseFile:
            return Casework(self.policy, Directory(connection)).replay(queries.log_entries(connection, ref))

        return self._read(read)

    def replay_matches(self, ref: str) -> bool:
        """Does replaying the case's log reproduce its stored state, deadlines and escalations?"""
        return _fingerprint(self.load(ref)) == _fingerprint(self.replay(ref))

    def escalation_row_id(self, ref: str, no: int) -> int:
        """The public id of a case's escalation number ``no``."""

        def read(connection: Connection) -> int:
            cid = queries.case_id(connection, ref)
            found: int | None = connection.scalar(
                select(escalations.c.id).where(escalations.c.case_id == cid, escalations.c.no == no)
            )
            if found is None:
                raise Refused(f"case {ref!r} has no escalation number {no}")
            return found

        return self._read(read)


def _named(commands: Sequence[Command]) -> list[str]:
    """Everyone a batch names: its actors and the people in its fields (looked up in one query)."""
    names = [c.actor for c in commands]
    for c in commands:
        for key in ("iro", "distribution", "team_manager", "participants"):
            value = getattr(c, "fields", {}).get(key)
            if value is not None:
                names.extend(n.strip() for n in (value if isinstance(value, list) else str(value).split(",")))
    return names


def _fingerprint(case: CaseFile) -> tuple[Any, ...]:
    return (
        case.state,
        sorted((d.kind, d.due_on, d.status.value, d.escalation_no) for d in case.deadlines),
        [(e.no, e.state, e.raised_to.value, e.level) for e in case.escalations],
        dict(case.dates),
    )
