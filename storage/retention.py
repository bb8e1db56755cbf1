"""Retention and disposal (PROCEDURES §6): what is due, and the audited disposal that keeps only a tombstone.

A disposal, one case per transaction, through the one write path (``Dispose``):

- appends a ``disposed`` entry to the case's log (basis, due date, how many entries were erased) — the chain goes on;
- marks the case ``disposed_on`` and empties what identifies the child: ``child_id`` (to ""), ``dob``, the case's
  free-text ``details`` and its ``people``; escalations' free text; the bodies of the notices about it;
- erases each earlier log entry's payload (the registration's child id and date of birth, the free text of every
  event) to ``{"~erased": <digest>}``. The chain covers a payload by its digest (``storage.chain``), so every chain
  still verifies; the events' trigger allows exactly this change, and only on a case marked disposed.

The tombstone is what is left: the reference, kind, state, key dates, deadlines and escalations (dates and
outcomes), who did what when, and the disposal itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, update

from machines import checks
from machines.calendar import parse_date
from machines.errors import Refused
from machines.model import CaseKind, EscalationState, LogEntry, Role, Source
from machines.policy import Policy
from machines.procedures import PROCEDURES
from machines.retention import DISPOSED, retention
from storage import chain
from storage.commands import Command
from storage.models import cases, escalations, events, notifications
from storage.uow import UnitOfWork

__all__ = ["DISPOSERS", "Dispose", "Disposed", "DueCase", "dispose", "due"]

# who may dispose of a case's personal data: the Head of Service (the service's decision) and an admin
DISPOSERS = (Role.HEAD_OF_SERVICE, Role.ADMIN)
ERASED_BODY = "(disposed of)"


@dataclass(frozen=True, slots=True)
class DueCase:
    """A case due for disposal (``orderwatch retention --dry-run``): no personal data, only why and when."""

    case: str
    kind: str
    state: str
    ended_on: date
    basis: str
    due_on: date
    open_escalations: int = 0  # unresolved escalations hold a disposal back: they are resolved first

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"case": self.case, "kind": self.kind, "state": self.state,
                               "ended_on": self.ended_on.isoformat(), "basis": self.basis,
                               "due_on": self.due_on.isoformat()}  # fmt: skip
        if self.open_escalations:
            out["open_escalations"] = self.open_escalations
        return out


@dataclass(frozen=True, kw_only=True)
class Dispose(Command):
    """Dispose of a case's personal data, leaving its tombstone (refused unless it is due on ``on``)."""

    ref: str
    on: date


@dataclass(frozen=True, slots=True)
class Disposed:
    case: str
    on: date
    basis: str
    erased: int  # log entries whose payload was erased

    def as_json(self) -> dict[str, Any]:
        return {"case": self.case, "disposed_on": self.on.isoformat(), "basis": self.basis, "erased": self.erased}


def _ended_on(details: dict[str, Any], last_event_on: date | None) -> date | None:
    closed = details.get("closed_on")
    return parse_date(str(closed)) if closed else last_event_on


def due(connection: Connection, policy: Policy, on: date) -> list[DueCase]:
    """Cases that have ended and whose retention ran out by ``on``, soonest first."""
    finals = sorted({s for p in PROCEDURES.values() for s in p.final})
    unresolved = (
        select(func.count())
        .where(escalations.c.case_id == cases.c.id, escalations.c.state != EscalationState.resolved.value)
        .scalar_subquery()
    )
    query = (
        select(cases.c.ref, cases.c.kind, cases.c.state, cases.c.dob, cases.c.details, cases.c.last_event_on,
               unresolved)
        .where(cases.c.disposed_on.is_(None), cases.c.state.in_(finals))
        .order_by(cases.c.id)
    )  # fmt: skip
    found = []
    for ref, kind, state, dob, details, last_event_on, open_escalations in connection.execute(query):
        ended = _ended_on(details, last_event_on)
        kept = retention(CaseKind(kind), state, dob, ended, policy)
        if kept is not None and ended is not None and kept.due_on <= on:
            found.append(DueCase(ref, kind, state, ended, kept.basis, kept.due_on, int(open_escalations or 0)))
    return sorted(found, key=lambda d: (d.due_on, d.case))


def dispose(uow: UnitOfWork, cmd: Dispose) -> Disposed:
    """The disposal (see the module's docstring), in the command's unit of work."""
    actor = checks.person(uow.people, cmd.actor)
    if actor.role not in DISPOSERS:
        raise Refused(f"{actor.user} ({actor.role.value}) may not dispose of a case (one of: "
                      f"{', '.join(r.value for r in DISPOSERS)})")  # fmt: skip
    loaded = uow.case(cmd.ref)
    case = loaded.case
    kept = retention(case.kind, str(case.state), case.dob, _ended_on(case.details, case.last_event_on),
                     uow.policies.current)  # fmt: skip
    if kept is None:
        raise Refused(f"case {cmd.ref!r} has not ended: it is kept while it runs")
    if kept.due_on > cmd.on:
        raise Refused(f"case {cmd.ref!r} is kept until {kept.due_on}")
    # a tombstone cannot be acted on: what is still open on the case is closed by people first (an escalation's
    # deadlines would otherwise keep the sweep coming back to it)
    still_open = [e for e in case.escalations if e.state is not EscalationState.resolved]
    if still_open or any(d.is_open for d in case.deadlines):
        raise Refused(f"case {cmd.ref!r} has {len(still_open)} unresolved escalation(s): resolve them before its "
                      "disposal")  # fmt: skip
    connection = uow.connection
    cid = case.id
    # first the mark the events' trigger looks for, then the erasures it allows
    connection.execute(update(cases).where(cases.c.id == cid).values(disposed_on=cmd.on))
    rows = connection.execute(select(events.c.id, events.c.payload).where(events.c.case_id == cid)).all()
    erase = [{"b_id": i, "payload": {chain.ERASED: chain.digest(p)}} for i, p in rows
             if chain.erased_digest(p) is None]  # fmt: skip
    if erase:
        connection.execute(update(events).where(events.c.id == bindparam("b_id")), erase)
    esc_ids = list(connection.scalars(select(escalations.c.id).where(escalations.c.case_id == cid)))
    connection.execute(update(escalations).where(escalations.c.case_id == cid).values(detail=None, resolution=None))
    connection.execute(
        update(notifications)
        .where((notifications.c.case_ref == cmd.ref) | notifications.c.escalation_id.in_(esc_ids))
        .values(body=ERASED_BODY)
    )
    # the case row as the tombstone keeps it (written with the disposal's log entry, by the unit of work)
    case.child_id, case.dob, case.details, case.people = "", None, {}, {}
    state = str(case.state)
    payload = {"basis": kept.basis, "due_on": kept.due_on.isoformat(), "erased": len(erase)}
    uow.record(loaded, [LogEntry(DISPOSED, state, state, actor.user, actor.role.value, Source.MANUAL, cmd.on,
                                 payload=payload)])  # fmt: skip
    return Disposed(cmd.ref, cmd.on, kept.basis, len(erase))
