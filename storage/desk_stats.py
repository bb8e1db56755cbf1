"""The dashboard's aggregates (team managers and Heads of Service): overdue work by team and by deadline kind, the
on-time rate by month, cases by state, open escalations by level and age.

Each is one grouped statement over an index (migration ``0005_desk``); a manager's figures are those of the cases of
their line, a Head of Service's of every case. Python only buckets the grouped rows (by month, by age, by team).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, exists, func, or_, select

from machines.calendar import add_months
from machines.model import DeadlineStatus, EscalationState, Role
from machines.policy import Policy
from machines.procedures import RULES
from storage.desk_queries import MISSED_LOOKBACK_DAYS, SEES_EVERY_CASE, alive_when_missed, line, line_case_ids, person
from storage.expressions import case_person
from storage.models import cases as _CASES
from storage.models import deadlines as _DEADLINES
from storage.models import escalations as _ESCALATIONS
from storage.models import events as _EVENTS
from storage.models import people as _PEOPLE

__all__ = ["AGE_BANDS", "Dashboard", "MonthRate", "dashboard"]

# Escalations' own deadlines are about escalations, not casework; an expiry "met" by passing is the order running
# its course, not work done on time.
CASEWORK_KINDS = sorted(k for k, r in RULES.items() if not k.startswith("escalation_") and not r.passing_is_expected)
AGE_BANDS = (("0 to 2", 2), ("3 to 5", 5), ("6 to 10", 10), ("over 10", None))  # working days since raised


@dataclass(frozen=True, slots=True)
class MonthRate:
    month: date  # the first of the month
    met: int
    missed: int

    @property
    def rate(self) -> float | None:
        closed = self.met + self.missed
        return None if closed == 0 else self.met / closed


@dataclass(frozen=True, slots=True)
class Dashboard:
    as_of: date
    scope: str  # "every case" or "the cases of <user>'s line"
    overdue_by_team: list[tuple[str, int]]
    overdue_by_kind: list[tuple[str, int]]
    on_time: list[MonthRate]
    by_state: list[tuple[str, str, int]]  # case kind, state, cases
    escalations: dict[int, dict[str, int]] = field(default_factory=dict)  # level -> age band -> open escalations
    computed_at: datetime | None = None  # when the figures were counted (the service-wide ones are kept a while)
    every_case: bool = False


def _scoped(query: Any, column: Any, case_ids: Any | None) -> Any:
    return query if case_ids is None else query.where(column.in_(case_ids))


def _overdue(
    connection: Connection, as_of: date, case_ids: Any | None
) -> list[tuple[str, str, str | None, str | None, int]]:
    """(kind, owner role, the social worker's manager, the IRO's manager, count) of work past its due date and
    still to do. Two grouped statements, each a range of one index: open deadlines due before today
    (``ix_deadlines_status_due_on``), and deadlines missed within the last year (``ix_deadlines_status_closed_on``)
    whose case is still in a state they live in, with no later deadline of their kind and no event meeting them
    since."""
    d, c, ev = _DEADLINES, _CASES, _EVENTS
    later_d = _DEADLINES.alias("later")
    later = exists(select(later_d.c.id).where(later_d.c.case_id == d.c.case_id, later_d.c.kind == d.c.kind,
                                              later_d.c.id > d.c.id, later_d.c.escalation_no.is_(None)))  # fmt: skip
    met_since = exists(
        select(ev.c.id).where(
            ev.c.case_id == d.c.case_id,
            ev.c.escalation_no.is_(None),
            ev.c.happened_on >= d.c.armed_on,
            or_(*(and_(d.c.kind == k, ev.c.event.in_(sorted(RULES[k].met_by))) for k in CASEWORK_KINDS
                  if RULES[k].met_by)),
        )
    )  # fmt: skip
    sw_person, iro_person = _PEOPLE.alias("sw_person"), _PEOPLE.alias("iro_person")
    sw, iro = case_person(c.c.people, "social_worker"), case_person(c.c.people, "iro")
    grouped = (
        select(d.c.kind, d.c.owner, sw_person.c.manager, iro_person.c.manager, func.count())
        .join(c, c.c.id == d.c.case_id)
        .outerjoin(sw_person, sw_person.c.user == sw)
        .outerjoin(iro_person, iro_person.c.user == iro)
        .where(d.c.kind.in_(CASEWORK_KINDS))
        .group_by(d.c.kind, d.c.owner, sw_person.c.manager, iro_person.c.manager)
    )
    open_late = grouped.where(d.c.status == DeadlineStatus.OPEN.value, d.c.due_on < as_of)
    missed = grouped.where(
        d.c.status == DeadlineStatus.MISSED.value,
        d.c.closed_on >= as_of - timedelta(days=MISSED_LOOKBACK_DAYS),
        alive_when_missed(CASEWORK_KINDS),
        ~later,
        ~met_since,
    )
    totals: Counter[tuple[str, str, str | None, str | None]] = Counter()
    for query in (open_late, missed):
        for k, o, s, i, n in connection.execute(_scoped(query, d.c.case_id, case_ids)):
            totals[(k, o, s, i)] += n
    return [(*key, n) for key, n in totals.items()]


def _team(owner: str, sw_manager: str | None, iro_manager: str | None) -> str:
    """The team an item's work falls to: the social worker's or IRO's manager's, else the role's queue."""
    if owner in (Role.SOCIAL_WORKER.value, Role.TEAM_MANAGER.value) and sw_manager:
        return f"{sw_manager}'s team"
    if owner in (Role.IRO.value, Role.IRO_MANAGER.value) and iro_manager:
        return f"{iro_manager}'s team"
    return owner


