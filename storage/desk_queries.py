"""The desk's read models: a person's work, their team's, role queues, escalations, notifications (the case page's
read is ``storage.desk_case``).

Typed results, a few statements each, every one served by an index (migration ``0005_desk``):

* a person's cases: ``ix_cases_social_worker`` / ``ix_cases_iro`` (the user names in ``cases.people``), for everyone
  in the person's line (themselves and everyone below them through ``people.manager``, ``ix_people_manager``);
* a role's queue and the kinds of work a role does: ``ix_deadlines_kind_status_due_on``;
* escalations raised to a role: ``ix_escalations_raised_to_state_raised_on``.

Who sees what here is the desk's *worklist* rule, not the need-to-know rule of issue 13: every function takes the
reader's user name (``reader``) so that storage can enforce reading rights in the same place when they land.

"Overdue" work is work still outstanding after its due date: an open deadline due before today (the morning's sweep
has not run yet), or a deadline the sweep marked missed whose work is still to do — the case is still in a state the
deadline lives in, no later deadline of its kind replaced it, and none of the events that meet it has happened since
(deadlines missed more than a year ago are left to their escalations).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, Select, and_, false, func, literal, or_, select, union

from machines.model import DeadlineStatus, EscalationState, Person, Role
from machines.permissions import kinds_met_by, queue_kinds
from machines.procedures import PROCEDURES, RULES
from storage.expressions import case_person
from storage.ids import escalation_id
from storage.models import cases as _CASES
from storage.models import deadlines as _DEADLINES
from storage.models import escalations as _ESCALATIONS
from storage.models import events as _EVENTS
from storage.models import notifications as _NOTIFICATIONS
from storage.models import people as _PEOPLE
from storage.rows import load_people

__all__ = [
    "QUEUE_ROLES",
    "SEES_EVERY_CASE",
    "EscalationRow",
    "Member",
    "MyWork",
    "NoteRow",
    "WorkItem",
    "alive_when_missed",
    "escalations_for",
    "line",
    "line_case_ids",
    "manages",
    "my_work",
    "notifications_for",
    "people_with_role",
    "person",
    "work_items",
]

# Roles whose work is a queue for the whole service rather than the cases of their line (PROCEDURES §6: "their
# role's work queue"): the Safeguarding Unit's IRO allocations (and IRO managers, who may allocate too), Legal's
# gateway, filings and 26-week dates, the CPCs' discussions and reviews of CP+ISO cases.
QUEUE_ROLES = frozenset(
    {Role.SAFEGUARDING_UNIT, Role.SAFEGUARDING_UNIT_MANAGER, Role.IRO_MANAGER, Role.LEGAL, Role.CPC,
     Role.CPC_TEAM_MANAGER}
)  # fmt: skip
SEES_EVERY_CASE = frozenset({Role.HEAD_OF_SERVICE})  # the top of every line
ITEM_LIMIT = 600  # rows read for one worklist: the page shows the most urgent of them and says there are more
MISSED_LOOKBACK_DAYS = 366  # missed work still to do is listed for deadlines due within the last year


@dataclass(frozen=True, slots=True)
class Member:
    """A person and their manager (a line is a list of these)."""

    user: str
    role: str
    manager: str | None
    display_name: str | None = None


@dataclass(frozen=True, slots=True)
class WorkItem:
    """A deadline on someone's work: open (due, or overdue before the sweep) or missed with its work still to do."""

    deadline_id: int
    case: str
    case_kind: str
    state: str
    kind: str
    due_on: date
    missed: bool  # the sweep marked it missed (an escalation was raised); the work is still to do
    responsible: str | None  # the person it falls to (None: a role's queue)
    owner_role: str
    social_worker: str | None
    iro: str | None
    queue: bool = False  # found through the reader's role queue

    def overdue(self, as_of: date) -> bool:
        return self.missed or self.due_on < as_of


@dataclass(frozen=True, slots=True)
class EscalationRow:
    id: str  # ESC-<id>
    row_id: int
    case: str
    case_kind: str
    no: int
    reason: str
    raised_to: str
    raised_on: date
    state: str
    level: int
    deadline_kind: str | None
    due: dict[str, date] = field(default_factory=dict)  # its own open deadlines: acknowledge / resolve by


@dataclass(frozen=True, slots=True)
class NoteRow:
    """A notification listed for its recipient."""

    case: str | None
    reason: str | None
    role: str | None
    created_on: date
    subject: str | None = None  # the outbox's subject line, where the table has one (migration 0003)


