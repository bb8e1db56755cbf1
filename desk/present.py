"""Read models put into words for the pages: due-date tags in working days, work grouped by when, escalations.

Pure presentation (no storage, no clock): "today" and the working calendar are passed in.

>>> from datetime import date
>>> from machines.calendar import WorkingCalendar
>>> cal = WorkingCalendar()
>>> due_tag(date(2026, 3, 2), date(2026, 3, 4), cal)  # Monday, seen on Wednesday
('Overdue by 2 working days', 'govuk-tag--red')
>>> due_tag(date(2026, 3, 9), date(2026, 3, 4), cal)
('Due in 3 working days', 'govuk-tag--yellow')
>>> due_tag(date(2026, 3, 4), date(2026, 3, 4), cal)
('Due today', 'govuk-tag--orange')
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from machines.calendar import WorkingCalendar
from machines.model import CaseKind
from machines.procedures import PROCEDURES
from machines.wording import deadline_words, escalation_reason_words, long_date, role_words, state_words
from storage.desk_queries import EscalationRow, WorkItem

__all__ = ["Group", "WorkRow", "due_tag", "escalation_rows", "group_work", "kind_words", "work_rows"]

SHOWN_PER_GROUP = 50


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def due_tag(due_on: date, as_of: date, calendar: WorkingCalendar, *, missed: bool = False) -> tuple[str, str]:
    """A GOV.UK tag's text and colour for a due date: overdue or due, counted in working days."""
    if due_on < as_of or missed:
        late = calendar.working_days_between(due_on, as_of)
        if late == 0:
            return f"Overdue since {long_date(due_on)}", "govuk-tag--red"
        return f"Overdue by {_plural(late, 'working day')}", "govuk-tag--red"
    if due_on == as_of:
        return "Due today", "govuk-tag--orange"
    ahead = calendar.working_days_between(as_of, due_on)
    colour = "govuk-tag--yellow" if due_on <= as_of + timedelta(days=7) else "govuk-tag--grey"
    if ahead == 0:
        return f"Due {long_date(due_on)}", colour
    return f"Due in {_plural(ahead, 'working day')}", colour


def kind_words(kind: str) -> str:
    """``so`` -> ``Supervision Order``."""
    try:
        return PROCEDURES[CaseKind(kind)].title
    except ValueError:
        return kind


@dataclass(frozen=True)
class WorkRow:
    case: str
    case_kind: str
    what: str
    due: str
    tag: tuple[str, str]
    state: str
    whose: str


@dataclass
class Group:
    key: str
    heading: str
    rows: list[WorkRow] = field(default_factory=list)
    total: int = 0

    @property
    def more(self) -> int:
        return self.total - len(self.rows)


def _whose(item: WorkItem, reader: str) -> str:
    if item.queue:
        return f"{role_words(item.owner_role)} queue"
    if item.responsible == reader:
        return "You"
    if item.responsible:
        return item.responsible
    words = role_words(item.owner_role)
    return words[:1].upper() + words[1:]


def work_rows(items: Iterable[WorkItem], as_of: date, calendar: WorkingCalendar, reader: str) -> list[WorkRow]:
    out = []
    for i in items:
        what = deadline_words(i.kind)
        out.append(WorkRow(i.case, kind_words(i.case_kind), what[:1].upper() + what[1:], long_date(i.due_on),
                           due_tag(i.due_on, as_of, calendar, missed=i.missed),
                           state_words(i.case_kind, i.state), _whose(i, reader)))  # fmt: skip
    return out


def group_work(items: Sequence[WorkItem], as_of: date, calendar: WorkingCalendar, reader: str) -> list[Group]:
    """Overdue, due today, due this week (the next 7 days), later — the first ``SHOWN_PER_GROUP`` of each."""
    groups = {
        "overdue": Group("overdue", "Overdue"),
        "today": Group("today", "Due today"),
        "week": Group("week", "Due this week"),
        "later": Group("later", "Due later"),
    }
    week_end = as_of + timedelta(days=7)
    for item in items:
        if item.overdue(as_of):
            g = groups["overdue"]
        elif item.due_on == as_of:
            g = groups["today"]
        elif item.due_on <= week_end:
            g = groups["week"]
        else:
            g = groups["later"]
        g.total += 1
        if len(g.rows) < SHOWN_PER_GROUP:
            g.rows.extend(work_rows([item], as_of, calendar, reader))
    return list(groups.values())


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def escalation_rows(rows: Iterable[EscalationRow], as_of: date, calendar: WorkingCalendar) -> list[dict[str, Any]]:
    """Escalations as the pages show them: why, to whom, since when, what is due next."""
    out = []
    for r in rows:
        due = min(r.due.values()) if r.due else None
        next_step = "acknowledge" if "escalation_acknowledgement" in r.due else "resolve"
        out.append({
            "id": r.id, "row_id": r.row_id, "case": r.case, "no": r.no, "level": r.level,
            "reason": escalation_reason_words(r.reason), "raised_to": _capital(role_words(r.raised_to)),
            "raised_on": long_date(r.raised_on), "state": state_words("escalation", r.state),
            "due": long_date(due) if due else "", "next_step": next_step if due else "",
            "tag": due_tag(due, as_of, calendar) if due else None,
        })  # fmt: skip
    return out
