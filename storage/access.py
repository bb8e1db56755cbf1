"""Need-to-know reading (PROCEDURES §6, rev.): who may read which cases, decided in storage's queries, and every
read — allowed or refused — written to the access log with its reader, who typed it and the channel.

A reader sees a case when they are involved in it (the case names them as its social worker or IRO, they hold a
current involvement, or they recorded an event on it) or manage someone who is, up the line; when it is in their
role's queue (the Safeguarding Unit and its manager: cases with an open deadline the Safeguarding Unit owns, or
awaiting an IRO's allocation; legal: cases with an open deadline legal owns, or in a state where legal may act —
every live court order, since the court may discharge any and legal records it; CPCs and their team manager: every
CP+ISO case); or when orderwatch told them about it (a notification for them names it). A Head of Service and an
admin see every case (PROCEDURES §6: an admin answers subject-access requests; every read of theirs is logged like
anyone's).

An operator runs the system: they read lists — the worklist and escalations, which carry references, states, dates
and roles, no child's identifier or free text — but not a case (``show``, ``history``). The command line's own
operating-system account, when it is not a person orderwatch knows, reads as an operator (``status`` and the
operators' views keep working); any other name that is not an active person reads nothing.

A refused case read says only "not found or not yours to read": it does not confirm the case exists.
"""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass
from datetime import datetime
from enum import Enum, StrEnum
from functools import cache

from sqlalchemy import Connection, or_, select, union
from sqlalchemy.sql.elements import ColumnElement

from machines.errors import Refused
from machines.model import CaseKind, DeadlineStatus, Person, Role
from machines.names import shown
from machines.permissions import events_from
from machines.procedures import PROCEDURES
from storage import chain
from storage.expressions import case_person
from storage.models import access_log as _ACCESS
from storage.models import cases as _CASES
from storage.models import deadlines as _DEADLINES
from storage.models import events as _EVENTS
from storage.models import involvements as _INVOLVEMENTS
from storage.models import notifications as _NOTIFICATIONS
from storage.models import people as _PEOPLE
from storage.rows import load_people

__all__ = [
    "NOT_YOURS",
    "ROLE_REACH",
    "SEES_ALL",
    "SYSTEM_READER",
    "Access",
    "Reach",
    "Reader",
    "Scope",
    "as_reader",
    "case_filter",
    "log_read",
    "may_read_case",
    "os_account",
    "refuse_read",
    "scope_of",
]

NOT_YOURS = "{ref}: not found or not yours to read"


class Reach(StrEnum):
    """Which cases a role reads (beyond the cases they, or the people below them, are involved in)."""

    EVERY_CASE = "every case"
    INVOLVED = "cases they or their line are involved in"
    CP_ISO = "those, and every CP+ISO case"
    SU_QUEUE = "those, and SO cases awaiting an IRO or with a Safeguarding Unit deadline open"
    LEGAL_QUEUE = "those, and every live case in a state where legal may act"
    LISTS_ONLY = "no case; the worklist's and escalations' references and dates"
    NOTHING = "nothing"


# The one table of who reads what: the code below applies it, the README shows it (``cli.tables``), and
# tests/test_permission_matrix.py checks it on both backends.
ROLE_REACH: dict[Role, Reach] = {
    Role.SOCIAL_WORKER: Reach.INVOLVED,
    Role.TEAM_MANAGER: Reach.INVOLVED,
    Role.IRO: Reach.INVOLVED,
    Role.IRO_MANAGER: Reach.INVOLVED,
    Role.CPC: Reach.CP_ISO,
    Role.CPC_TEAM_MANAGER: Reach.CP_ISO,
    Role.HEAD_OF_SERVICE: Reach.EVERY_CASE,
    Role.SAFEGUARDING_UNIT: Reach.SU_QUEUE,
    Role.SAFEGUARDING_UNIT_MANAGER: Reach.SU_QUEUE,
    Role.LEGAL: Reach.LEGAL_QUEUE,
    Role.ADMIN: Reach.EVERY_CASE,
    Role.OPERATOR: Reach.LISTS_ONLY,
    Role.SYSTEM: Reach.NOTHING,
}
SEES_ALL = frozenset(r for r, reach in ROLE_REACH.items() if reach is Reach.EVERY_CASE)
# a queue's deadline owners: their open deadlines put a case in the queue
_QUEUE_OWNERS = {
    Reach.SU_QUEUE: (Role.SAFEGUARDING_UNIT, Role.SAFEGUARDING_UNIT_MANAGER),
    Reach.LEGAL_QUEUE: (Role.LEGAL,),
}


@dataclass(frozen=True, slots=True)
class Reader:
    """Who reads: ``user`` (the person reading, or on whose behalf), who typed it, and through which channel."""

    user: str
    entered_by: str | None = None
    channel: str = "system"

    @property
    def is_server(self) -> bool:
        """The command line's own operating-system account reading for itself (an operator)."""
        return self.channel == "cli" and self.entered_by == self.user


def os_account() -> str:
    """The operating-system account of this process (the command line's, a worker's): from the real user id, not
    ``$USER`` or ``$LOGNAME``, which anyone can set."""
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:  # a user id without a passwd entry (a container): the id itself
        return f"uid-{os.getuid()}"


SYSTEM_READER = Reader("system", "system", "system")  # the system's own reads (flows: references and dates only)


def as_reader(reader: str | Reader) -> Reader:
    """A reader given by name alone reads as that person, through the system channel."""
    return reader if isinstance(reader, Reader) else Reader(reader)


