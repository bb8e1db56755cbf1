"""The queries: what people and operators read, as typed results (each with ``as_json``, the CLI contract's shape).

Reads change nothing; who may read what, and the access log every read writes, are ``storage.access``'s (applied by
``storage.casebook``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.sql.elements import ColumnElement

from machines.calendar import parse_date
from machines.errors import Refused
from machines.model import CaseFile, CaseKind, DeadlineStatus, EscalationState, LogEntry, Role
from machines.policy import Policy
from machines.procedures import PROCEDURES
from storage.ids import escalation_id
from storage.models import cases as _CASES
from storage.models import deadlines as _DEADLINES
from storage.models import escalations as _ESCALATIONS
from storage.models import events as _EVENTS
from storage.models import involvements as _INVOLVEMENTS
from storage.models import people as _PEOPLE
from storage.rows import entry_from_row, load_cases

__all__ = [
    "CaseView",
    "CaseloadNotes",
    "DeadlineView",
    "EscalationItem",
    "EscalationView",
    "HistoryEntry",
    "InvolvementView",
    "PersonView",
    "WorkItem",
    "case_id",
    "case_view",
    "caseload_notes",
    "counts_by_state",
    "escalations",
    "history",
    "history_of",
    "load",
    "log_entries",
    "people",
    "worklist",
]

CONSIDER_MOVING = "consider moving the review to fit the court timetable"


@dataclass(frozen=True, slots=True)
class DeadlineView:
    kind: str
    due_on: date
    status: DeadlineStatus
    escalation: str | None = None  # ESC-<id> for an escalation's own deadline

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "due_on": self.due_on.isoformat(), "status": self.status.value}
        return out | ({"escalation": self.escalation} if self.escalation else {})


@dataclass(frozen=True, slots=True)
class EscalationView:
    id: str
    state: EscalationState
    raised_to: Role
    reason: str

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "state": self.state.value, "raised_to": self.raised_to.value, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class InvolvementView:
    """Who is (or was) involved in a case, in which role, from when to when."""

    user: str
    role: str
    from_on: date
    to_on: date | None

    def as_json(self) -> dict[str, Any]:
        return {"user": self.user, "role": self.role, "from": self.from_on.isoformat(),
                "to": self.to_on.isoformat() if self.to_on else None}  # fmt: skip


@dataclass(frozen=True, slots=True)
class CaseView:
    """A case as ``orderwatch show`` gives it."""

    case: str
    kind: CaseKind
    state: str
    version: str
    child: str
    dates: dict[str, date]
    links: list[str]
    people: dict[str, str]
    deadlines: list[DeadlineView]
    escalations: list[EscalationView]
    involvements: list[InvolvementView] = field(default_factory=list)
    flags: list[dict[str, str]] = field(default_factory=list)
    guardian_contact: dict[str, Any] | None = None  # CP+ISO: the last contact and the days since (as of today)

    def as_json(self) -> dict[str, Any]:
        out = {
            "case": self.case,
            "kind": self.kind.value,
            "state": self.state,
            "version": self.version,
            "child": self.child,
            "dates": {k: v.isoformat() for k, v in self.dates.items()},
            "links": list(self.links),
            "people": dict(self.people),
            "deadlines": [d.as_json() for d in self.deadlines],
            "escalations": [e.as_json() for e in self.escalations],
            "involvements": [i.as_json() for i in self.involvements],
            "flags": [dict(f) for f in self.flags],
        }
        return out | ({"guardian_contact": self.guardian_contact} if self.guardian_contact is not None else {})


@dataclass(frozen=True, slots=True)
class CaseloadNotes:
    """What the caseload report adds for the live CP+ISO cases: days since the Children's Guardian was last contacted
    (counted from the ISO where there has been no contact yet), and the cases flagged, by flag. References and
    numbers only."""

    guardian_days: dict[str, int]
    no_contact_yet: list[str]
    flagged: dict[str, list[str]]


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One row of a case's event log."""

    seq: int
    event: str
    from_state: str
    to_state: str
    actor: str
    role: str
    source: str
    on: date
    recorded_at: datetime
    payload: dict[str, Any]
    consequences: dict[str, list[Any]]
    escalation_no: int | None = None
    entered_by: str | None = None  # who typed it (None: recorded before issue 13, or by the system)
    channel: str | None = None

    def as_json(self) -> dict[str, Any]:
        item = {"seq": self.seq, "event": self.event, "from": self.from_state, "to": self.to_state,
                "actor": self.actor, "role": self.role, "source": self.source, "on": self.on.isoformat(),
                "recorded_at": self.recorded_at.isoformat(), "payload": self.payload,
                "consequences": self.consequences, "entered_by": self.entered_by,
                "channel": self.channel}  # fmt: skip
        return item | ({"escalation_no": self.escalation_no} if self.escalation_no is not None else {})


