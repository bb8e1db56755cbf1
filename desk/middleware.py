"""The desk's ASGI middleware, outermost first: security headers, error pages, sessions, CSRF.

Pure ASGI (no BaseHTTPMiddleware), so the 500 page and every refusal carry the same headers as any page.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from datetime import datetime, timedelta
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlencode

import anyio.to_thread
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from desk.sessions import key_for
from desk.web import DeskState, PageRefused, SessionHandle, render

__all__ = ["CsrfMiddleware", "ErrorPageMiddleware", "SecurityHeadersMiddleware", "SessionMiddleware", "is_public"]

log = logging.getLogger("desk")

STATIC_PREFIXES = ("/assets/", "/static/")
PUBLIC_PATHS = frozenset(
    {
        "/sign-in",
        "/sign-in/oidc",
        "/sign-in/oidc/callback",
        "/sign-out",
        "/signed-out",
        "/healthz",
        "/account/set-password",
    }
)
# where a session signed in with a temporary password may go: choosing its own password, or leaving
MUST_CHANGE_PATHS = frozenset({"/account/password", "/sign-out", "/signed-out"})
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_FORM_BYTES = 1_000_000
TOUCH_EVERY = timedelta(seconds=60)  # last_seen is written at most once a minute per session
PURGE_EVERY = timedelta(minutes=5)
PURGE_AFTER = timedelta(days=1)  # an ended session is kept a day, so its person is told why they were signed out

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    ]
)
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=(), serial=()"


def is_public(path: str) -> bool:
    """Whether ``path`` is served without signing in (sign-in itself, health, and the static files)."""
    return path in PUBLIC_PATHS or path.startswith(STATIC_PREFIXES)


class SecurityHeadersMiddleware:
    """Adds the security headers to every response; pages (anything not static) are never stored by caches."""

    def __init__(self, app: ASGIApp, state: DeskState) -> None:
        self.app = app
        self.hsts = state.settings.cookie_secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith(STATIC_PREFIXES)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = CSP
                headers["X-Content-Type-Options"] = "nosniff"
                headers["X-Frame-Options"] = "DENY"
                headers["Referrer-Policy"] = "same-origin"
                headers["Permissions-Policy"] = PERMISSIONS_POLICY
                headers["Cross-Origin-Opener-Policy"] = "same-origin"
                headers["Cross-Origin-Resource-Policy"] = "same-origin"
                if self.hsts:
                    headers["Strict-Transport-Security"] = "max-age=31536000"
                if static:
                    headers.setdefault("Cache-Control", "public, max-age=3600")
                else:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)


class ErrorPageMiddleware:
    """Gives each request a correlation id; an unhandled error becomes the 500 page quoting it (and only it)."""

    def __init__(self, app: ASGIApp, state: DeskState) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        correlation_id = secrets.token_hex(6)
        scope["desk.correlation_id"] = correlation_id
        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                MutableHeaders(scope=message)["X-Correlation-Id"] = correlation_id
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        except Exception:
            # the traceback stays in the server's log; the page shows only the id to quote
            log.exception("desk: internal error %s on %s %s", correlation_id, scope["method"], scope["path"])
            if started:
                raise
            scope.pop("desk.session", None)  # the 500 page names nobody
            response = render(Request(scope), "errors/500.html", status_code=500)
            await response(scope, receive, send_tracking)


class SessionMiddleware:
    """Loads the server-side session named by the cookie, ends it if it has expired or its person has left, and
    sends anyone not signed in to the sign-in page (every path is private unless ``is_public``).

    The handle is at ``scope["desk.session"]``; the session's ``data`` is also ``scope["session"]`` (Authlib keeps
    the OpenID Connect state there). Changes are written, and the cookie set, when the response starts.
    """

    def __init__(self, app: ASGIApp, state: DeskState) -> None:
        self.app = app
        self.state = state
        secure = state.settings.cookie_secure
        self.cookie_name = "__Host-orderwatch" if secure else "orderwatch"  # __Host-: Secure, Path=/, no Domain
        self.cookie_flags = "Path=/; HttpOnly; SameSite=Lax" + ("; Secure" if secure else "")
        self.last_purge: datetime | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(STATIC_PREFIXES):
            await self.app(scope, receive, send)
            return
        token = _cookie(scope, self.cookie_name)
        handle = await anyio.to_thread.run_sync(self._load, token)
        scope["desk.session"] = handle
        if handle.session is not None:
            scope["session"] = handle.session.data

        async def send_with_session(message: Message) -> None:
            if message["type"] == "http.response.start":
                await anyio.to_thread.run_sync(self._persist, handle)
                headers = MutableHeaders(scope=message)
                if handle.new_token is not None:
                    headers.append("Set-Cookie", f"{self.cookie_name}={handle.new_token}; {self.cookie_flags}")
                elif handle.clear_cookie:
                    headers.append("Set-Cookie", f"{self.cookie_name}=; Max-Age=0; {self.cookie_flags}")
            await send(message)

        if handle.person is None and not is_public(scope["path"]):
            query = {"next": scope["path"] + (f"?{scope['query_string'].decode()}" if scope["query_string"] else "")}
            if handle.ended:
                query["reason"] = handle.ended
            response = RedirectResponse(f"/sign-in?{urlencode(query)}", status_code=303)
            await response(scope, receive, send_with_session)
            return
        if (handle.person is not None and handle.session is not None and handle.session.data.get("must_change")
                and scope["path"] not in MUST_CHANGE_PATHS and not is_public(scope["path"])):  # fmt: skip
            await RedirectResponse("/account/password", status_code=303)(scope, receive, send_with_session)
            return
        await self.app(scope, receive, send_with_session)

    def _load(self, token: str | None) -> SessionHandle:
        state = self.state
        store = state.services.sessions
        now = state.clock()
        if self.last_purge is None or now - self.last_purge >= PURGE_EVERY:
            self.last_purge = now
            store.purge(now - state.policy.idle - PURGE_AFTER, now - state.policy.absolute - PURGE_AFTER)
        if token is None:
            return SessionHandle(None, None, None)
        session = store.load(key_for(token))
        if session is None:
            handle = SessionHandle(None, None, None)
            handle.clear_cookie = True
            return handle
        ended = state.policy.ended(session, now)
        person = None
        if ended is None and session.person_id is not None:
            person = state.services.people.active_person(session.person_id)
            if person is None:
                ended = "inactive"
        if ended is not None:
            store.delete(session.key)
            handle = SessionHandle(None, None, ended if session.person_id is not None else None)
            handle.clear_cookie = True
            return handle
        handle = SessionHandle(session, person, None)
        if now - session.last_seen_at >= TOUCH_EVERY:
            session.last_seen_at = now
            handle.dirty = True
        return handle

    def _persist(self, handle: SessionHandle) -> None:
        store = self.state.services.sessions
        for key in handle.dropped:
            store.delete(key)
        if handle.session is not None and handle.needs_save():
            store.save(handle.session)


class CsrfMiddleware:
    """Refuses (403, nothing changed) any POST/PUT/PATCH/DELETE whose ``csrf_token`` form field (or
    ``X-CSRF-Token`` header) is not this session's token. The body is read here and replayed to the app."""

    def __init__(self, app: ASGIApp, state: DeskState) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in UNSAFE_METHODS:
            await self.app(scope, receive, send)
            return
        body = b""
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > MAX_FORM_BYTES:
                await PlainTextResponse("Request too large", status_code=413)(scope, receive, send)
                return
        replay = _replayer(body, receive)
        handle: SessionHandle | None = scope.get("desk.session")
        expected = handle.csrf_token if handle else None
        if expected is None and scope["path"] == "/sign-out":
            await self.app(scope, replay(), send)  # no session: nothing to sign out of, nothing to protect
            return
        request = Request(scope, replay())
        sent = request.headers.get("x-csrf-token")
        if sent is None:
            async with request.form(max_part_size=MAX_FORM_BYTES) as form:
                field = form.get("csrf_token")
                sent = field if isinstance(field, str) else None
        if expected is None or sent is None or not hmac.compare_digest(sent.encode(), expected.encode()):
            log.warning("desk: CSRF check refused %s %s", scope["method"], scope["path"])
            refusal = PageRefused(
                "This form has expired or did not come from this service, so nothing was changed: "
                "go back, reload the page and try again."
            )
            response = render(request, "errors/403.html", {"sentence": refusal.sentence}, status_code=403)
            await response(scope, replay(), send)
            return
        await self.app(scope, replay(), send)


def _replayer(body: bytes, upstream: Receive) -> Any:
    """A factory of ``receive`` callables that give the app the body already read, then the real stream's end."""

    def make() -> Receive:
        sent = False

        async def receive() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await upstream()  # waits for the client to go away, as the real stream would

        return receive

    return make


def _cookie(scope: Scope, name: str) -> str | None:
    for key, value in scope["headers"]:
        if key == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except Exception:
                continue  # a malformed cookie header names no session
            if name in jar:
                return jar[name].value or None
    return None
