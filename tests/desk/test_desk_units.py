"""The desk's parts without a browser: sessions, rate limiter, settings, navigation, accounts, vendored files."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from datetime import timedelta
from importlib.metadata import version
from pathlib import Path

import pytest

from desk.auth.accounts import Person, RefusalReason, Refused, Verified
from desk.auth.local import InMemoryAccounts
from desk.auth.oidc import OidcIdentity
from desk.navigation import navigation_for
from desk.ratelimit import InMemoryRateLimiter
from desk.sessions import InMemorySessionStore, SessionPolicy, key_for, new_session
from desk.settings import DeskSettings, Limit, OidcSettings, SettingsError
from desk.web import safe_next
from tests.desk.conftest import START, TEST_HASHER

ROOT = Path(__file__).resolve().parents[2]


def test_session_policy_ends_idle_and_absolute_sessions() -> None:
    policy = SessionPolicy(idle=timedelta(minutes=30), absolute=timedelta(hours=12))
    _, session = new_session(START)
    assert policy.ended(session, START + timedelta(minutes=29)) is None
    assert policy.ended(session, START + timedelta(minutes=30)) == "idle"
    session.last_seen_at = START + timedelta(hours=11, minutes=59)
    assert policy.ended(session, START + timedelta(hours=12)) == "absolute"


def test_session_store_keeps_only_the_token_hash_and_copies_in_and_out() -> None:
    store = InMemorySessionStore()
    token, session = new_session(START, person_id="tm1")
    assert session.key == key_for(token) == hashlib.sha256(token.encode()).hexdigest()
    assert token not in session.key and len(token) >= 43 and len(session.csrf_token) >= 43
    store.save(session)
    session.data["changed"] = "after saving"
    loaded = store.load(session.key)
    assert loaded is not None and loaded.data == {} and loaded.person_id == "tm1"
    loaded.data["x"] = "y"
    again = store.load(session.key)
    assert again is not None and again.data == {}


def test_session_store_purges_deletes_per_person_and_stays_bounded() -> None:
    store = InMemorySessionStore(capacity=3)
    sessions = [new_session(START + timedelta(minutes=i), person_id="tm1" if i % 2 else None)[1] for i in range(5)]
    for s in sessions:
        store.save(s)
    assert len(store) == 3 and store.load(sessions[0].key) is None  # least recently seen dropped
    assert store.delete_for_person("tm1") == 1  # sessions[3]; sessions[1] was dropped
    assert store.purge(idle_since=START + timedelta(minutes=3), created_before=START) == 1
    assert [s.key for s in sessions if store.load(s.key)] == [sessions[4].key]


def test_rate_limiter_blocks_after_the_limit_and_reopens_as_the_window_slides() -> None:
    limiter = InMemoryRateLimiter()
    limit = Limit(3, timedelta(minutes=15))
    for minute in (0, 1, 2):
        assert limiter.retry_after("account:tm1", limit, START + timedelta(minutes=minute)) is None
        limiter.record_failure("account:tm1", limit, START + timedelta(minutes=minute))
    assert limiter.retry_after("account:tm1", limit, START + timedelta(minutes=3)) == timedelta(minutes=12)
    assert limiter.retry_after("account:other", limit, START + timedelta(minutes=3)) is None
    assert limiter.retry_after("account:tm1", limit, START + timedelta(minutes=15)) is None  # the first fell out
    limiter.record_failure("account:tm1", limit, START + timedelta(minutes=15))
    assert limiter.retry_after("account:tm1", limit, START + timedelta(minutes=15)) == timedelta(minutes=1)
    limiter.reset("account:tm1")
    assert limiter.retry_after("account:tm1", limit, START + timedelta(minutes=15)) is None


def test_rate_limiter_tracks_a_bounded_number_of_keys() -> None:
    limiter = InMemoryRateLimiter(max_keys=10)
    limit = Limit(1, timedelta(hours=1))
    for i in range(50):
        limiter.record_failure(f"address:10.0.0.{i}", limit, START + timedelta(seconds=i))
    assert limiter.retry_after("address:10.0.0.49", limit, START + timedelta(minutes=1)) is not None
    assert limiter.retry_after("address:10.0.0.0", limit, START + timedelta(minutes=1)) is None
    assert len(limiter._failures) <= 10


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("/cases/SO-1?tab=timeline", "/cases/SO-1?tab=timeline"),
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("/sign-in?next=/x", "/"),
        ("", "/"),
        (None, "/"),
    ],
)
def test_safe_next_keeps_only_local_paths(given: str | None, expected: str) -> None:
    assert safe_next(given) == expected


def test_navigation_shows_built_sections_to_their_roles_only() -> None:
    routed = {"/", "/dashboard", "/people"}  # /cases and /escalations are not built yet
    tm = Person("tm1", "Sam", frozenset({"team_manager"}))
    sw = Person("sw1", "Kim", frozenset({"social_worker"}))
    admin = Person("admin1", "Ali", frozenset({"admin"}))
    assert [i["text"] for i in navigation_for(tm, "/", routed)] == ["My work", "Dashboard"]
    assert [i["text"] for i in navigation_for(sw, "/", routed)] == ["My work"]
    assert [i["text"] for i in navigation_for(admin, "/people", routed)] == ["People"]
    assert navigation_for(None, "/", routed) == []
    items = navigation_for(tm, "/dashboard/teams", routed)
    assert [(i["text"], i["current"], i["active"]) for i in items] == [
        ("My work", False, False),
        ("Dashboard", False, True),
    ]


def test_settings_refuse_insecure_cookies_off_loopback_and_read_the_environment() -> None:
    DeskSettings(cookie_secure=False, host="127.0.0.1").validate()
    DeskSettings(cookie_secure=False, host="::1").validate()
    with pytest.raises(SettingsError, match="only on a loopback address"):
        DeskSettings(cookie_secure=False, host="0.0.0.0").validate()
    with pytest.raises(SettingsError, match="must be https"):
        DeskSettings(oidc=OidcSettings("http://idp.example", "id", "secret", "https://desk/cb")).validate()
    with pytest.raises(SettingsError, match="needs OpenID Connect"):
        DeskSettings(password_sign_in=False).validate()
    settings = DeskSettings.from_env(
        {
            "ORDERWATCH_DESK_IDLE_MINUTES": "15",
            "ORDERWATCH_DESK_ABSOLUTE_HOURS": "8",
            "ORDERWATCH_DESK_ACCOUNT_ATTEMPTS": "3",
            "ORDERWATCH_OIDC_ISSUER": "https://login.microsoftonline.com/tenant-1/v2.0/",
            "ORDERWATCH_OIDC_CLIENT_ID": "client-1",
            "ORDERWATCH_OIDC_CLIENT_SECRET": "secret-1",
            "ORDERWATCH_OIDC_REDIRECT_URI": "https://desk.council.example/sign-in/oidc/callback",
            "ORDERWATCH_OIDC_TENANT_ID": "tenant-1",
        }
    )
    assert settings.idle_timeout == timedelta(minutes=15) and settings.absolute_timeout == timedelta(hours=8)
    assert settings.account_limit == Limit(3, timedelta(minutes=15)) and settings.cookie_secure
    assert settings.oidc is not None and settings.oidc.issuer == "https://login.microsoftonline.com/tenant-1/v2.0"
    assert settings.oidc.tenant_id == "tenant-1"
    with pytest.raises(SettingsError, match="ORDERWATCH_DESK_INSECURE_COOKIES"):
        DeskSettings.from_env({"ORDERWATCH_DESK_INSECURE_COOKIES": "maybe"})


def test_python_m_desk_refuses_bad_settings_in_one_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "desk", "--host", "0.0.0.0", "--port", "0"],
        env={"ORDERWATCH_DESK_INSECURE_COOKIES": "1", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "desk: ORDERWATCH_DESK_INSECURE_COOKIES is allowed only on a loopback address, not 0.0.0.0"
    ]


def test_local_accounts_hash_with_argon2id_and_refuse_alike() -> None:
    accounts = InMemoryAccounts(TEST_HASHER)
    accounts.add(Person("tm1", "Sam", frozenset({"team_manager"})), "right password")
    assert accounts._accounts["tm1"].password_hash.startswith("$argon2id$")
    assert accounts.verify("TM1 ", "right password") == Verified("tm1")
    assert accounts.verify("tm1", "wrong password") == Refused(RefusalReason.BAD_CREDENTIALS)
    assert accounts.verify("nobody", "right password") == Refused(RefusalReason.BAD_CREDENTIALS)
    accounts.set_active("tm1", False)
    assert accounts.verify("tm1", "right password") == Refused(RefusalReason.INACTIVE)
    assert accounts.active_person("tm1") is None


def test_oidc_identity_keys_prefer_entra_object_ids() -> None:
    entra = OidcIdentity("https://login.microsoftonline.com/t/v2.0", "pairwise-sub", tenant_id="t", object_id="o")
    assert entra.key == "entra:t:o"
    assert OidcIdentity("https://idp.example", "sub-1").key == "https://idp.example|sub-1"


def _check_sums(folder: Path) -> list[str]:
    checked = []
    for line in (folder / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, f"{folder / name} was changed"
        checked.append(name)
    return checked


def test_vendored_assets_are_the_pinned_releases() -> None:
    govuk = ROOT / "desk" / "static" / "govuk"
    names = _check_sums(govuk)
    assert {"govuk-frontend.min.css", "govuk-frontend.min.js", "manifest.json"} <= set(names)
    assert len([n for n in names if n.startswith("fonts/")]) == 4
    assert 'const version="6.3.0"' in (govuk / "govuk-frontend.min.js").read_text()[:40]
    # the macros are the release made for GOV.UK Frontend 6.3.0 (govuk-frontend-jinja's compatibility table)
    assert version("govuk-frontend-jinja") == "4.1.0"
    axe = ROOT / "tests" / "desk" / "vendor"
    assert _check_sums(axe) == ["axe.min.js"]
    assert (axe / "axe.min.js").read_text()[:20].startswith("/*! axe v4.14.1")
    for manifest_icon in json.loads((govuk / "manifest.json").read_text())["icons"]:
        assert (govuk / manifest_icon["src"]).is_file()
