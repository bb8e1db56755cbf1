"""What every page handler needs: the desk's state, the request's session, the signed-in person, rendering.

Pages call ``render(request, "template.html", {...})`` and take the person with ``person: CurrentPerson``. A page
that must refuse raises ``PageRefused("One sentence saying why.")``; nothing is changed and a 403 page says it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates
from starlette.responses import HTMLResponse

from cli.clock import Clock
from desk.auth.accounts import Person
from desk.navigation import navigation_for
from desk.sessions import EndReason, Session, SessionPolicy, new_session
from desk.settings import DeskSettings

if TYPE_CHECKING:
    from desk.app import DeskServices
    from desk.auth.oidc import OidcSignIn

__all__ = [
    "CurrentPerson",
    "DeskState",
    "PageRefused",
    "SessionHandle",
    "current_person",
    "desk_state",
    "render",
    "safe_next",
    "session_handle",
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