# -- people ----------------------------------------------------------------------------------------------------------


def person(connection: Connection, user: str) -> Person | None:
    """The person with this user name, or None."""
    return load_people(connection, [user]).get(user)


def line(connection: Connection, user: str) -> list[Member]:
    """The person and everyone below them through ``people.manager`` (recursive; cycles end it)."""
    p = _PEOPLE
    top = select(p.c.user, p.c.role, p.c.manager).where(p.c.user == user).cte("line", recursive=True)
    below = select(p.c.user, p.c.role, p.c.manager).join(top, p.c.manager == top.c.user)
    tree = top.union(below)  # UNION, not UNION ALL: a cycle in the managers adds nobody twice and so ends
    return [Member(*row) for row in connection.execute(select(tree.c.user, tree.c.role, tree.c.manager))]


def manages(connection: Connection, user: str) -> bool:
    """Whether anyone has ``user`` as their manager (``ix_people_manager``)."""
    return connection.scalar(select(_PEOPLE.c.user).where(_PEOPLE.c.manager == user).limit(1)) is not None


def people_with_role(connection: Connection, role: str | None, users: Sequence[str] | None = None) -> list[Member]:
    """Everyone active holding ``role`` (everyone active if ``None``; of ``users`` only, if given), by user name: who
    a form may name (a leaver cannot be allocated)."""
    p = _PEOPLE
    query = select(p.c.user, p.c.role, p.c.manager, p.c.display_name).where(p.c.active).order_by(p.c.user)
    if users is not None:
        query = query.where(p.c.user.in_(list(users)))
    if role is not None:
        query = query.where(p.c.role == role)
    return [Member(*row) for row in connection.execute(query)]


# -- work ------------------------------------------------------------------------------------------------------------

_SW = case_person(_CASES.c.people, "social_worker")
_IRO = case_person(_CASES.c.people, "iro")


def line_case_ids(users: Sequence[str]) -> Any:
    """The ids of the cases whose allocated social worker or IRO is one of ``users`` (two index searches)."""
    return union(select(_CASES.c.id).where(_SW.in_(users)), select(_CASES.c.id).where(_IRO.in_(users)))


def alive_when_missed(kinds: Iterable[str]) -> Any:
    """A missed deadline whose case is still in a state it lives in (its work may still be to do)."""
    parts = [and_(_DEADLINES.c.kind == k, _CASES.c.state.in_(sorted(RULES[k].alive_in))) for k in sorted(kinds)]
    return or_(*parts) if parts else false()


_ITEM_COLUMNS = (_DEADLINES.c.id, _CASES.c.ref, _CASES.c.kind, _CASES.c.state, _DEADLINES.c.kind,
                 _DEADLINES.c.due_on, _DEADLINES.c.status, _DEADLINES.c.owner, _SW, _IRO, _DEADLINES.c.case_id,
                 _DEADLINES.c.armed_on)  # fmt: skip


def _item_statements(kind: str, as_of: date, horizon: date) -> list[Select[Any]]:
    """The statements reading one kind of work, each a range of ``ix_deadlines_kind_status_due_on`` read in due
    order (so a queue's most urgent ``ITEM_LIMIT`` are found without sorting the whole queue): open and due by the
    horizon; open and shown early (the month-9 review from month 8); missed within the last year and still alive."""
    d, c = _DEADLINES, _CASES
    base = select(*_ITEM_COLUMNS).join(c, c.c.id == d.c.case_id).where(d.c.kind == kind, d.c.escalation_no.is_(None))
    statements = [
        base.where(d.c.status == DeadlineStatus.OPEN.value, d.c.due_on <= horizon),
        base.where(d.c.status == DeadlineStatus.MISSED.value, d.c.due_on >= as_of - timedelta(days=MISSED_LOOKBACK_DAYS),
                   c.c.state.in_(sorted(RULES[kind].alive_in))),
    ]  # fmt: skip
    if RULES[kind].shown_from is not None:
        statements.append(base.where(d.c.status == DeadlineStatus.OPEN.value, d.c.due_on > horizon,
                                     d.c.shown_from <= as_of))  # fmt: skip
    # due_on alone: the index's own order, so the scan stops at the limit (a tie-break would sort every equal date)
    return [q.order_by(d.c.due_on).limit(ITEM_LIMIT) for q in statements]


