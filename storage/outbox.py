"""The notification outbox and the involvements, written from a unit of work's domain events in its own transaction.

Who is told (PROCEDURES §7): the Safeguarding Unit of a registration, the social worker of the IRO's name, and
whoever an escalation is raised to (when raised, and at each level it climbs). Each notice is a row of
``notifications`` with an idempotency key, so it is made once however often its cause is replayed or retried; the
Prefect ``notify-escalation`` flow computes the same keys. Involvements are the dated record of who is involved in
a case in which role.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, insert, select, update

from machines.events import (
    DomainEvent,
    EscalationClimbed,
    EscalationRaised,
    InvolvementEnded,
    InvolvementStarted,
    NotificationDue,
)
from machines.model import CaseFile, CaseKind, LogEntry, Source
from machines.wording import deadline_words, escalation_reason_words, event_title
from storage.chain import head_of
from storage.ids import escalation_id
from storage.models import escalations as _ESCALATIONS
from storage.models import involvements as _INVOLVEMENTS
from storage.models import notifications as _NOTIFICATIONS
from storage.models import people as _PEOPLE
from storage.models import people_log as _PEOPLE_LOG

__all__ = [
    "ON_BEHALF",
    "Notice",
    "People",
    "escalation_notices",
    "escalation_recipients",
    "insert_new",
    "people_roles",
    "write",
]

People = Mapping[str, tuple[str, str | None]]  # user -> (role, manager)
_TELLS = {"registration", "iro_allocated"}


@dataclass(frozen=True, slots=True)
class Notice:
    """One notification row, before it is written."""

    key: str
    recipient: str
    kind: str
    case_ref: str | None
    subject: str
    body: str
    role: str | None = None
    reason: str | None = None
    escalation_id: int | None = None


# Who may be told, per database, with the people log's length and head when it was read: every change to a person is
# a row of that log (``storage.people``), so while its head stands still the people have not changed — one indexed
# read instead of every person, on each unit of work that sends notices.
_TOLD: weakref.WeakKeyDictionary[Engine, tuple[tuple[int, str], People]] = weakref.WeakKeyDictionary()


def people_roles(connection: Connection) -> People:
    """Who may be told, with their role and manager: active people only (a leaver is told nothing more; a line
    through them ends there, and the role's holders are told instead)."""
    head = head_of(connection, _PEOPLE_LOG.name)  # read first: the people read after it are at least as new
    cached = _TOLD.get(connection.engine)
    if cached is not None and cached[0] == head:
        return cached[1]
    p = _PEOPLE
    found = {u: (r, m) for u, r, m in connection.execute(select(p.c.user, p.c.role, p.c.manager).where(p.c.active))}
    _TOLD[connection.engine] = (head, found)
    return found


def holders(people: People, role: str) -> list[str]:
    return sorted(u for u, (r, _) in people.items() if r == role)


def escalation_recipients(people: People, role: str, starts: Iterable[str | None]) -> list[str]:
    """The named person where the case knows them (up the line of its social worker, its IRO, or whoever registered
    it); else every holder of the role."""
    for start in starts:
        seen: set[str] = set()
        user = start
        while user is not None and user in people and user not in seen:
            seen.add(user)
            if people[user][0] == role:
                return [user]
            user = people[user][1]
    return holders(people, role)


def case_starts(case_people: Mapping[str, str], details: Mapping[str, Any]) -> list[str | None]:
    return [case_people.get("social_worker"), case_people.get("iro"), details.get("registered_by")]


def escalation_notices(esc_id: int, ref: str, reason: str, role: str, level: int, raised_on: date,
                       recipients: Sequence[str], dues: Mapping[str, date]) -> list[Notice]:  # fmt: skip
    """The notices of an escalation raised (level 1) or climbed (level 2…) to ``role``: one per recipient."""
    public = escalation_id(esc_id)
    how = "raised to you" if level == 1 else f"escalated to you (level {level})"
    by = "; ".join(f"{what} by {due.isoformat()}" for what, due in dues.items())
    why = escalation_reason_words(reason)
    why = why[0].lower() + why[1:]
    subject = f"{public} on {ref}: {why}, {how}"
    body = (f"Escalation {public} on case {ref} ({why}) was {how} as {role} on {raised_on.isoformat()}."
            + (f" {by[0].upper()}{by[1:]}." if by else "") + f"\n/cases/{ref}")  # fmt: skip
    return [Notice(f"escalation:{esc_id}:L{level}:{user}", user, "escalation", ref, subject[:200], body, role, reason,
                   esc_id) for user in recipients]  # fmt: skip


def _tell_notices(e: NotificationDue, case: CaseFile, people: People) -> list[Notice]:
    about = dict(e.about)
    recipients = [e.user] if e.user is not None else holders(people, e.role.value if e.role else "")
    notices = []
    for user in recipients:
        role = people.get(user, (None, None))[0]
        if e.kind == "registration":
            due = min((d.due_on for d in case.deadlines if d.kind == "iro_allocation" and d.is_open), default=None)
            subject = f"{case.ref}: a Supervision Order to allocate to a named IRO"
            body = (f"Supervision Order case {case.ref} was registered by {about.get('by')} on {e.on.isoformat()}.\n"
                    f"Child: {case.child_id}\nOrder made: {about.get('order_date')}\nExpiry: {about.get('expiry')}\n"
                    + (f"Allocate a named IRO by {due.isoformat()}.\n" if due else "") + f"/cases/{case.ref}")  # fmt: skip
        else:
            subject = f"{case.ref}: the named IRO is {about.get('iro')}"
            body = (f"The named IRO for case {case.ref} is {about.get('iro')} (allocated on {about.get('on')} by "
                    f"{about.get('by')}).\n" + _now_due(case) + f"/cases/{case.ref}")  # fmt: skip
        notices.append(Notice(f"{e.kind}:{case.ref}:{user}", user, e.kind, case.ref, subject[:200], body, role))
    return notices


def _now_due(case: CaseFile, shown: int = 3) -> str:
    """What the case has due next (PROCEDURES §7: a notice carries the due date): its soonest open deadlines."""
    due = sorted((d.due_on, d.kind) for d in case.deadlines if d.is_open and d.escalation_no is None)[:shown]
    return "".join(f"Now due: {deadline_words(kind)} by {on.isoformat()}.\n" for on, kind in due)


def _escalation_ids(connection: Connection, pairs: set[tuple[int, int]]) -> dict[tuple[int, int], int]:
    case_ids = sorted({c for c, _ in pairs})
    rows = connection.execute(
        select(_ESCALATIONS.c.case_id, _ESCALATIONS.c.no, _ESCALATIONS.c.id).where(_ESCALATIONS.c.case_id.in_(case_ids))
    )
    return {(c, n): i for c, n, i in rows if (c, n) in pairs}


def _dues(case: CaseFile, no: int) -> dict[str, date]:
    out = {}
    for d in case.deadlines:
        if d.is_open and d.escalation_no == no:
            out["acknowledge" if d.kind == "escalation_acknowledgement" else "resolve"] = d.due_on
    return dict(sorted(out.items()))


def insert_new(connection: Connection, notices: Sequence[Notice], now: datetime, source: str) -> list[Notice]:
    """Insert the notices whose keys are not there yet (idempotent); returns those inserted."""
    if not notices:
        return []
    keys = [n.key for n in notices]
    existing = set(connection.scalars(select(_NOTIFICATIONS.c.key).where(_NOTIFICATIONS.c.key.in_(keys))))
    new = list({n.key: n for n in notices if n.key not in existing}.values())
    if new:
        connection.execute(insert(_NOTIFICATIONS), [
            {"key": n.key, "recipient": n.recipient, "kind": n.kind, "case_ref": n.case_ref,
             "escalation_id": n.escalation_id, "role": n.role, "reason": n.reason, "subject": n.subject,
             "body": n.body, "created_at": now, "source": source, "status": "pending", "attempts": 0}
            for n in new
        ])  # fmt: skip
    return new


def write(connection: Connection, events: Sequence[DomainEvent], cases: Mapping[str, CaseFile], now: datetime,
          source: str | None) -> None:  # fmt: skip
    """Write the notices and involvements the events call for (their cases already written, with their ids)."""
    _involvements(connection, events, cases)
    wanted = [e for e in events if isinstance(e, (NotificationDue, EscalationRaised, EscalationClimbed))]
    if not wanted:
        return
    people = people_roles(connection)
    pairs = {(cases[e.case].id or 0, e.no) for e in wanted if isinstance(e, (EscalationRaised, EscalationClimbed))}
    ids = _escalation_ids(connection, pairs) if pairs else {}
    notices: list[Notice] = []
    for e in wanted:
        case = cases[e.case]
        if isinstance(e, NotificationDue):
            if e.kind in _TELLS:
                notices.extend(_tell_notices(e, case, people))
            continue
        esc_id = ids.get((case.id or 0, e.no))
        if esc_id is None:
            continue
        level = 1 if isinstance(e, EscalationRaised) else e.level
        role = e.raised_to.value
        recipients = escalation_recipients(people, role, case_starts(case.people, case.details))
        notices.extend(escalation_notices(esc_id, case.ref, e.reason, role, level, e.on, recipients,
                                          _dues(case, e.no)))  # fmt: skip
    insert_new(connection, notices, now, source or "manual")


ON_BEHALF = "entered_on_your_behalf"


def on_behalf_notices(ref: str, kind: CaseKind, entries: Sequence[LogEntry],
                      stamps: Sequence[tuple[str | None, str]], first_seq: int) -> list[Notice]:  # fmt: skip
    """A notice to the actor of each manual entry someone else entered on their behalf (the command line's
    ``--actor``, a flow run from the Prefect UI): the case reference, the event, who entered it and how — no
    personal data of the child."""
    out = []
    for i, (entry, (entered_by, channel)) in enumerate(zip(entries, stamps, strict=True)):
        if entry.source is not Source.MANUAL or entered_by is None or entered_by == entry.actor:
            continue
        seq = first_seq + i
        what = f"“{event_title(kind.value, entry.event, escalation=entry.escalation_no is not None)}”"
        subject = f"{ref}: {what} was recorded on your behalf"
        body = (f"{entered_by} recorded {what} on case {ref} on your behalf (on {entry.happened_on.isoformat()},"
                f" through {channel}). If you did not ask for this, tell your manager.\n/cases/{ref}")  # fmt: skip
        out.append(Notice(f"{ON_BEHALF}:{ref}:{seq}", entry.actor, ON_BEHALF, ref, subject[:200], body))
    return out


def _involvements(connection: Connection, events: Sequence[DomainEvent], cases: Mapping[str, CaseFile]) -> None:
    """An involvement ended is closed on its day (another person took the role); a new one starts that day."""
    inv = _INVOLVEMENTS
    started = []
    for e in events:
        if isinstance(e, InvolvementEnded):
            connection.execute(
                update(inv)
                .where(and_(inv.c.case_id == cases[e.case].id, inv.c.user == e.user, inv.c.role == e.role.value,
                            inv.c.to_on.is_(None)))
                .values(to_on=e.on)
            )  # fmt: skip
        elif isinstance(e, InvolvementStarted):
            started.append({"case_id": cases[e.case].id, "user": e.user, "role": e.role.value, "from_on": e.on})
    if started:
        connection.execute(insert(inv), started)