def dashboard(connection: Connection, policy: Policy, reader: str, as_of: date) -> Dashboard | None:
    """The reader's dashboard (None if they are not a person orderwatch knows)."""
    me = person(connection, reader)
    if me is None:
        return None
    everything = me.role in SEES_EVERY_CASE
    case_ids = None if everything else line_case_ids([m.user for m in line(connection, reader)])
    if case_ids is not None and connection.dialect.name == "postgresql":
        # PostgreSQL plans the line's union again inside each of the five statements (220 ms p95 at 100k cases):
        # read it once. SQLite is the other way round: a long literal list groups slower than its subquery.
        case_ids = list(connection.scalars(case_ids))
    scope = "every case" if everything else f"the cases of {reader}'s line"

    by_team: Counter[str] = Counter()
    by_kind: Counter[str] = Counter()
    for kind, owner, sw_manager, iro_manager, n in _overdue(connection, as_of, case_ids):
        by_team[_team(owner, sw_manager, iro_manager)] += n
        by_kind[kind] += n

    first = add_months(as_of.replace(day=1), -11)
    d = _DEADLINES
    closed = (
        select(d.c.closed_on, d.c.status, func.count())
        .where(d.c.status.in_([DeadlineStatus.MET.value, DeadlineStatus.MISSED.value]), d.c.closed_on >= first,
               d.c.closed_on <= as_of, d.c.kind.in_(CASEWORK_KINDS))
        .group_by(d.c.closed_on, d.c.status)
    )  # fmt: skip
    months: dict[date, Counter[str]] = {add_months(first, i): Counter() for i in range(12)}
    for closed_on, status, n in connection.execute(_scoped(closed, d.c.case_id, case_ids)):
        months[closed_on.replace(day=1)][status] += n
    on_time = [MonthRate(m, c[DeadlineStatus.MET.value], c[DeadlineStatus.MISSED.value]) for m, c in months.items()]

    c = _CASES
    states = select(c.c.kind, c.c.state, func.count()).group_by(c.c.kind, c.c.state).order_by(c.c.kind, c.c.state)
    by_state = [(k, s, n) for k, s, n in connection.execute(_scoped(states, c.c.id, case_ids))]

    e = _ESCALATIONS
    open_states = [s.value for s in EscalationState if s is not EscalationState.resolved]
    escalations = (
        select(e.c.level, e.c.raised_on, func.count())
        .where(e.c.state.in_(open_states))
        .group_by(e.c.level, e.c.raised_on)
    )
    levels: dict[int, dict[str, int]] = {}
    calendar = policy.calendar
    for level, raised_on, n in connection.execute(_scoped(escalations, e.c.case_id, case_ids)):
        # more than 30 calendar days is more than 10 working days whatever the holidays: no need to count them
        far = (as_of - raised_on).days > 30
        age = 11 if far else calendar.working_days_between(raised_on, as_of) if raised_on < as_of else 0
        band = next(name for name, upto in AGE_BANDS if upto is None or age <= upto)
        bands = levels.setdefault(level, dict.fromkeys((name for name, _ in AGE_BANDS), 0))
        bands[band] += n
    return Dashboard(as_of, scope, sorted(by_team.items(), key=lambda t: (-t[1], t[0])),
                     sorted(by_kind.items(), key=lambda t: (-t[1], t[0])), on_time, by_state,
                     dict(sorted(levels.items())), every_case=everything)  # fmt: skip