def _scoped_items(kinds: Iterable[str], as_of: date, horizon: date, case_ids: list[int]) -> Select[Any]:
    """Work of these kinds on a few cases (a person's line): one statement, through ``deadlines.case_id``."""
    d, c = _DEADLINES, _CASES
    kinds = sorted(kinds)
    early = [k for k in kinds if RULES[k].shown_from is not None]
    return (
        select(*_ITEM_COLUMNS)
        .join(c, c.c.id == d.c.case_id)
        .where(d.c.case_id.in_(case_ids), d.c.escalation_no.is_(None), d.c.kind.in_(kinds))
        .where(or_(and_(d.c.status == DeadlineStatus.OPEN.value,
                        or_(d.c.due_on <= horizon, and_(d.c.kind.in_(early), d.c.shown_from <= as_of))),
                   and_(d.c.status == DeadlineStatus.MISSED.value,
                        d.c.due_on >= as_of - timedelta(days=MISSED_LOOKBACK_DAYS), alive_when_missed(kinds))))
        .order_by(d.c.due_on, d.c.id)
        .limit(ITEM_LIMIT + 1)
    )  # fmt: skip


def _read_items(connection: Connection, kinds: Iterable[str], as_of: date, horizon: date,
                case_ids: list[int] | None) -> tuple[list[Any], bool]:  # fmt: skip
    """Rows of work of these kinds, the most urgent ``ITEM_LIMIT``; and whether there were more. On the cases
    named (a line) in one statement; on every case (a queue, a Head of Service) kind by kind, in due order."""
    if case_ids is not None:
        found = list(connection.execute(_scoped_items(kinds, as_of, horizon, case_ids))) if case_ids else []
        return found[:ITEM_LIMIT], len(found) > ITEM_LIMIT
    rows: list[Any] = []
    full = False
    for kind in sorted(kinds):
        for statement in _item_statements(kind, as_of, horizon):
            found = list(connection.execute(statement))
            full = full or len(found) >= ITEM_LIMIT
            rows.extend(found)
    rows.sort(key=lambda r: (r[5], r[0]))
    return rows[:ITEM_LIMIT], full or len(rows) > ITEM_LIMIT


def _still_to_do(connection: Connection, rows: list[Any]) -> set[int]:
    """Of the missed rows, the deadline ids whose work is still to do: no later deadline of the kind on the case,
    and no event that meets the kind since it was armed (two queries over the cases concerned)."""
    missed = [r for r in rows if r[6] == DeadlineStatus.MISSED.value]
    if not missed:
        return set()
    case_ids = sorted({r[10] for r in missed})
    kinds = sorted({r[4] for r in missed})
    latest = {
        (cid, kind): top
        for cid, kind, top in connection.execute(
            select(_DEADLINES.c.case_id, _DEADLINES.c.kind, func.max(_DEADLINES.c.id))
            .where(_DEADLINES.c.case_id.in_(case_ids), _DEADLINES.c.kind.in_(kinds),
                   _DEADLINES.c.escalation_no.is_(None))
            .group_by(_DEADLINES.c.case_id, _DEADLINES.c.kind)
        )
    }  # fmt: skip
    meeting = sorted({e for k in kinds for e in RULES[k].met_by})
    last_done: dict[tuple[int, str], date] = {}
    if meeting:
        for cid, event, on in connection.execute(
            select(_EVENTS.c.case_id, _EVENTS.c.event, func.max(_EVENTS.c.happened_on))
            .where(_EVENTS.c.case_id.in_(case_ids), _EVENTS.c.event.in_(meeting), _EVENTS.c.escalation_no.is_(None))
            .group_by(_EVENTS.c.case_id, _EVENTS.c.event)
        ):
            last_done[(cid, event)] = on
    out = set()
    for r in missed:
        did, kind, cid, armed_on = r[0], r[4], r[10], r[11]
        if latest.get((cid, kind)) != did:
            continue
        if any(last_done.get((cid, e), date.min) >= armed_on for e in RULES[kind].met_by):
            continue
        out.add(did)
    return out


def _responsible(owner: str, sw: str | None, iro: str | None, managers: dict[str, str | None]) -> str | None:
    """Who a deadline falls to: the allocated worker for their own role, their manager for a manager's role."""
    if owner == Role.SOCIAL_WORKER.value:
        return sw
    if owner == Role.IRO.value:
        return iro
    if owner == Role.TEAM_MANAGER.value and sw:
        return managers.get(sw)
    if owner == Role.IRO_MANAGER.value and iro:
        return managers.get(iro)
    return None


