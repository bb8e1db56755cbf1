"""In-memory accounts with argon2id password hashes: the test double and the development accounts of ``--demo``.

A real ``Authenticator`` and ``PersonDirectory`` (storage's people and accounts, issue 13) replace it; the hashing is
the same (argon2-cffi's defaults are argon2id, RFC 9106's second recommended profile).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from desk.auth.accounts import Person, RefusalReason, Refused, Verified

__all__ = ["InMemoryAccounts", "NoAccounts"]


@dataclass
class _Account:
    person: Person
    user_name: str
    password_hash: str
    active: bool = True


class InMemoryAccounts:
    """An ``Authenticator`` and a ``PersonDirectory`` over a dict. User names match case-insensitively."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()
        self._accounts: dict[str, _Account] = {}
        self._lock = threading.Lock()
        # verified against when the user name is unknown, so unknown and known names cost the same time
        self._dummy_hash = self._hasher.hash("no account has this password")

    def add(self, person: Person, password: str, user_name: str | None = None) -> None:
        """Add (or replace) an account; its user name defaults to the person's id."""
        name = (user_name or person.id).casefold()
        with self._lock:
            self._accounts[name] = _Account(person, name, self._hasher.hash(password))

    def set_active(self, person_id: str, active: bool) -> None:
        """Deactivate (a leaver) or reactivate a person."""
        with self._lock:
            for account in self._accounts.values():
                if account.person.id == person_id:
                    account.active = active

    def verify(self, user_name: str, password: str) -> Verified | Refused:
        with self._lock:
            account = self._accounts.get(user_name.strip().casefold())
        try:
            self._hasher.verify(account.password_hash if account else self._dummy_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return Refused(RefusalReason.BAD_CREDENTIALS)
        if account is None:
            return Refused(RefusalReason.BAD_CREDENTIALS)
        if not account.active:
            return Refused(RefusalReason.INACTIVE)
        return Verified(account.person.id)

    def active_person(self, person_id: str) -> Person | None:
        with self._lock:
            for account in self._accounts.values():
                if account.person.id == person_id:
                    return account.person if account.active else None
        return None


class NoAccounts:
    """An ``Authenticator`` and ``PersonDirectory`` that know nobody: the desk starts, and no one can sign in."""

    def verify(self, user_name: str, password: str) -> Verified | Refused:
        return Refused(RefusalReason.BAD_CREDENTIALS)

    def active_person(self, person_id: str) -> Person | None:
        return None
