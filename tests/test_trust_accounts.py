"""Issue 13, part A: desk accounts in storage — argon2id hashes (never a password or a token in the database or the
people log), temporary passwords, one-time links (hashed, expiring, single use), lockout, OpenID Connect identities
mapped to people — and the command line's set-password (standard input) and issue-link. Both backends.
"""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from desk.auth.accounts import RefusalReason, Refused, Verified
from desk.auth.oidc import OidcIdentity
from desk.auth.stored import StoredAccounts
from machines.errors import Refused as RuleRefused
from storage import accounts
from storage.casebook import Casebook
from storage.commands import AddPerson, DeactivatePerson
from tests.conftest import FIXED_NOW, Cli
from tests.test_scenarios_so import ok

PASSWORD = "a long enough password"


@pytest.fixture
def admin_book(book: Casebook) -> Casebook:
    book.handle(AddPerson(actor="setup", user="admin1", role="admin"))
    return book


def _set(book: Casebook, user: str, password: str = PASSWORD, must_change: bool = False) -> None:
    book.handle(accounts.SetPassword(actor="admin1", user=user, password_hash=accounts.hash_password(password),
                                     must_change=must_change))  # fmt: skip


def test_a_password_is_kept_only_as_an_argon2id_hash(admin_book: Casebook) -> None:
    _set(admin_book, "tm1")
    stored = admin_book.account("tm1")
    assert stored is not None and stored.password_hash is not None
    assert stored.password_hash.startswith("$argon2id$") and PASSWORD not in stored.password_hash
    assert StoredAccounts(admin_book).verify("tm1", PASSWORD) == Verified("tm1")
    assert StoredAccounts(admin_book).verify("tm1", "wrong") == Refused(RefusalReason.BAD_CREDENTIALS)
    assert StoredAccounts(admin_book).verify("nobody", PASSWORD) == Refused(RefusalReason.BAD_CREDENTIALS)
    assert StoredAccounts(admin_book).verify("tm2", PASSWORD) == Refused(RefusalReason.BAD_CREDENTIALS)  # no account
    with admin_book.engine.connect() as c:
        logged = c.execute(sa.text("SELECT * FROM people_log WHERE change = 'password_set'")).all()
    assert logged and all(PASSWORD not in repr(row) and "$argon2" not in repr(row) for row in logged)
    with pytest.raises(RuleRefused, match="at least 12 characters"):
        accounts.hash_password("short")
    with pytest.raises(RuleRefused, match="only an admin"):
        admin_book.handle(accounts.SetPassword(actor="tm1", user="tm2", password_hash="x"))


def test_a_temporary_password_signs_in_only_to_be_changed(admin_book: Casebook) -> None:
    _set(admin_book, "sw1", must_change=True)
    assert StoredAccounts(admin_book).verify("sw1", PASSWORD) == Verified("sw1", must_change=True)
    admin_book.handle(accounts.ChangeOwnPassword(actor="sw1", user="sw1",
                                                 password_hash=accounts.hash_password("mine and only mine")))  # fmt: skip
    assert StoredAccounts(admin_book).verify("sw1", "mine and only mine") == Verified("sw1")
    with pytest.raises(RuleRefused, match="only an admin"):  # nobody changes another's, but an admin
        admin_book.handle(accounts.ChangeOwnPassword(actor="sw2", user="sw1", password_hash="x"))


def test_five_failures_lock_the_account_and_a_new_password_unlocks_it(admin_book: Casebook) -> None:
    _set(admin_book, "iro1")
    stored = StoredAccounts(admin_book)
    assert [stored.verify("iro1", "wrong password") for _ in range(5)][-1] == Refused(RefusalReason.LOCKED)
    assert stored.verify("iro1", PASSWORD) == Refused(RefusalReason.LOCKED)
    _set(admin_book, "iro1", "a new one from the admin")
    assert stored.verify("iro1", "a new one from the admin") == Verified("iro1")


def test_a_link_is_hashed_expires_and_works_once(admin_book: Casebook) -> None:
    token = accounts.new_token()
    admin_book.handle(accounts.IssueLink(actor="admin1", user="tm2", token_hash=accounts.hash_token(token),
                                         expires_at=FIXED_NOW + timedelta(days=3)))  # fmt: skip
    with admin_book.engine.connect() as c:
        assert token not in repr(c.execute(sa.text("SELECT * FROM account_links")).all())
    use = accounts.UseLink(actor="system", token_hash=accounts.hash_token(token),
                           password_hash=accounts.hash_password("tm2 chose this"))  # fmt: skip
    assert admin_book.handle(use).user == "tm2"
    with pytest.raises(RuleRefused, match="not valid"):
        admin_book.handle(use)
    assert StoredAccounts(admin_book).verify("tm2", "tm2 chose this") == Verified("tm2")
    late = accounts.new_token()
    admin_book.handle(accounts.IssueLink(actor="admin1", user="tm1", token_hash=accounts.hash_token(late),
                                         expires_at=FIXED_NOW - timedelta(seconds=1)))  # fmt: skip
    with pytest.raises(RuleRefused, match="not valid"):
        admin_book.handle(accounts.UseLink(actor="system", token_hash=accounts.hash_token(late), password_hash="x"))


def test_a_leaver_cannot_sign_in_or_be_found_by_their_identity(admin_book: Casebook) -> None:
    _set(admin_book, "legal1")
    admin_book.handle(accounts.LinkIdentity(actor="admin1", user="legal1", issuer="entra:tenant-1", subject="oid-9"))
    stored = StoredAccounts(admin_book)
    entra = OidcIdentity("https://login.microsoftonline.com/tenant-1/v2.0", "pairwise-sub", "tenant-1", "oid-9")
    assert stored.person_for(entra) == "legal1"
    assert stored.person_for(OidcIdentity("https://idp.example", "oid-9")) is None
    with pytest.raises(RuleRefused, match="already linked to legal1"):
        admin_book.handle(accounts.LinkIdentity(actor="admin1", user="tm1", issuer="entra:tenant-1", subject="oid-9"))
    admin_book.handle(DeactivatePerson(actor="admin1", user="legal1", on=FIXED_NOW.date()))
    assert stored.verify("legal1", PASSWORD) == Refused(RefusalReason.INACTIVE)
    assert stored.person_for(entra) is None and stored.active_person("legal1") is None


def test_the_command_line_sets_a_temporary_password_from_stdin_and_issues_a_link(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("typed on stdin, not argv\n"))
    assert ok(cli, "people", "set-password", "sw1") == {"user": "sw1", "must_change": True}
    issued = ok(cli, "people", "issue-link", "sw2", "--base-url", "https://desk.example")
    assert re.fullmatch(r"https://desk\.example/account/set-password\?token=[\w-]{43}", issued["link"])
    assert ok(cli, "people", "link-identity", "tm1", "--issuer", "https://idp.example", "--subject", "s-1")
    refused = cli("people", "issue-link", "sw2", "--actor", "tm1")
    assert refused.rc == 2 and "only an admin" in refused.json["error"]