def work_items(connection: Connection, reader: str, as_of: date, *, horizon_days: int = 56, team: bool = False,
               me: Person | None = None, users: list[str] | None = None) -> tuple[list[WorkItem], bool]:  # fmt: skip
    """The reader's work (``team``: the work of everyone in their line, whoever it falls to), most urgent first,
    and whether there was more than could be read.

    Mine: the deadlines my role can meet (an event I may fire meets them) on the cases of my line — the cases
    allocated to me or to anyone I manage, up the line (a Head of Service: every case) — plus my role's queue.
    ``me`` and ``users`` (the reader's line), when the caller has them, save reading them again.
    """
    me = me or person(connection, reader)
    if me is None:
        return [], False
    everything = me.role in SEES_EVERY_CASE
    if users is None:
        users = [] if everything and not team else [m.user for m in line(connection, reader)]
    horizon = as_of + timedelta(days=horizon_days)
    scope = None if everything else list(connection.scalars(line_case_ids(users)))
    kinds = set(RULES) - {k for k in RULES if k.startswith("escalation_")} if team else kinds_met_by(me.role)
    rows, more = _read_items(connection, kinds, as_of, horizon, scope)
    queue_rows: list[Any] = []
    if me.role in QUEUE_ROLES and not team and queue_kinds(me.role):
        queue_rows, more_queued = _read_items(connection, queue_kinds(me.role), as_of, horizon, None)
        more = more or more_queued
    truncated = more
    todo = _still_to_do(connection, rows + queue_rows)
    # managers matter for the line's own work (the ownership rule) and for a manager's deadline on a queue's case
    managed = [r for r in queue_rows if r[7] in (Role.TEAM_MANAGER.value, Role.IRO_MANAGER.value)]
    named = {u for r in [*rows, *managed] for u in (r[8], r[9]) if u}
    managers = {p.user: p.manager for p in load_people(connection, sorted(named)).values()}
    in_line = set(users)
    items: dict[int, WorkItem] = {}
    for source, queued in ((rows, False), (queue_rows, True)):
        for r in source:
            did, ref, case_kind, state, kind, due_on, status, owner, sw, iro = r[:10]
            if did in items or (status == DeadlineStatus.MISSED.value and did not in todo):
                continue
            responsible = _responsible(owner, sw, iro, managers)
            if not team and not queued and not everything and not _mine(me, kind, sw, iro, in_line, managers):
                continue
            items[did] = WorkItem(did, ref, case_kind, state, kind, due_on, status == DeadlineStatus.MISSED.value,
                                  responsible, owner, sw, iro, queued)  # fmt: skip
    ordered = sorted(items.values(), key=lambda i: (not i.overdue(as_of), i.due_on, i.case, i.deadline_id))
    return ordered, truncated


def _mine(me: Person, kind: str, sw: str | None, iro: str | None, in_line: set[str],
          managers: dict[str, str | None]) -> bool:  # fmt: skip
    """The ownership rule, for a worklist: an event that meets ``kind`` and belongs to the allocated worker is mine
    only if I am that worker or their manager (``machines.casework`` refuses anyone else)."""
    for proc in PROCEDURES.values():
        for name in RULES[kind].met_by:
            spec = proc.events.get(name)
            if spec is None or me.role not in spec.roles:
                continue
            if spec.owner is None:
                return sw in in_line or iro in in_line
            owner = {Role.SOCIAL_WORKER: sw, Role.IRO: iro}.get(Role(spec.owner))  # the case's person of that role
            if owner is None or owner == me.user or managers.get(owner) == me.user:
                return True
    return False


@dataclass(frozen=True, slots=True)
class MyWork:
    """Everything My work shows, read in one transaction."""

    me: Person
    manages: bool
    items: list[WorkItem]
    truncated: bool
    escalations: list[EscalationRow]
    escalations_total: int
    notifications: list[NoteRow]


def my_work(connection: Connection, reader: str, as_of: date, escalations_shown: int = 20) -> MyWork | None:
    """The reader's work, escalations and notifications (None if orderwatch does not know them)."""
    me = person(connection, reader)
    if me is None:
        return None
    users = None if me.role in SEES_EVERY_CASE else [m.user for m in line(connection, reader)]
    items, truncated = work_items(connection, reader, as_of, me=me, users=users)
    escalations, total = escalations_for(connection, reader, limit=escalations_shown, me=me, users=users)
    return MyWork(me, manages(connection, reader), items, truncated, escalations, total,
                  notifications_for(connection, reader))  # fmt: skip


