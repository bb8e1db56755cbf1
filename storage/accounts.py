"""Desk accounts over storage: argon2id password hashes, lockout, temporary passwords that must be changed, one-time
set-password links, and OpenID Connect identities mapped to people.

Changes go through the one write path (commands handled by ``Casebook.handle``; each a ``people_log`` row — never a
hash or a token); a sign-in attempt is a command too (``SignInAttempt``: it counts failures and locks the account).
Hashing happens before the command is built, so no password reaches a command, a log or the database. Only an
admin sets a password or issues a link (``storage.people.authorize_admin``); a person changes their own.

Tokens are 32 random bytes (URL-safe), stored as their SHA-256: a stolen database does not give a working link.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Connection, insert, select, update

from machines.errors import Refused
from storage.commands import Command
from storage.models import account_links as _LINKS
from storage.models import accounts as _ACCOUNTS
from storage.models import identities as _IDENTITIES
from storage.models import people as _PEOPLE
from storage.people import authorize_admin, existing_person, log_change, person_row
from storage.uow import UnitOfWork

__all__ = [
    "Account",
    "ChangeOwnPassword",
    "IdentityLinked",
    "IssueLink",
    "LinkIdentity",
    "LinkIssued",
    "Lockout",
    "PasswordSet",
    "SetPassword",
    "SignInAttempt",
    "SignInOutcome",
    "UseLink",
    "account",
    "hash_token",
    "new_token",
    "person_for_identity",
]

HASHER = PasswordHasher()  # argon2-cffi's defaults: argon2id, RFC 9106's second recommended profile
MIN_PASSWORD = 12
LINK_LIFETIME = timedelta(days=3)


@dataclass(frozen=True, slots=True)
class Lockout:
    """After ``attempts`` failures in a row an account is locked for ``minutes`` (a new password or link unlocks)."""

    attempts: int = 5
    minutes: int = 15


def new_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def hash_password(password: str) -> str:
    """An argon2id hash of a password long enough (refused otherwise, before anything is stored)."""
    if len(password) < MIN_PASSWORD:
        raise Refused(f"a password has at least {MIN_PASSWORD} characters")
    if len(password) > 1000:
        raise Refused("a password has at most 1000 characters")
    return HASHER.hash(password)


def matches(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; an account with no hash is checked against a dummy one (same time)."""
    try:
        return HASHER.verify(password_hash or _dummy(), password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@cache
def _dummy() -> str:
    """Made at the first check, not at import: a hash costs a quarter of a second, and every command imports this."""
    return HASHER.hash("no account has this password, it only takes the time a real one would")


# -- commands --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SetPassword(Command):
    """An admin sets a temporary password (``must_change``: the person chooses their own at first sign-in)."""

    user: str
    password_hash: str
    must_change: bool = True


@dataclass(frozen=True, kw_only=True)
class ChangeOwnPassword(Command):
    """A person replaces their own password (the desk checked the current one, or the temporary one, first)."""

    user: str
    password_hash: str


@dataclass(frozen=True, kw_only=True)
class IssueLink(Command):
    """An admin issues a one-time set-password link: only the token's hash is stored."""

    user: str
    token_hash: str
    expires_at: datetime


@dataclass(frozen=True, kw_only=True)
class UseLink(Command):
    """Set one's password through a link (``actor`` is whoever followed it: the link names the person)."""

    token_hash: str
    password_hash: str


@dataclass(frozen=True, kw_only=True)
class SignInAttempt(Command):
    """A sign-in's outcome, counted: failures in a row lock the account; a success clears the count."""

    user: str
    succeeded: bool
    lockout: Lockout = Lockout()


@dataclass(frozen=True, kw_only=True)
class LinkIdentity(Command):
    """An admin maps an OpenID Connect identity (issuer, subject) to a person."""

    user: str
    issuer: str
    subject: str


@dataclass(frozen=True, slots=True)
class Account:
    """What sign-in needs to know of a person's account."""

    user: str
    active: bool
    password_hash: str | None
    must_change: bool
    failed_attempts: int
    locked_until: datetime | None

    def locked(self, now: datetime) -> bool:
        return self.locked_until is not None and _aware(self.locked_until) > now


def _aware(when: datetime) -> datetime:
    from datetime import UTC

    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)  # SQLite gives naive datetimes back


