"""The desk's reads, as the desk calls them: each in its own read-only transaction on the casebook's database.

Writes never come through here: the desk sends commands to ``Casebook.handle`` (the one write path). Every method
takes the reader's user name, so need-to-know reading (issue 13) can be enforced here, in storage, for every page.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import TypeVar

from sqlalchemy import Connection

from machines.model import CaseKind, Escalation, EscalationState, Person, Role
from storage import access, desk_case, desk_stats
from storage import desk_queries as dq
from storage.casebook import Casebook
from storage.uow import transaction

__all__ = ["DASHBOARD_FRESH", "DeskBook"]

R = TypeVar("R")
DASHBOARD_FRESH = timedelta(minutes=5)  # how long the service-wide dashboard's figures are served before a recount


class DeskBook:
    """Read models for the desk's pages over a ``Casebook``'s engine, policy and clock."""

    def __init__(self, book: Casebook) -> None:
        self.book = book
        self._lock = threading.Lock()
        self._every_case: dict[date, desk_stats.Dashboard] = {}  # the service-wide dashboard, by "today"
        self._counting = False

    def _read(self, query: Callable[[Connection], R]) -> R:
        return transaction(self.book.engine, query, write=False)

    def person(self, user: str) -> Person | None:
        """The person orderwatch knows by this user name (their role and manager), or None."""
        return self._read(lambda c: dq.person(c, user))

    def line(self, reader: str) -> list[dq.Member]:
        """The reader and everyone below them."""
        return self._read(lambda c: dq.line(c, reader))

    def _listed(self, what: str, reader: str, query: Callable[[Connection], R]) -> R:
        """A list page's read and its access-log row (``*``), in one transaction (every read is logged)."""

        def read(connection: Connection) -> R:
            found = query(connection)
            access.log_read(connection, "*", what, access.Reader(reader, reader, "desk"), self.book.clock())
            return found

        return transaction(self.book.engine, read)

    def my_work(self, reader: str, as_of: date) -> dq.MyWork | None:
        """My work's data, in one read (logged)."""
        return self._listed("my-work", reader, lambda c: dq.my_work(c, reader, as_of))

    def manages(self, reader: str) -> bool:
        """Whether anyone reports to the reader."""
        return self._read(lambda c: dq.manages(c, reader))

    def work(self, reader: str, as_of: date, *, team: bool = False) -> tuple[list[dq.WorkItem], bool]:
        """The reader's work (or their line's: ``team``), most urgent first; and whether more was left unread."""
        return self._listed("team-work" if team else "work", reader,
                            lambda c: dq.work_items(c, reader, as_of, team=team))  # fmt: skip

    def escalations(self, reader: str, *, team: bool = False, limit: int = 100) -> tuple[list[dq.EscalationRow], int]:
        """Open escalations raised to the reader (``team``: the others on the cases of their line): the oldest
        ``limit``, and how many there are."""
        return self._listed("escalations", reader, lambda c: dq.escalations_for(c, reader, team=team, limit=limit))

    def escalation(self, row_id: int, reader: str) -> tuple[dq.EscalationRow, Escalation] | None:
        """One escalation as a row and as the domain's record (for the permission rules), or None."""
        row = self._read(lambda c: dq.escalation(c, row_id))
        if row is None:
            return None
        esc = Escalation(row.no, row.reason, Role(row.raised_to), row.raised_on, EscalationState(row.state),
                         row.level, row.deadline_kind)  # fmt: skip
        return row, esc

    def notifications(self, reader: str) -> list[dq.NoteRow]:
        return self._read(lambda c: dq.notifications_for(c, reader))

    def case_kind(self, ref: str, reader: str) -> CaseKind | None:
        """The kind of the case with this reference, or None if there is none or the reader may not read it (so a
        search does not confirm a case exists; not a read of the case)."""

        def read(connection: Connection) -> CaseKind | None:
            who = access.Reader(reader, reader, "desk")
            if not access.may_read_case(connection, access.scope_of(connection, who), ref):
                return None
            return desk_case.case_kind(connection, ref)

        return self._read(read)

    def case_page(self, ref: str, reader: str) -> desk_case.CasePage:
        """The case page's data, if the reader may read it (need-to-know, ``storage.access``); the read is recorded
        in the access log, a refused one too (a write, so a write transaction; the refusal after it commits)."""
        page = transaction(self.book.engine, lambda c: desk_case.case_page(c, ref, reader, self.book.clock()))
        if page is None:
            raise access.refuse_read(ref)
        return page

    def people(self, reader: str, role: str | None = None, users: Sequence[str] | None = None) -> list[dq.Member]:
        """Everyone active (or everyone active holding ``role``; of ``users`` only, if given), by user name, with
        their display names."""
        return self._read(lambda c: dq.people_with_role(c, role, users))

    def dashboard(self, reader: str, as_of: date) -> desk_stats.Dashboard | None:
        """The reader's dashboard. A line's figures are counted on each request; the service-wide ones (a Head of
        Service's: every case) are kept for ``DASHBOARD_FRESH`` and then counted again in the background while the
        kept ones are still served, so no request waits for the whole caseload to be counted twice."""
        me = self.person(reader)
        if me is None:
            return None
        # counts, not case content — but every read is logged with its reader (the kept figures' too)
        self._listed("dashboard", reader, lambda c: None)
        if me.role not in dq.SEES_EVERY_CASE:
            return self._count(reader, as_of)
        with self._lock:
            kept = self._every_case.get(as_of)
            stale = (
                kept is not None
                and kept.computed_at is not None
                and self.book.clock() - kept.computed_at > DASHBOARD_FRESH
            )
            if stale and not self._counting:
                self._counting = True
                threading.Thread(target=self._recount, args=(reader, as_of), daemon=True).start()
        if kept is None:
            kept = self._count(reader, as_of)
            if kept is not None:
                with self._lock:
                    self._every_case = {as_of: kept}
        return kept

    def _count(self, reader: str, as_of: date) -> desk_stats.Dashboard | None:
        now = self.book.clock()
        board = self._read(lambda c: desk_stats.dashboard(c, self.book.policy, reader, as_of))
        return None if board is None else dataclasses.replace(board, computed_at=now)

    def _recount(self, reader: str, as_of: date) -> None:
        try:
            board = self._count(reader, as_of)
            if board is not None:
                with self._lock:
                    self._every_case = {as_of: board}
        finally:
            with self._lock:
                self._counting = False
