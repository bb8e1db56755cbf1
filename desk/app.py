"""The desk's app factory: ``create_app(settings, services)`` returns an ASGI app to serve with uvicorn.

``services`` are the implementations of the protocols the desk depends on (people, passwords, sessions, the sign-in
rate limiter, OpenID Connect links); the lead wires storage-backed ones, tests and ``--demo`` use in-memory ones.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, PrefixLoader, select_autoescape
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware import Middleware
from starlette.responses import Response

from desk.auth.oidc import OidcSignIn
from desk.middleware import CsrfMiddleware, ErrorPageMiddleware, SecurityHeadersMiddleware, SessionMiddleware
from desk.routes import account, actions, cases, dashboard, escalations, oidc, pages, people, register, signin, work
from desk.services import DeskServices
from desk.sessions import SessionPolicy
from desk.settings import DeskSettings
from desk.web import DeskState, PageRefused, render
from storage.clock import LONDON, Clock
from storage.clock import now as system_clock

if TYPE_CHECKING:
    pass

__all__ = ["create_app"]

HERE = Path(__file__).parent
GOVUK_FRONTEND_VERSION = "6.3.0"
# each module's ``router``; a new page's module is added here (register's before cases': /cases/new/... first)
ROUTERS = (signin, oidc, account, pages, work, register, cases, actions, escalations, dashboard, people)


def create_app(
    settings: DeskSettings,
    services: DeskServices,
    clock: Clock = system_clock,
    today: Callable[[], date] | None = None,
) -> FastAPI:
    """The desk as an ASGI app. ``settings`` are validated here; ``clock`` is replaceable for tests; ``today`` (the
    date deadlines are counted from) defaults to the clock's date in Europe/London."""
    settings.validate()
    london = ZoneInfo(LONDON)
    state = DeskState(
        settings=settings,
        services=services,
        clock=clock,
        templates=Jinja2Templates(env=_environment()),
        oidc=OidcSignIn(settings.oidc) if settings.oidc else None,
        policy=SessionPolicy(idle=settings.idle_timeout, absolute=settings.absolute_timeout),
        today=today or (lambda: clock().astimezone(london).date()),
    )
    app = FastAPI(
        title="orderwatch desk",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        middleware=[
            Middleware(SecurityHeadersMiddleware, state=state),
            Middleware(ErrorPageMiddleware, state=state),
            Middleware(SessionMiddleware, state=state),
            Middleware(CsrfMiddleware, state=state),
        ],
    )
    app.state.desk = state
    app.mount("/assets", StaticFiles(directory=HERE / "static" / "govuk"), name="assets")
    app.mount("/static", StaticFiles(directory=HERE / "static", html=False), name="static")
    for module in ROUTERS:
        app.include_router(module.router)
    # a section appears in the navigation once one of these routers answers GET at its path
    state.page_paths = frozenset(
        route.path
        for module in ROUTERS
        for route in module.router.routes
        if isinstance(route, APIRoute) and "GET" in (route.methods or ())
    )
    app.add_exception_handler(PageRefused, _refused)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _bad_request)
    return app


def _environment() -> Environment:
    env = Environment(
        loader=ChoiceLoader(
            [
                FileSystemLoader(HERE / "templates"),
                PrefixLoader({"govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja")}),
            ]
        ),
        autoescape=select_autoescape(["html"], default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["govuk_frontend_version"] = GOVUK_FRONTEND_VERSION
    return env


async def _refused(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, PageRefused):  # registered for PageRefused only
        raise exc
    return render(request, "errors/403.html", {"sentence": exc.sentence}, status_code=exc.status_code)


async def _http_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, StarletteHTTPException):  # registered for HTTP errors only
        raise exc
    if exc.status_code == 404:
        return render(request, "errors/404.html", status_code=404)
    sentence = "That request cannot be answered, so nothing was changed." if exc.status_code < 500 else None
    return render(request, "errors/403.html", {"sentence": sentence}, status_code=exc.status_code)


async def _bad_request(request: Request, exc: Exception) -> Response:
    sentence = "The form was not complete, so nothing was changed: go back and try again."
    return render(request, "errors/403.html", {"sentence": sentence}, status_code=400)