def account(connection: Connection, user: str) -> Account | None:
    """The person's account (a person without one: no hash, nothing failed), or None for an unknown person."""
    a, p = _ACCOUNTS, _PEOPLE
    row = connection.execute(
        select(p.c.user, p.c.active, a.c.password_hash, a.c.must_change, a.c.failed_attempts, a.c.locked_until)
        .select_from(p.outerjoin(a, a.c.user == p.c.user))
        .where(p.c.user == user)
    ).first()
    if row is None:
        return None
    return Account(row[0], bool(row[1]), row[2], bool(row[3]), row[4] or 0, row[5])


def person_for_identity(connection: Connection, issuer: str, subject: str) -> str | None:
    i = _IDENTITIES
    return connection.scalar(select(i.c.user).where(i.c.issuer == issuer, i.c.subject == subject))


def _store(uow: UnitOfWork, user: str, values: dict[str, Any]) -> None:
    """Write the account's columns (inserting the account the first time)."""
    found = uow.connection.scalar(select(_ACCOUNTS.c.user).where(_ACCOUNTS.c.user == user))
    if found is None:
        uow.connection.execute(insert(_ACCOUNTS), {"user": user, "must_change": False, "failed_attempts": 0,
                                                   **values})  # fmt: skip
    else:
        uow.connection.execute(update(_ACCOUNTS).where(_ACCOUNTS.c.user == user).values(**values))


def _password(uow: UnitOfWork, user: str, password_hash: str, must_change: bool) -> None:
    _store(uow, user, {"password_hash": password_hash, "must_change": must_change, "failed_attempts": 0,
                       "locked_until": None, "changed_at": uow.now})  # fmt: skip


@dataclass(frozen=True, slots=True)
class PasswordSet:
    """A password stored for ``user`` (``must_change``: a temporary one, to change at the next sign-in)."""

    user: str
    must_change: bool

    def as_json(self) -> dict[str, Any]:
        return {"user": self.user, "must_change": self.must_change}


@dataclass(frozen=True, slots=True)
class LinkIssued:
    """A one-time link issued for ``user`` (its token is shown once by whoever issued it; only its hash is kept)."""

    user: str
    expires_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {"user": self.user, "expires_at": self.expires_at.isoformat()}


@dataclass(frozen=True, slots=True)
class IdentityLinked:
    user: str
    issuer: str

    def as_json(self) -> dict[str, Any]:
        return {"user": self.user, "issuer": self.issuer}


@dataclass(frozen=True, slots=True)
class SignInOutcome:
    """What a sign-in attempt left: whether the account is now locked."""

    locked: bool

    def as_json(self) -> dict[str, Any]:
        return {"locked": self.locked}


def set_password(uow: UnitOfWork, cmd: SetPassword) -> PasswordSet:
    authorize_admin(uow, cmd)
    row = existing_person(uow, cmd.user)
    _password(uow, cmd.user, cmd.password_hash, cmd.must_change)
    log_change(uow, cmd, cmd.user, "password_set", row, row)
    return PasswordSet(cmd.user, cmd.must_change)


def change_own_password(uow: UnitOfWork, cmd: ChangeOwnPassword) -> PasswordSet:
    if cmd.actor != cmd.user:
        authorize_admin(uow, cmd)
    row = existing_person(uow, cmd.user)
    if not row["active"]:
        raise Refused(f"{cmd.user} is no longer active")
    _password(uow, cmd.user, cmd.password_hash, False)
    log_change(uow, cmd, cmd.user, "password_changed", row, row)
    return PasswordSet(cmd.user, False)


