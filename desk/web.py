"""What every page handler needs: the desk's state, the request's session, the signed-in person, rendering.

Pages call ``render(request, "template.html", {...})`` and take the person with ``person: CurrentPerson``. A page
that must refuse raises ``PageRefused("One sentence saying why.")``; nothing is changed and a 403 page says it.
"""

from __future__ import annotations

import copy
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates
from starlette.responses import HTMLResponse

from desk.auth.accounts import Person
from desk.navigation import navigation_for
from desk.sessions import EndReason, Session, SessionPolicy, new_session
from desk.settings import DeskSettings
from storage.clock import Clock

if TYPE_CHECKING:
    from desk.auth.oidc import OidcSignIn
    from desk.services import DeskServices
    from machines.model import Person as Worker
    from storage.casebook import Casebook
    from storage.deskbook import DeskBook

__all__ = [
    "CurrentPerson",
    "DeskState",
    "PageRefused",
    "SessionHandle",
    "current_person",
    "desk_state",
    "flash",
    "new_request_id",
    "reads",
    "render",
    "safe_next",
    "session_handle",
    "take_flash",
    "today",
    "worker",
    "writes",
]


@dataclass
class DeskState:
    """The app's configuration and collaborators, at ``app.state.desk``."""

    settings: DeskSettings
    services: DeskServices
    clock: Clock
    templates: Jinja2Templates
    oidc: OidcSignIn | None
    policy: SessionPolicy
    today: Callable[[], date]
    page_paths: frozenset[str] = frozenset()


class PageRefused(Exception):
    """Refuse a request with one sentence (shown on the page; no personal data in it). Nothing may have changed."""

    def __init__(self, sentence: str, status_code: int = 403) -> None:
        super().__init__(sentence)
        self.sentence = sentence
        self.status_code = status_code


class SessionHandle:
    """This request's session, as the session middleware loaded it; changes are saved when the response starts."""

    def __init__(self, session: Session | None, person: Person | None, ended: EndReason | None) -> None:
        self.session = session
        self.person = person
        self.ended = ended
        self.new_token: str | None = None
        self.clear_cookie = False
        self.dropped: list[str] = []
        self.dirty = False
        self._data_as_loaded: dict[str, Any] = copy.deepcopy(session.data) if session else {}

    @property
    def csrf_token(self) -> str | None:
        """The token every form of this session must carry, or None before a session exists."""
        return self.session.csrf_token if self.session else None

    def ensure(self, now: datetime) -> Session:
        """This request's session, starting an anonymous one (for a sign-in form) if there is none."""
        if self.session is None:
            self.new_token, self.session = new_session(now)
            self.dirty = True
            self.clear_cookie = False
        return self.session

    def sign_in(self, person: Person, method: str, now: datetime) -> None:
        """Replace the session with a new one for ``person``: new cookie token, new CSRF token (no fixation)."""
        if self.session is not None:
            self.dropped.append(self.session.key)
        self.new_token, self.session = new_session(now, person.id, method)
        self.person = person
        self.dirty = True
        self.clear_cookie = False

    def sign_out(self) -> None:
        """End the session and clear the cookie."""
        if self.session is not None:
            self.dropped.append(self.session.key)
        self.session = None
        self.person = None
        self.new_token = None
        self.clear_cookie = True

    def needs_save(self) -> bool:
        """Whether the session must be written back (new, touched, or its data changed)."""
        return self.session is not None and (self.dirty or self.session.data != self._data_as_loaded)


def desk_state(request: Request) -> DeskState:
    """The desk's state for this request's app."""
    state: DeskState = request.app.state.desk
    return state


def session_handle(request: Request) -> SessionHandle | None:
    """The session middleware's handle (None only for static files and outside the desk's middleware)."""
    handle: SessionHandle | None = request.scope.get("desk.session")
    return handle


def current_person(request: Request) -> Person:
    """The signed-in person (the session middleware has already sent everyone else to the sign-in page)."""
    handle = session_handle(request)
    if handle is None or handle.person is None:
        raise PageRefused("You need to sign in to see this page.", status_code=401)
    return handle.person


CurrentPerson = Annotated[Person, Depends(current_person)]


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """Render a page in the desk's layout: the person, the CSRF token and the navigation are added here."""
    state = desk_state(request)
    handle = session_handle(request)
    person = handle.person if handle else None
    full: dict[str, Any] = {
        "person": person,
        "csrf_token": handle.csrf_token if handle else None,
        "navigation": navigation_for(person, request.url.path, state.page_paths) if person else [],
        "service_name": state.settings.service_name,
        "phase": state.settings.phase,
        "correlation_id": request.scope.get("desk.correlation_id"),
        "flash": take_flash(request) if person and status_code < 400 else None,
    }
    full.update(context or {})
    response: HTMLResponse = state.templates.TemplateResponse(
        request, template, full, status_code=status_code, headers=headers
    )
    return response


def safe_next(value: str | None) -> str:
    """A local path to go to after signing in: anything that could leave the site (or loop) becomes ``/``."""
    if (
        not value
        or not value.startswith("/")
        or value.startswith("//")
        or any(c in value for c in "\\\r\n\t")
        or value.startswith(("/sign-in", "/sign-out", "/signed-out"))
    ):
        return "/"
    return value


# -- what the case pages need ----------------------------------------------------------------------------------------

NOT_CONNECTED = "This desk is not connected to orderwatch's casebook, so there is no casework to show."
NOT_A_PERSON = "You are not on orderwatch's list of people, so there is no casework for you here."


def today(request: Request) -> date:
    """Today's date in England and Wales (every deadline is a date there), from the desk's clock."""
    return desk_state(request).today()


def writes(request: Request) -> Casebook:
    """The casebook: every change goes through its ``handle`` (the one write path)."""
    book = desk_state(request).services.casebook
    if book is None:
        raise PageRefused(NOT_CONNECTED, status_code=503)
    return book


def reads(request: Request) -> DeskBook:
    """The desk's read models over the casebook."""
    from storage.deskbook import DeskBook

    cached: DeskBook | None = getattr(request.app.state, "deskbook", None)
    book = writes(request)
    if cached is None or cached.book is not book:
        cached = request.app.state.deskbook = DeskBook(book)
    return cached


def worker(request: Request, person: Person) -> Worker:
    """The signed-in person as orderwatch's rules know them (role and manager), or a refusal."""
    found = reads(request).person(person.id)
    if found is None:
        raise PageRefused(NOT_A_PERSON)
    return found


def new_request_id() -> str:
    """A form's idempotency token: a retried submission of the same form records nothing twice."""
    return secrets.token_urlsafe(18)


def flash(request: Request, heading: str, text: str) -> None:
    """A success message shown once, on the next page (GOV.UK's notification banner)."""
    handle = session_handle(request)
    if handle is not None and handle.session is not None:
        handle.session.data["flash"] = {"heading": heading, "text": text}


def take_flash(request: Request) -> dict[str, str] | None:
    """The message left by the last action, if any (it is removed)."""
    handle = session_handle(request)
    if handle is None or handle.session is None:
        return None
    found: dict[str, str] | None = handle.session.data.pop("flash", None)
    return found