# -- escalations -----------------------------------------------------------------------------------------------------


def escalations_for(connection: Connection, reader: str, *, team: bool = False, open_only: bool = True,
                    limit: int = 100, me: Person | None = None,
                    users: list[str] | None = None) -> tuple[list[EscalationRow], int]:  # fmt: skip
    """Open escalations raised to the reader: to their role on the cases of their line (a queue role, or a Head of
    Service: every one raised to the role). ``team``: every escalation on the cases of the reader's line. The oldest
    ``limit`` of them, and how many there are."""
    me = me or person(connection, reader)
    if me is None:
        return [], 0

    def line_users() -> list[str]:
        return users if users is not None else [m.user for m in line(connection, reader)]

    e, c = _ESCALATIONS, _CASES
    query = select(e.c.id)  # the escalations chosen from their own table (its index), the cases joined to the page's
    if open_only:  # IN, not !=: a range of ix_escalations_raised_to_state_raised_on
        query = query.where(e.c.state.in_([s.value for s in EscalationState if s is not EscalationState.resolved]))
    everything = me.role in SEES_EVERY_CASE
    if team:
        if not everything:
            query = query.where(e.c.case_id.in_(line_case_ids(line_users())))
        query = query.where(e.c.raised_to != me.role.value)
    else:
        query = query.where(e.c.raised_to == me.role.value)
        if not everything and me.role not in QUEUE_ROLES:
            query = query.where(e.c.case_id.in_(line_case_ids(line_users())))
    page = query.order_by(e.c.raised_on, e.c.id).limit(limit).subquery()
    rows = list(connection.execute(
        select(e.c.id, c.c.ref, c.c.kind, e.c.no, e.c.reason, e.c.raised_to, e.c.raised_on, e.c.state, e.c.level,
               e.c.deadline_kind, e.c.case_id)
        .join(page, page.c.id == e.c.id).join(c, c.c.id == e.c.case_id).order_by(e.c.raised_on, e.c.id)
    ))  # fmt: skip
    total = len(rows)
    if total == limit:
        total = connection.scalar(select(func.count()).select_from(query.subquery())) or 0
    due: dict[tuple[str, int], dict[str, date]] = {}
    if rows:
        d = _DEADLINES
        for ref, no, kind, due_on in connection.execute(
            select(c.c.ref, d.c.escalation_no, d.c.kind, d.c.due_on)
            .join(c, c.c.id == d.c.case_id)
            .where(d.c.case_id.in_(sorted({r[-1] for r in rows})), d.c.status == DeadlineStatus.OPEN.value,
                   d.c.escalation_no.is_not(None))
        ):  # fmt: skip
            due.setdefault((ref, no), {})[kind] = due_on
    return [
        EscalationRow(escalation_id(id_), id_, ref, kind, no, reason, to, on, state, level, deadline_kind,
                      due.get((ref, no), {}))
        for id_, ref, kind, no, reason, to, on, state, level, deadline_kind, _ in rows
    ], total  # fmt: skip


def escalation(connection: Connection, row_id: int) -> EscalationRow | None:
    """One escalation by its id (any state)."""
    e, c = _ESCALATIONS, _CASES
    row = connection.execute(
        select(e.c.id, c.c.ref, c.c.kind, e.c.no, e.c.reason, e.c.raised_to, e.c.raised_on, e.c.state, e.c.level,
               e.c.deadline_kind).join(c, c.c.id == e.c.case_id).where(e.c.id == row_id)
    ).first()  # fmt: skip
    return None if row is None else EscalationRow(escalation_id(row[0]), row[0], *row[1:])


# -- notifications ---------------------------------------------------------------------------------------------------


def notifications_for(connection: Connection, reader: str, limit: int = 20) -> list[NoteRow]:
    """The reader's newest notifications. Reads the columns the outbox has on this schema: ``subject`` (and the
    rest of the outbox of migration 0003) when present, else the escalation notices of 0002."""
    n = _NOTIFICATIONS
    subject = n.c.subject if "subject" in n.c else literal(None)
    query = (
        select(n.c.case_ref, n.c.reason, n.c.role, n.c.created_at, subject)
        .where(n.c.recipient == reader)
        .order_by(n.c.id.desc())
        .limit(limit)
    )
    return [NoteRow(ref, reason, role, created.date(), subj) for ref, reason, role, created, subj in
            connection.execute(query)]  # fmt: skip