class Scope(Enum):
    ALL_CASES = "all"  # every case, content included
    LISTS = "lists"  # lists of references and dates (operators), no case
    SOME = "some"  # the cases of ``condition``
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Access:
    """What a reader may read: the scope, and for ``SOME`` the condition on ``cases`` that picks their cases."""

    scope: Scope
    condition: ColumnElement[bool] | None = None
    person: Person | None = None

    def lists(self) -> bool:
        return self.scope is not Scope.NONE


def _line(connection: Connection, user: str) -> list[str]:
    """The user and everyone below them through ``people.manager`` (recursive; a cycle ends it)."""
    p = _PEOPLE
    top = select(p.c.user).where(p.c.user == user).cte("reader_line", recursive=True)
    tree = top.union(select(p.c.user).join(top, p.c.manager == top.c.user))
    return list(connection.scalars(select(tree.c.user)))


def scope_of(connection: Connection, reader: Reader) -> Access:
    """What ``reader`` may read."""
    if reader is SYSTEM_READER:
        return Access(Scope.LISTS)
    person = load_people(connection, [reader.user]).get(reader.user)
    if person is None or not person.active:
        return Access(Scope.LISTS if person is None and reader.is_server else Scope.NONE, person=person)
    reach = ROLE_REACH[person.role]
    if reach is Reach.EVERY_CASE:
        return Access(Scope.ALL_CASES, person=person)
    if reach is Reach.LISTS_ONLY:
        return Access(Scope.LISTS, person=person)
    if reach is Reach.NOTHING:
        return Access(Scope.NONE, person=person)
    return Access(Scope.SOME, _condition(connection, person), person)


@cache
def _acting_states(role: Role) -> dict[CaseKind, frozenset[str]]:
    """The states in which ``role`` may fire an event that belongs to nobody in particular (its queue's work: the
    Safeguarding Unit's allocation of an IRO; legal's applications, court outcomes and discharges)."""
    out: dict[CaseKind, frozenset[str]] = {}
    for kind, proc in PROCEDURES.items():
        states = {str(s.value) for s in proc.machine.states
                  if any(role in e.roles and e.owner is None for e in events_from(kind, str(s.value)))}  # fmt: skip
        if states:
            out[kind] = frozenset(states)
    return out


def _condition(connection: Connection, person: Person) -> ColumnElement[bool]:
    c, inv, d, n = _CASES, _INVOLVEMENTS, _DEADLINES, _NOTIFICATIONS
    line = _line(connection, person.user)
    involved = union(
        select(c.c.id).where(case_person(c.c.people, "social_worker").in_(line)),
        select(c.c.id).where(case_person(c.c.people, "iro").in_(line)),
        select(inv.c.case_id).where(inv.c.user.in_(line), inv.c.to_on.is_(None)),
    )
    parts: list[ColumnElement[bool]] = [
        c.c.id.in_(involved),
        c.c.ref.in_(select(n.c.case_ref).where(n.c.recipient == person.user, n.c.case_ref.is_not(None))),
    ]
    reach = ROLE_REACH[person.role]
    owners = _QUEUE_OWNERS.get(reach)
    if owners:
        queued = select(d.c.case_id).where(d.c.status == DeadlineStatus.OPEN.value,
                                           d.c.owner.in_([o.value for o in owners]))  # fmt: skip
        parts.append(c.c.id.in_(queued))
        for kind, states in _acting_states(person.role).items():
            parts.append((c.c.kind == kind.value) & c.c.state.in_(sorted(states)))
    if reach is Reach.CP_ISO:
        parts.append(c.c.kind == CaseKind.CP_ISO.value)
    return or_(*parts)


def may_read_case(connection: Connection, access: Access, ref: str) -> bool:
    """Whether the case exists and ``access`` reaches it."""
    if access.scope is Scope.ALL_CASES:
        return connection.scalar(select(_CASES.c.id).where(_CASES.c.ref == ref)) is not None
    if access.scope is not Scope.SOME or access.condition is None or access.person is None:
        return False
    if connection.scalar(select(_CASES.c.id).where(_CASES.c.ref == ref, access.condition)) is not None:
        return True
    # whoever recorded an event on a case is involved in it (legal, having recorded a discharge, sees the result);
    # asked of one case only (the log's (case_id, seq) index), never for a list
    acted = (
        select(_EVENTS.c.id)
        .join(_CASES, _CASES.c.id == _EVENTS.c.case_id)
        .where(_CASES.c.ref == ref, _EVENTS.c.actor == access.person.user)
        .limit(1)
    )
    return connection.scalar(acted) is not None


def case_filter(access: Access) -> ColumnElement[bool] | None:
    """The condition on ``cases`` a list must apply for this reader (``None``: every case)."""
    if access.scope in (Scope.ALL_CASES, Scope.LISTS):
        return None
    if access.scope is Scope.SOME and access.condition is not None:
        return access.condition
    return _CASES.c.id.is_(None)  # nothing


def log_read(connection: Connection, ref: str, what: str, reader: Reader, now: datetime, *,
             allowed: bool = True) -> None:  # fmt: skip
    """One access-log row (``ref`` '*' for a list)."""
    # sealed onto the access log's hash chain (storage.chain)
    chain.append(connection, _ACCESS, [{"case_ref": ref, "what": what, "actor": reader.user, "recorded_at": now,
                                        "entered_by": reader.entered_by, "channel": reader.channel,
                                        "allowed": allowed}])  # fmt: skip


def refuse_read(ref: str) -> Refused:
    """The refusal of a case read: it does not say whether the case exists."""
    return Refused(NOT_YOURS.format(ref=shown(ref) if not ref.isprintable() else ref))
