"""The daily digest (PROCEDURES §7): each person's work due in the next 5 working days (*default*), one notification
per person per day (key ``digest:<user>:<date>``), delivered like every other notification.

Made by a command through the one write path; a person's work is the desk's My work read
(``storage.desk_queries.work_items``): the deadlines their role meets on the cases of their line, and their role's
queue. Case references, what is due and dates only — never a child's identifier. Nobody with nothing due gets one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select

from machines.errors import Refused
from machines.wording import deadline_words, long_date
from storage.commands import Command
from storage.desk_queries import WorkItem, work_items
from storage.models import people as _PEOPLE
from storage.outbox import Notice, insert_new
from storage.uow import UnitOfWork

__all__ = ["DigestReport", "MakeDigests", "digest_notice", "make_all_digests", "make_digests"]

MAX_WITHIN_WD = 60
LISTED = 40  # items written out in one digest; the rest are counted (My work lists them all)


@dataclass(frozen=True, kw_only=True)
class MakeDigests(Command):
    """Make the day's digest for everyone with work due by ``within_wd`` working days after ``as_of``: the next
    ``batch_size`` people after ``after`` (by user name), so that no one transaction holds the write lock for long
    (``make_all_digests`` sends the batches)."""

    as_of: date
    within_wd: int = 5
    after: str | None = None
    batch_size: int = 50
    actor: str = "system"


@dataclass(frozen=True, slots=True)
class DigestReport:
    """What the digest command made: counts only."""

    as_of: date
    until: date
    people: int  # people with work due (each has a digest, made now or earlier the same day)
    made: int  # digests made by this command (0 when the day's were already made)
    last: str | None = None  # the last person this batch looked at (None: nobody was left)

    def as_json(self) -> dict[str, Any]:
        return {"as_of": self.as_of.isoformat(), "until": self.until.isoformat(), "people": self.people,
                "made": self.made}  # fmt: skip


def digest_notice(user: str, role: str, as_of: date, until: date, items: list[WorkItem]) -> Notice:
    """One person's digest.

    >>> from datetime import date
    >>> item = WorkItem(1, "SO-1", "so", "registered", "iro_allocation", date(2026, 1, 23), True, None,
    ...                 "safeguarding_unit", "sw1", None, True)
    >>> n = digest_notice("su1", "safeguarding_unit", date(2026, 2, 2), date(2026, 2, 9), [item])
    >>> n.key, n.subject
    ('digest:su1:2026-02-02', 'Your work due by 9 February 2026: 1 item, 1 overdue')
    >>> print(n.body)
    Your work as of 2 February 2026, due by 9 February 2026 (overdue first).
    <BLANKLINE>
    Overdue:
    - SO-1: allocate a named IRO, due 23 January 2026 (missed)
    /cases/SO-1
    """
    overdue = [i for i in items if i.overdue(as_of)]
    due = [i for i in items if not i.overdue(as_of)]
    count = f"{len(items)} item{'s' if len(items) != 1 else ''}"
    subject = f"Your work due by {long_date(until)}: {count}" + (f", {len(overdue)} overdue" if overdue else "")
    lines = [f"Your work as of {long_date(as_of)}, due by {long_date(until)} (overdue first)."]
    listed = 0
    for title, group in (("Overdue", overdue), ("Due", due)):
        if not group:
            continue
        lines += ["", f"{title}:"]
        for item in group:
            if listed == LISTED:
                break
            listed += 1
            missed = " (missed)" if item.missed else ""
            lines.append(f"- {item.case}: {deadline_words(item.kind)}, due {long_date(item.due_on)}{missed}")
            lines.append(f"/cases/{item.case}")
    if listed < len(items):
        lines += ["", f"And {len(items) - listed} more on your My work page."]
    return Notice(f"digest:{user}:{as_of.isoformat()}", user, "digest", None, subject[:200], "\n".join(lines), role)


def make_digests(uow: UnitOfWork, cmd: MakeDigests) -> DigestReport:
    if not 0 <= cmd.within_wd <= MAX_WITHIN_WD:
        raise Refused(f"the digest looks 0 to {MAX_WITHIN_WD} working days ahead")
    connection = uow.connection
    calendar = uow.policies.current.calendar
    until = calendar.add_working_days(cmd.as_of, cmd.within_wd)
    horizon = (until - cmd.as_of).days
    notices: list[Notice] = []
    query = select(_PEOPLE.c.user, _PEOPLE.c.role).order_by(_PEOPLE.c.user).limit(cmd.batch_size)
    if cmd.after is not None:
        query = query.where(_PEOPLE.c.user > cmd.after)
    last = None
    for user, role in connection.execute(query).all():
        last = user
        items, _ = work_items(connection, user, cmd.as_of, horizon_days=horizon)
        # work shown early (a review from its month) is not yet due: only what falls due by ``until``
        items = [i for i in items if i.overdue(cmd.as_of) or i.due_on <= until]
        if items:
            notices.append(digest_notice(user, role, cmd.as_of, until, items))
    made = insert_new(connection, notices, uow.now, cmd.source or "manual")
    return DigestReport(cmd.as_of, until, len(notices), len(made), last)


def make_all_digests(handle: Callable[[Command], Any], as_of: date, within_wd: int = 5, *,
                     source: str | None = None) -> DigestReport:  # fmt: skip
    """Everyone's digest for ``as_of``, a batch of people per transaction; the totals."""
    people = made = 0
    after: str | None = None
    while True:
        part: DigestReport = handle(MakeDigests(as_of=as_of, within_wd=within_wd, after=after, source=source))
        people, made = people + part.people, made + part.made
        if part.last is None:
            return DigestReport(as_of, part.until, people, made)
        after = part.last