def issue_link(uow: UnitOfWork, cmd: IssueLink) -> LinkIssued:
    authorize_admin(uow, cmd)
    row = existing_person(uow, cmd.user)
    if not row["active"]:
        raise Refused(f"{cmd.user} is no longer active: reactivate them first")
    uow.connection.execute(insert(_LINKS), {"token_hash": cmd.token_hash, "user": cmd.user,
                                            "expires_at": cmd.expires_at, "issued_by": cmd.actor,
                                            "issued_at": uow.now})  # fmt: skip
    log_change(uow, cmd, cmd.user, "link_issued", row, row)
    return LinkIssued(cmd.user, cmd.expires_at)


LINK_NOT_VALID = "this link is not valid: it may have been used already or have expired; ask an admin for a new one"


def _link(connection: Connection, token_hash: str, now: datetime) -> str | None:
    """The person an unused, unexpired one-time link is for (None: no such link, used, or expired)."""
    link = _LINKS
    found = connection.execute(
        select(link.c.user, link.c.expires_at, link.c.used_at).where(link.c.token_hash == token_hash)
    ).first()
    if found is None or found.used_at is not None or _aware(found.expires_at) <= now:
        return None
    return str(found.user)


def link_usable(connection: Connection, token_hash: str, now: datetime) -> bool:
    """Whether the link can still set a password (its page says so before anyone types one): unused, unexpired,
    for an active person. Reads only."""
    user = _link(connection, token_hash, now)
    row = person_row(connection, user) if user is not None else None
    return row is not None and bool(row["active"])


def use_link(uow: UnitOfWork, cmd: UseLink) -> PasswordSet:
    link = _LINKS
    user = _link(uow.connection, cmd.token_hash, uow.now)
    if user is None:
        raise Refused(LINK_NOT_VALID)
    row = existing_person(uow, user)
    if not row["active"]:
        raise Refused("this link is not valid: ask an admin for a new one")
    # used once, even by two at the same moment: the second waits on the row, then finds it used
    taken = uow.connection.execute(
        update(link).where(link.c.token_hash == cmd.token_hash, link.c.used_at.is_(None)).values(used_at=uow.now)
    ).rowcount
    if taken != 1:
        raise Refused(LINK_NOT_VALID)
    _password(uow, user, cmd.password_hash, False)
    log_change(uow, cmd, user, "password_set_by_link", row, row)
    return PasswordSet(user, False)


def sign_in_attempt(uow: UnitOfWork, cmd: SignInAttempt) -> SignInOutcome:
    """Count a failure (locking at the limit) or clear the count; a person without an account gets none made."""
    current = account(uow.connection, cmd.user)
    if current is None:
        return SignInOutcome(False)
    if cmd.succeeded:
        if current.failed_attempts or current.locked_until is not None:
            _store(uow, cmd.user, {"failed_attempts": 0, "locked_until": None})
        return SignInOutcome(False)
    failed = current.failed_attempts + 1
    if failed >= cmd.lockout.attempts:
        _store(uow, cmd.user, {"failed_attempts": 0, "locked_until": uow.now + timedelta(minutes=cmd.lockout.minutes)})
        row = person_row(uow.connection, cmd.user)
        if row is not None:
            log_change(uow, cmd, cmd.user, "locked", row, row)
        return SignInOutcome(True)
    _store(uow, cmd.user, {"failed_attempts": failed})
    return SignInOutcome(False)


def link_identity(uow: UnitOfWork, cmd: LinkIdentity) -> IdentityLinked:
    authorize_admin(uow, cmd)
    row = existing_person(uow, cmd.user)
    taken = person_for_identity(uow.connection, cmd.issuer, cmd.subject)
    if taken is not None:
        raise Refused(f"that identity is already linked to {taken}")
    uow.connection.execute(insert(_IDENTITIES), {"issuer": cmd.issuer, "subject": cmd.subject, "user": cmd.user,
                                                 "added_at": uow.now})  # fmt: skip
    log_change(uow, cmd, cmd.user, "identity_linked", row, row)
    return IdentityLinked(cmd.user, cmd.issuer)