@dataclass(frozen=True, slots=True)
class WorkItem:
    """An open deadline on someone's worklist."""

    case: str
    kind: str
    state: str
    deadline: str
    due_on: date
    owner: str
    status: str  # overdue | due
    flags: list[str] = field(default_factory=list)
    escalation: str | None = None

    def as_json(self) -> dict[str, Any]:
        item = {"case": self.case, "kind": self.kind, "state": self.state, "deadline": self.deadline,
                "due_on": self.due_on.isoformat(), "owner": self.owner, "status": self.status,
                "flags": list(self.flags)}  # fmt: skip
        return item | ({"escalation": self.escalation} if self.escalation else {})


@dataclass(frozen=True, slots=True)
class EscalationItem:
    id: str
    case: str
    state: str
    raised_to: str
    reason: str
    level: int
    raised_on: date

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "case": self.case, "state": self.state, "raised_to": self.raised_to,
                "reason": self.reason, "level": self.level, "raised_on": self.raised_on.isoformat()}  # fmt: skip


@dataclass(frozen=True, slots=True)
class PersonView:
    user: str
    role: str
    manager: str | None
    active: bool = True
    display_name: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"user": self.user, "role": self.role, "manager": self.manager, "active": self.active,
                "display_name": self.display_name}  # fmt: skip


# -- cases --------------------------------------------------------------------------------------------------------


def case_id(connection: Connection, ref: str) -> int:
    found: int | None = connection.scalar(select(_CASES.c.id).where(_CASES.c.ref == ref))
    if found is None:
        raise Refused(f"unknown case {ref!r}")
    return found


def load(connection: Connection, ref: str) -> CaseFile:
    """The whole case aggregate (closed deadlines included)."""
    return load_cases(connection, [case_id(connection, ref)])[0].case


def _escalation_ids(connection: Connection, case_id: int) -> dict[int, int]:
    query = select(_ESCALATIONS.c.no, _ESCALATIONS.c.id).where(_ESCALATIONS.c.case_id == case_id)
    return {no: id_ for no, id_ in connection.execute(query)}


def case_view(connection: Connection, case: CaseFile, as_of: date | None = None) -> CaseView:
    """The case as ``show`` gives it; ``case`` must hold its whole history (closed deadlines too)."""
    if case.id is None:
        raise ValueError("a case view needs a stored case")
    ids = _escalation_ids(connection, case.id)
    deadlines = [DeadlineView(d.kind, d.due_on, d.status,
                              escalation_id(ids[d.escalation_no]) if d.escalation_no else None)
                 for d in case.deadlines]  # fmt: skip
    escalations = [EscalationView(escalation_id(ids[e.no]), e.state, e.raised_to, e.reason) for e in case.escalations]
    inv = _INVOLVEMENTS
    involvements = [InvolvementView(*row) for row in connection.execute(
        select(inv.c.user, inv.c.role, inv.c.from_on, inv.c.to_on).where(inv.c.case_id == case.id).order_by(inv.c.id)
    )]  # fmt: skip
    contact = None
    if case.kind is CaseKind.CP_ISO and as_of is not None:
        last = case.dates.get("last_guardian_contact")
        since = last or case.dates["iso_date"]
        contact = {"last": last.isoformat() if last else None, "days_since": (as_of - since).days,
                   "counted_from": "contact" if last else "iso_date"}  # fmt: skip
    return CaseView(case.ref, case.kind, str(case.state), case.procedure_version, case.child_id, dict(case.dates),
                    list(case.links), dict(case.people), deadlines, escalations, involvements,
                    list(case.details.get("flags", [])), contact)  # fmt: skip


def caseload_notes(connection: Connection, as_of: date) -> CaseloadNotes:
    """Days since the Guardian was last contacted, and the flags, of every live CP+ISO case (the caseload report)."""
    final = PROCEDURES[CaseKind.CP_ISO].final
    c = _CASES
    rows = connection.execute(
        select(c.c.ref, c.c.dates, c.c.details)
        .where(c.c.kind == CaseKind.CP_ISO.value, c.c.state.not_in(sorted(final)))
        .order_by(c.c.ref)
    )
    days: dict[str, int] = {}
    no_contact: list[str] = []
    flagged: dict[str, list[str]] = {}
    for ref, dates, details in rows:
        last = dates.get("last_guardian_contact")
        if last is None:
            no_contact.append(ref)
        days[ref] = (as_of - parse_date(last or dates["iso_date"])).days
        for f in details.get("flags", []):
            refs = flagged.setdefault(f["flag"], [])
            if ref not in refs:
                refs.append(ref)
    return CaseloadNotes(days, no_contact, flagged)


def history(connection: Connection, ref: str) -> list[HistoryEntry]:
    return history_of(connection, case_id(connection, ref))


