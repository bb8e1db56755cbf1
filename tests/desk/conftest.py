"""The desk under test: served by uvicorn on a free port, with in-memory accounts and a clock the test moves,
driven by Debian's Chromium through Playwright. A missing Chromium fails these tests (never skips them)."""

from __future__ import annotations

import dataclasses
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from desk.app import create_app
from desk.auth.accounts import Person
from desk.auth.local import InMemoryAccounts
from desk.auth.oidc import InMemoryOidcLinks
from desk.dev.browser import CHROMIUM_ARGS, ChromiumMissing, chromium_path
from desk.dev.server import reserve_port, serve_in_thread
from desk.ratelimit import InMemoryRateLimiter
from desk.services import DeskServices
from desk.sessions import InMemorySessionStore
from desk.settings import DeskSettings
from tests.conftest import _truncate, snapshot

PASSWORD = "correct horse battery staple"
PEOPLE = (
    Person("tm1", "Sam Taylor", frozenset({"team_manager"})),
    Person("hos1", "Jo Morgan", frozenset({"head_of_service"})),
    Person("admin1", "Ali Khan", frozenset({"admin"})),
)
START = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
# argon2id at a test-sized cost: the same algorithm and code path, a fraction of the production memory and time
TEST_HASHER = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)


class MovableClock:
    """The desk's clock in tests: stands still until the test moves it."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self.now

    def advance(self, by: timedelta) -> None:
        with self._lock:
            self.now += by


@dataclass
class Desk:
    """A running desk and the handles a test needs to reach behind it."""

    base: str
    app: FastAPI
    clock: MovableClock
    accounts: InMemoryAccounts
    links: InMemoryOidcLinks
    sessions: InMemorySessionStore
    settings: DeskSettings

    def url(self, path: str) -> str:
        return self.base + path


DeskFactory = Callable[..., Desk]


@pytest.fixture
def desk_factory() -> Iterator[DeskFactory]:
    """Start desks with settings overrides (``oidc_for=callable(base) -> OidcSettings`` for a redirect URI)."""
    with ExitStack() as stack:

        def start(oidc_for: Callable[[str], Any] | None = None, **overrides: Any) -> Desk:
            reserved = reserve_port()
            settings = DeskSettings(**overrides)
            if oidc_for is not None:
                settings = dataclasses.replace(settings, oidc=oidc_for(reserved[1]))
            accounts = InMemoryAccounts(TEST_HASHER)
            for person in PEOPLE:
                accounts.add(person, PASSWORD)
            links = InMemoryOidcLinks()
            sessions = InMemorySessionStore()
            clock = MovableClock()
            services = DeskServices(
                people=accounts,
                authenticator=accounts,
                sessions=sessions,
                rate_limiter=InMemoryRateLimiter(),
                oidc_people=links,
            )
            app = create_app(settings, services, clock=clock)
            app.add_api_route("/deliberate-fault", _deliberate_fault)
            base = stack.enter_context(serve_in_thread(app, reserved))
            return Desk(base, app, clock, accounts, links, sessions, settings)

        yield start


def _deliberate_fault() -> None:
    raise RuntimeError("deliberate fault with a child identifier C-SECRET-1 in its message")


@pytest.fixture
def desk(desk_factory: DeskFactory) -> Desk:
    """A desk with production settings (Secure cookies: Chromium keeps them on http://127.0.0.1)."""
    return desk_factory()


class DeskClient(httpx.Client):
    """An HTTP client that keeps the desk's cookies itself and does not follow redirects.

    httpx will not send a Secure cookie to http://127.0.0.1, which browsers do (a loopback origin counts as secure),
    so the desk is tested here with the same Secure ``__Host-`` cookie as in production.
    """

    def __init__(self, base: str) -> None:
        self.jar: dict[str, str] = {}
        super().__init__(base_url=base, event_hooks={"request": [self._send], "response": [self._keep]})

    def _send(self, request: httpx.Request) -> None:
        if self.jar:
            request.headers["cookie"] = "; ".join(f"{k}={v}" for k, v in self.jar.items())

    def _keep(self, response: httpx.Response) -> None:
        for header in response.headers.get_list("set-cookie"):
            name, _, rest = header.partition("=")
            if "Max-Age=0" in rest:
                self.jar.pop(name, None)
            else:
                self.jar[name] = rest.split(";")[0]


def http_client(desk: Desk) -> DeskClient:
    """A ``DeskClient`` for ``desk``."""
    return DeskClient(desk.base)


@pytest.fixture
def client(desk: Desk) -> Iterator[DeskClient]:
    """``http_client(desk)``."""
    with http_client(desk) as c:
        yield c


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def http_sign_in(client: httpx.Client, user: str = "tm1", password: str = PASSWORD) -> httpx.Response:
    """Sign in over plain HTTP; the response to the POST."""
    token = csrf_of(client.get("/sign-in").text)
    return client.post("/sign-in", data={"csrf_token": token, "user_name": user, "password": password, "next": "/"})


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, for the whole session."""
    try:
        path = chromium_path()
    except ChromiumMissing as exc:
        pytest.fail(str(exc))
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


@dataclass
class Watched:
    """What a page said that it should not have: console errors, uncaught exceptions, CSP violations."""

    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def csp_violations(self, page: Page) -> list[str]:
        found: list[str] = page.evaluate("window.__cspViolations || []")
        return found


# Runs before any page script through the DevTools protocol (not subject to the page's CSP): records violations
WATCH_CSP = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', e =>
  window.__cspViolations.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline')));
"""


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (no cookies) and page; its console errors are kept on ``page.watched``."""
    context = browser.new_context(viewport={"width": 1024, "height": 800})
    context.add_init_script(WATCH_CSP)
    pg = context.new_page()
    watched = Watched()

    def on_console(message: ConsoleMessage) -> None:
        # a 4xx/5xx page is itself logged as a failed load; anything else is a fault
        if message.type in ("error", "warning") and not message.text.startswith("Failed to load resource"):
            watched.console.append(message.text)

    pg.on("console", on_console)
    pg.on("pageerror", lambda exc: watched.errors.append(str(exc)))
    pg.watched = watched  # type: ignore[attr-defined]
    yield pg
    context.close()


def browser_sign_in(page: Page, desk: Desk, user: str = "tm1", password: str = PASSWORD) -> None:
    """Sign in through the form, with the mouse."""
    page.goto(desk.url("/sign-in"))
    page.fill("#user-name", user)
    page.fill("#password", password)
    page.click("button:has-text('Sign in')")
    page.wait_for_load_state()


# -- the case pages: a desk over a real casebook (SQLite and PostgreSQL), one server per module -----------------------

CASEWORK_TODAY = date(2026, 11, 20)  # desk.dev.caseload's "today"


@dataclass
class World:
    """A running desk over a seeded casebook: its URL, the casebook (to set cases up and check them), the database."""

    base: str
    book: Any  # storage.casebook.Casebook
    url: str
    backend: str
    clock: MovableClock
    events: Any

    def url_of(self, path: str) -> str:
        return self.base + path

    @contextmanager
    def client(self, user: str) -> Iterator[DeskClient]:
        """A signed-in HTTP client: ``with world.client("tm1") as c: ...``."""
        with DeskClient(self.base) as c:
            assert http_sign_in(c, user).status_code == 303
            yield c


def fresh_database(backend: str, tmp: Path, request: pytest.FixtureRequest) -> str:
    """An empty migrated database: a copy of the SQLite template, or the worker's PostgreSQL schema emptied."""
    if backend == "sqlite":
        target = tmp / "desk.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), target)
        return f"sqlite:///{target}"
    url: str = request.getfixturevalue("pg_url")
    _truncate(url)
    return url


def start_world(backend: str, tmp: Path, request: pytest.FixtureRequest, stack: ExitStack,
                events: Any = None) -> World:  # fmt: skip
    """Seed ``desk.dev.caseload`` into a fresh database and serve a desk over it (accounts: every seeded person)."""
    from desk.auth.directory import StoragePeople
    from desk.dev.caseload import PEOPLE as SEEDED
    from desk.dev.caseload import seed
    from desk.events import NoActionEvents
    from storage.casebook import Casebook
    from storage.db import make_engine

    url = fresh_database(backend, tmp, request)
    engine = make_engine(url)
    stack.callback(engine.dispose)
    clock = MovableClock()
    book = Casebook(engine, clock=clock)
    seed(book)
    accounts = InMemoryAccounts(TEST_HASHER)
    for user, role, _ in SEEDED:
        accounts.add(Person(user, user, frozenset({role})), PASSWORD)
    events = events or NoActionEvents()
    services = DeskServices(people=StoragePeople(book), authenticator=accounts, casebook=book, events=events)
    app = create_app(DeskSettings(), services, clock=clock, today=lambda: CASEWORK_TODAY)
    base = stack.enter_context(serve_in_thread(app))
    return World(base, book, url, backend, clock, events)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The seeded desk, once per module and backend (tests use cases of their own, or ones no other test changes)."""
    with ExitStack() as stack:
        yield start_world(request.param, tmp_path_factory.mktemp("world"), request, stack)


@pytest.fixture(scope="module")
def sqlite_world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The seeded desk on SQLite only (the browser tests: the backend is the HTTP tests' concern)."""
    with ExitStack() as stack:
        yield start_world("sqlite", tmp_path_factory.mktemp("world"), request, stack)


def snapshot_without_reads(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table but the access log and its chain's head (reading a case is recorded there, and is
    not a change)."""
    rows = snapshot(url)
    rows.pop("access_log", None)
    rows["chain_heads"] = [r for r in rows.get("chain_heads", []) if r[0] != "'access_log'"]
    return rows
