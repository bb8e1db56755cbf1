"""The people the desk signs in are orderwatch's people: a ``PersonDirectory`` over storage's ``people`` table.

Each person is who the rules know (their user name and role); their display name is their user name until accounts
(issue 13) hold names. Passwords stay with the ``Authenticator`` wired beside it (an in-memory one until then), and
it is there — not here — that a deactivated person is refused; here, anyone the table does not hold is unknown.
"""

from __future__ import annotations

from desk.auth.accounts import Person
from storage.casebook import Casebook
from storage.deskbook import DeskBook

__all__ = ["StoragePeople"]


class StoragePeople:
    """``PersonDirectory.active_person`` from the casebook's ``people`` table (one indexed read per request)."""

    def __init__(self, book: Casebook) -> None:
        self._reads = DeskBook(book)

    def active_person(self, person_id: str) -> Person | None:
        found = self._reads.person(person_id)
        if found is None or not found.active:  # a leaver's sessions end at their next request
            return None
        return Person(found.user, found.user, frozenset({found.role.value}))
