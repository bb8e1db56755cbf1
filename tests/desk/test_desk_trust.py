"""Issue 13, part A, at the desk: people sign in with the accounts stored in orderwatch's database (argon2id,
lockout, a temporary password that must be changed, a one-time link); an admin manages people (a leaver is
deactivated, their open allocations listed, and can no longer sign in); need-to-know on the case page, the refusal
logged. Over HTTP on both backends, and the two journeys the issue names in a real browser.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from desk.app import create_app
from desk.auth.accounts import RefusalReason, Refused
from desk.auth.stored import StoredAccounts
from desk.services import DeskServices
from desk.settings import DeskSettings
from storage import accounts
from storage.models import access_log
from tests.desk.axe import assert_accessible
from tests.desk.conftest import (
    CASEWORK_TODAY,
    PASSWORD,
    DeskClient,
    MovableClock,
    World,
    csrf_of,
    fresh_database,
    http_sign_in,
    serve_in_thread,
)
from tests.desk.test_desk_browser import _assert_clean

SIGNS_IN = ("admin1", "tm1", "sw1", "sw2", "iro1", "iro2", "hos1")


def start_trust_world(backend: str, tmp: Path, request: pytest.FixtureRequest, stack: ExitStack) -> World:
    """The seeded caseload served with the stored accounts (``desk.auth.stored``), as ``python -m desk`` serves."""
    from desk.dev.caseload import seed
    from desk.events import NoActionEvents
    from storage.casebook import Casebook
    from storage.db import make_engine

    url = fresh_database(backend, tmp, request)
    engine = make_engine(url)
    stack.callback(engine.dispose)
    clock = MovableClock()
    book = Casebook(engine, clock=clock)
    seed(book)  # the caseload's admin1 is added last: the seeding was setting up
    hashed = accounts.hash_password(PASSWORD)
    for user in SIGNS_IN:
        book.handle(accounts.SetPassword(actor="admin1", user=user, password_hash=hashed, must_change=False))
    stored = StoredAccounts(book)
    services = DeskServices(people=stored, authenticator=stored, oidc_people=stored, casebook=book,
                            events=NoActionEvents())  # fmt: skip
    app = create_app(DeskSettings(), services, clock=clock, today=lambda: CASEWORK_TODAY)
    base = stack.enter_context(serve_in_thread(app))
    return World(base, book, url, backend, clock, NoActionEvents())


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def trust_world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with ExitStack() as stack:
        yield start_trust_world(request.param, tmp_path_factory.mktemp("trust"), request, stack)


@pytest.fixture(scope="module")
def trust_sqlite_world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with ExitStack() as stack:
        yield start_trust_world("sqlite", tmp_path_factory.mktemp("trust"), request, stack)


@contextmanager
def client(world: World, user: str | None = None, password: str = PASSWORD) -> Iterator[DeskClient]:
    """A client of the desk, signed in as ``user`` (if given)."""
    with DeskClient(world.base) as c:
        if user is not None:
            signed = http_sign_in(c, user, password)
            assert signed.status_code == 303, signed.text[-400:]
        yield c


def refused_reads(world: World, ref: str, reader: str) -> list[Any]:
    from storage.db import make_engine

    engine = make_engine(world.url)
    with engine.connect() as c:
        rows = c.execute(sa.select(access_log).where(access_log.c.case_ref == ref, access_log.c.actor == reader,
                                                     access_log.c.allowed.is_(False))).all()  # fmt: skip
    engine.dispose()
    return rows


def test_stored_accounts_sign_in_and_lock_after_five_failures(trust_world: World) -> None:
    with client(trust_world) as c:
        assert http_sign_in(c, "tm1", "not the password at all").status_code == 400
        assert c.get("/", follow_redirects=False).status_code == 303  # still signed out
    with client(trust_world, "tm1") as c:
        assert ">My work</h1>" in c.get("/").text
    with client(trust_world) as c:
        for _ in range(4):
            assert "is not right" in http_sign_in(c, "sw2", "wrong password, wrong").text
        locked = http_sign_in(c, "sw2", "wrong password, wrong")
        assert "This account is locked" in locked.text
    # even the right password, while locked (asked of the accounts directly: the desk's rate limit answers first)
    refused = StoredAccounts(trust_world.book).verify("sw2", PASSWORD)
    assert isinstance(refused, Refused) and refused.reason is RefusalReason.LOCKED
    trust_world.clock.advance(accounts.LINK_LIFETIME)  # well past the lockout's 15 minutes
    with client(trust_world, "sw2") as c:
        assert ">My work</h1>" in c.get("/").text


def test_only_an_admin_manages_people(trust_world: World) -> None:
    with client(trust_world, "tm1") as c:
        assert c.get("/people").status_code == 403
        page = c.get("/")
        assert c.post("/people/new", data={"csrf_token": csrf_of(page.text), "user": "x", "role": "admin"}
                      ).status_code == 403  # fmt: skip
    with client(trust_world, "admin1") as c:
        assert "Everyone orderwatch knows" in c.get("/people").text


def test_a_temporary_password_must_be_changed_at_first_sign_in(trust_world: World) -> None:
    user = f"new-{trust_world.backend}"
    with client(trust_world, "admin1") as c:
        token = csrf_of(c.get("/people/new").text)
        added = c.post("/people/new", data={"csrf_token": token, "user": user, "display_name": "New Person",
                                            "role": "social_worker", "manager": "tm1"})  # fmt: skip
        assert added.status_code == 303 and added.headers["location"] == f"/people/{user}"
        page = c.get(f"/people/{user}").text
        set_it = c.post(f"/people/{user}/password", data={"csrf_token": csrf_of(page), "password": "temporary pass 1"})
        assert set_it.status_code == 303
    with client(trust_world, user, "temporary pass 1") as c:
        assert c.get("/").headers["location"] == "/account/password"  # nowhere else until it is changed
        page = c.get("/account/password").text
        assert "You signed in with a temporary password" in page
        bad = c.post("/account/password", data={"csrf_token": csrf_of(page), "current_password": "temporary pass 1",
                                                "new_password": "short", "confirm_password": "short"})  # fmt: skip
        assert bad.status_code == 400 and "at least 12 characters" in bad.text
        done = c.post("/account/password", data={"csrf_token": csrf_of(page), "current_password": "temporary pass 1",
                                                 "new_password": "my own long password",
                                                 "confirm_password": "my own long password"})  # fmt: skip
        assert done.status_code == 303
        assert ">My work</h1>" in c.get("/").text
    with client(trust_world) as c:
        assert http_sign_in(c, user, "temporary pass 1").status_code == 400
    with client(trust_world, user, "my own long password") as c:
        assert ">My work</h1>" in c.get("/").text


def test_a_one_time_link_sets_a_password_once(trust_world: World) -> None:
    with client(trust_world, "admin1") as c:
        page = c.get("/people/irom1").text
        issued = c.post("/people/irom1/link", data={"csrf_token": csrf_of(page)})
        found = re.search(r"(http://[^<\s]+/account/set-password\?token=[\w-]+)", issued.text)
        assert found, issued.text[-800:]
    path = found.group(1).split("://", 1)[1].split("/", 1)[1]
    with client(trust_world) as c:
        form = c.get("/" + path).text
        token = re.search(r'name="token" value="([^"]+)"', form)
        assert token
        answers = {"csrf_token": csrf_of(form), "token": token.group(1), "new_password": "irom1 chose this one",
                   "confirm_password": "irom1 chose this one"}  # fmt: skip
        assert c.post("/account/set-password", data=answers).headers["location"] == "/sign-in?reason=password-set"
        again = c.post("/account/set-password", data=answers)
        assert again.status_code == 400 and "not valid" in again.text
        used = c.get("/" + path)  # the page says so at once, with no form to fill in for nothing
        assert used.status_code == 410 and "This link cannot be used" in used.text and "new_password" not in used.text
        assert c.get("/account/set-password?token=made-up").status_code == 410
    with client(trust_world, "irom1", "irom1 chose this one") as c:
        assert ">My work</h1>" in c.get("/").text


def test_an_iro_cannot_open_an_unrelated_case_and_the_refusal_is_logged(trust_world: World) -> None:
    with client(trust_world, "iro2") as c:
        assert c.get("/cases/SO-1001").status_code == 404  # iro1's case
        assert c.get("/cases?ref=SO-1001").status_code == 404  # a search does not confirm it either
    assert refused_reads(trust_world, "SO-1001", "iro2")
    with client(trust_world, "iro1") as c:
        assert c.get("/cases/SO-1001").status_code == 200


def test_an_admin_deactivates_a_leaver_who_then_cannot_sign_in(trust_world: World) -> None:
    leaver = DeskClient(trust_world.base)  # signed in before they leave
    assert http_sign_in(leaver, "sw1").status_code == 303
    assert leaver.get("/").status_code == 200
    with client(trust_world, "admin1") as c:
        page = c.get("/people/sw1").text
        done = c.post("/people/sw1/deactivate", data={"csrf_token": csrf_of(page)})
        assert done.status_code == 200 and "sw1 is deactivated" in done.text
        assert "SO-1001" in done.text  # an open allocation, listed for re-allocation
    assert leaver.get("/").status_code == 303  # their session ended at the next request
    leaver.close()
    with client(trust_world) as c:
        assert "is not right" in http_sign_in(c, "sw1", PASSWORD).text
    with client(trust_world, "admin1") as c:
        page = c.get("/people/sw1").text
        assert c.post("/people/sw1/reactivate", data={"csrf_token": csrf_of(page)}).status_code == 303


# -- in a real browser ----------------------------------------------------------------------------------------------


def checked(page: Page) -> None:
    """No serious or critical axe violation, nothing against the CSP, no script error."""
    assert_accessible(page)
    _assert_clean(page)


def sign_in(page: Page, world: World, user: str) -> None:
    page.goto(world.url_of("/sign-in"))
    page.fill("#user-name", user)
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Sign in')")
    expect(page.locator("h1")).to_have_text("My work")


def test_browser_an_iro_cannot_open_an_unrelated_case(page: Page, trust_sqlite_world: World) -> None:
    world = trust_sqlite_world
    sign_in(page, world, "iro2")
    page.goto(world.url_of("/cases/SO-1002"))
    expect(page.locator(".desk-refusal")).to_have_text("There is no case with that reference.")
    assert refused_reads(world, "SO-1002", "iro2")


def test_browser_an_admin_deactivates_a_leaver_who_then_cannot_sign_in(page: Page, trust_sqlite_world: World) -> None:
    world = trust_sqlite_world
    sign_in(page, world, "admin1")
    page.get_by_role("link", name="People").first.click()
    checked(page)
    page.get_by_role("link", name="sw2").click()
    expect(page.locator("h1")).to_have_text("sw2")
    checked(page)
    page.click("button:has-text('Deactivate sw2')")
    expect(page.locator(".desk-deactivated h2")).to_have_text("sw2 is deactivated")
    checked(page)
    page.goto(world.url_of("/people/new"))
    checked(page)
    page.goto(world.url_of("/account/password"))
    checked(page)
    page.click("button:has-text('Sign out')")
    page.goto(world.url_of("/sign-in"))
    page.fill("#user-name", "sw2")
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Sign in')")
    expect(page.locator(".govuk-error-summary")).to_contain_text("The user name or password is not right")


def test_the_desks_lists_are_logged_with_their_reader(trust_world: World) -> None:
    from storage.db import make_engine

    with client(trust_world, "tm1") as c:
        assert c.get("/").status_code == 200
        assert c.get("/escalations").status_code == 200
        assert c.get("/dashboard").status_code == 200
    engine = make_engine(trust_world.url)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(access_log.c.what, access_log.c.entered_by, access_log.c.channel)
                            .where(access_log.c.case_ref == "*", access_log.c.actor == "tm1")).all()  # fmt: skip
    engine.dispose()
    assert {("my-work", "tm1", "desk"), ("escalations", "tm1", "desk"), ("dashboard", "tm1", "desk")} <= {
        tuple(r) for r in rows
    }