def history_of(connection: Connection, case_row_id: int) -> list[HistoryEntry]:
    """The event log of the case with this row id, oldest first (the command line's ``history``, the desk's log)."""
    rows = connection.execute(
        select(*(_EVENTS.c[n] for n in ("seq", "event", "from_state", "to_state", "actor", "role", "source",
                                        "happened_on", "recorded_at", "payload", "consequences", "escalation_no",
                                        "entered_by", "channel")))
        .where(_EVENTS.c.case_id == case_row_id)
        .order_by(_EVENTS.c.seq)
    )  # fmt: skip
    return [HistoryEntry(*row) for row in rows]


def log_entries(connection: Connection, ref: str) -> list[LogEntry]:
    """The case's log as domain entries (for replay)."""
    cid = case_id(connection, ref)
    rows = connection.execute(select(_EVENTS).where(_EVENTS.c.case_id == cid).order_by(_EVENTS.c.seq))
    return [entry_from_row(r) for r in rows]


# -- worklists and lists --------------------------------------------------------------------------------------------


def worklist(connection: Connection, policy: Policy, as_of: date, within: int = 7,
             role: str | None = None, where: ColumnElement[bool] | None = None) -> list[WorkItem]:  # fmt: skip
    """Open deadlines overdue or due within ``within`` days (and reviews from the start of month 8), soonest
    first; open escalations' deadlines are owned by the role they are raised to."""
    if role is not None:
        try:
            Role(role)
        except ValueError:
            raise Refused(f"unknown role {role!r}") from None
    horizon = as_of + timedelta(days=within)
    d = _DEADLINES
    query = (
        select(d.c.kind, d.c.due_on, d.c.owner, d.c.escalation_no, d.c.case_id, _CASES.c.ref, _CASES.c.state,
               _CASES.c.kind, _CASES.c.dates, _ESCALATIONS.c.id)
        .join(_CASES, _CASES.c.id == d.c.case_id)
        .outerjoin(_ESCALATIONS, (_ESCALATIONS.c.case_id == d.c.case_id) & (_ESCALATIONS.c.no == d.c.escalation_no))
        .where(d.c.status == DeadlineStatus.OPEN.value)
        .where((d.c.due_on <= horizon) | (d.c.shown_from <= as_of))
        .order_by(d.c.due_on, _CASES.c.ref, d.c.id)
    )  # fmt: skip
    if role is not None:
        query = query.where(d.c.owner == role)
    if where is not None:  # the reader's cases only (storage.access)
        query = query.where(where)
    items = []
    for kind, due_on, owner, no, _cid, ref, state, case_kind, dates, esc_id in connection.execute(query):
        items.append(WorkItem(ref, case_kind, state, kind, due_on, owner, "overdue" if due_on < as_of else "due",
                              _flags(policy, case_kind, dates, kind),
                              escalation_id(esc_id) if no is not None else None))  # fmt: skip
    return items


def _flags(policy: Policy, kind: str, dates: Mapping[str, Any], deadline: str) -> list[str]:
    """Decision support: a CP review within N working days of a court hearing (§3)."""
    if kind != CaseKind.CP_ISO.value or deadline != "cp_review" or "next_review" not in dates:
        return []
    review = parse_date(dates["next_review"])
    cal = policy.calendar
    for hearing in ("cmh", "irh", "final_hearing"):
        if hearing in dates:
            when = parse_date(dates[hearing])
            lo, hi = sorted((review, when))
            if cal.working_days_between(lo, hi) <= policy.hearing_proximity_wd:
                return [CONSIDER_MOVING]
    return []


def escalations(connection: Connection, open_only: bool = False,
                where: ColumnElement[bool] | None = None) -> list[EscalationItem]:  # fmt: skip
    e = _ESCALATIONS
    query = select(e.c.id, _CASES.c.ref, e.c.state, e.c.raised_to, e.c.reason, e.c.level, e.c.raised_on).join(
        _CASES, _CASES.c.id == e.c.case_id
    )
    if where is not None:  # the reader's cases only (storage.access)
        query = query.where(where)
    if open_only:
        query = query.where(e.c.state != EscalationState.resolved.value)
    return [EscalationItem(escalation_id(row[0]), *row[1:]) for row in connection.execute(query.order_by(e.c.id))]


def people(connection: Connection, users: list[str] | None = None) -> list[PersonView]:
    """Everyone (or the people named), by user name."""
    p = _PEOPLE
    query = select(p.c.user, p.c.role, p.c.manager, p.c.active, p.c.display_name).order_by(p.c.user)
    if users is not None:
        query = query.where(p.c.user.in_(users))
    return [PersonView(u, r, m, bool(a), d) for u, r, m, a, d in connection.execute(query)]


def counts_by_state(connection: Connection) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    query = select(_CASES.c.kind, _CASES.c.state, func.count()).group_by(_CASES.c.kind, _CASES.c.state)
    for kind, state, n in connection.execute(query):
        out.setdefault(kind, {})[state] = n
    return out
