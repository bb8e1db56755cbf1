"""The protocols between the desk and the accounts: verify a password, look a person up.

The lead implements these over storage's people and accounts (issue 13); ``desk.auth.local`` has an in-memory one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

__all__ = ["Authenticator", "Person", "PersonDirectory", "RefusalReason", "Refused", "Verified"]


@dataclass(frozen=True)
class Person:
    """A person as the desk shows them: ``id`` is their user name in orderwatch (``people.user``)."""

    id: str
    display_name: str
    roles: frozenset[str]


class PersonDirectory(Protocol):
    """Looks people up on every request, so a deactivation ends their sessions at once."""

    def active_person(self, person_id: str) -> Person | None:
        """The person, or None if unknown or deactivated."""
        ...


class RefusalReason(StrEnum):
    """Why a sign-in was refused. The page says the same for a wrong password, an unknown name and a leaver."""

    BAD_CREDENTIALS = "bad_credentials"
    INACTIVE = "inactive"
    LOCKED = "locked"


@dataclass(frozen=True)
class Verified:
    """The user name and password are right and the account may sign in (``must_change``: only to choose a new
    password — a temporary one an admin issued)."""

    person_id: str
    must_change: bool = False


@dataclass(frozen=True)
class Refused:
    """The sign-in is refused."""

    reason: RefusalReason


class Authenticator(Protocol):
    """Checks a user name and password (local accounts; argon2id hashes).

    Implementations take about the same time whether or not the user name exists (verify against a dummy hash), and
    apply the account lockout themselves; the desk rate-limits in front of them.
    """

    def verify(self, user_name: str, password: str) -> Verified | Refused:
        """Whether ``password`` is right for ``user_name``: the person's id, or why not."""
        ...
