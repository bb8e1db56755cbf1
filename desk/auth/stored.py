"""The desk's accounts over storage (issue 13): ``Authenticator``, ``PersonDirectory`` and ``OidcPersonMapper`` in one.

Passwords are checked against storage's argon2id hashes (``storage.accounts``); an unknown name costs the same time
as a known one (a dummy hash). Each attempt is counted through the write path: after ``Lockout.attempts`` failures
in a row the account is locked for ``Lockout.minutes`` (a new password or link from an admin unlocks it). A leaver
(deactivated) is refused here and, on every request, by ``active_person`` — their open sessions end at once.

OpenID Connect identities map through storage's ``identities`` table: Entra ID's by tenant and object id (stored as
issuer ``entra:<tid>``, subject ``<oid>``), any other provider's by issuer and subject.
"""

from __future__ import annotations

from desk.auth.accounts import Person, RefusalReason, Refused, Verified
from desk.auth.oidc import OidcIdentity
from machines.errors import Refused as RuleRefused
from machines.names import is_name
from storage import accounts
from storage.casebook import Casebook

__all__ = ["StoredAccounts"]


class StoredAccounts:
    """Sign-in, people and OpenID Connect links from the casebook's database."""

    def __init__(self, book: Casebook, lockout: accounts.Lockout | None = None) -> None:
        self.book = book
        self.lockout = lockout or accounts.Lockout()

    def verify(self, user_name: str, password: str) -> Verified | Refused:
        user = user_name.strip()
        found = self.book.account(user) if is_name(user) else None
        now = self.book.clock()
        right = accounts.matches(found.password_hash if found else None, password)
        if found is None or found.password_hash is None:
            return Refused(RefusalReason.BAD_CREDENTIALS)
        if found.locked(now):
            return Refused(RefusalReason.LOCKED)
        if not found.active:
            return Refused(RefusalReason.INACTIVE)
        try:
            outcome = self.book.handle(accounts.SignInAttempt(actor=found.user, user=found.user, succeeded=right,
                                                              lockout=self.lockout, channel="desk"))  # fmt: skip
        except RuleRefused:
            return Refused(RefusalReason.BAD_CREDENTIALS)
        if not right:
            return Refused(RefusalReason.LOCKED if outcome.locked else RefusalReason.BAD_CREDENTIALS)
        return Verified(found.user, must_change=found.must_change)

    def active_person(self, person_id: str) -> Person | None:
        found = next((p for p in self.book.people_named([person_id])), None)
        if found is None or not found.active:
            return None
        return Person(found.user, found.display_name or found.user, frozenset({found.role}))

    def person_for(self, identity: OidcIdentity) -> str | None:
        if identity.tenant_id and identity.object_id:
            user = self.book.person_for_identity(f"entra:{identity.tenant_id}", identity.object_id)
        else:
            user = self.book.person_for_identity(identity.issuer, identity.subject)
        return user if user is not None and self.active_person(user) is not None else None
