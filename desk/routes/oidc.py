"""Sign in through the configured OpenID Connect provider (Microsoft Entra ID in councils)."""

from __future__ import annotations

import logging

import anyio.to_thread
from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from desk.auth.oidc import OidcError
from desk.web import PageRefused, desk_state, safe_next, session_handle

__all__ = ["router"]

log = logging.getLogger("desk")
router = APIRouter()

NEXT_KEY = "oidc_next"


@router.get("/sign-in/oidc")
async def start(request: Request, next: str = "/") -> Response:
    """Send the browser to the provider (the state, nonce and PKCE verifier wait in the anonymous session)."""
    state = desk_state(request)
    handle = session_handle(request)
    if handle is None:  # the session middleware gives every request a handle
        raise RuntimeError("no session handle: the session middleware is not installed")
    if state.oidc is None:
        raise PageRefused("Signing in with a council account is not set up here.", status_code=404)
    if handle.person is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    session = handle.ensure(state.clock())
    request.scope["session"] = session.data
    session.data[NEXT_KEY] = safe_next(next)
    try:
        return await state.oidc.start(request)
    except OidcError as exc:
        log.error("desk: OpenID Connect sign-in could not start: %s", exc)
        raise PageRefused(
            "The council sign-in service is not answering, so you cannot sign in with it just now: try again later.",
            status_code=503,
        ) from None


@router.get("/sign-in/oidc/callback")
async def callback(request: Request) -> Response:
    """The provider sends the browser back here: validate, map the identity to a person, start their session."""
    state = desk_state(request)
    handle = session_handle(request)
    if handle is None:  # the session middleware gives every request a handle
        raise RuntimeError("no session handle: the session middleware is not installed")
    if state.oidc is None or state.services.oidc_people is None:
        raise PageRefused("Signing in with a council account is not set up here.", status_code=404)
    if handle.session is None:
        raise PageRefused(
            "That sign-in had expired or was started in another browser: start again from the sign-in page."
        )
    try:
        identity = await state.oidc.finish(request)
    except OidcError as exc:
        log.warning("desk: OpenID Connect sign-in refused: %s", exc)
        raise PageRefused(
            "Signing in with your council account did not complete, so you are not signed in: start again."
        ) from None
    mapper = state.services.oidc_people
    people = state.services.people
    person_id = await anyio.to_thread.run_sync(mapper.person_for, identity)
    person = await anyio.to_thread.run_sync(people.active_person, person_id) if person_id else None
    if person is None:
        log.warning("desk: OpenID Connect identity %s is linked to no active person", identity.key)
        raise PageRefused(
            "Your council account is not linked to anyone who may use orderwatch: ask an administrator to add you."
        )
    next_path = safe_next(str(handle.session.data.get(NEXT_KEY, "/")))
    handle.sign_in(person, "oidc", state.clock())
    log.info("desk: %s signed in through OpenID Connect", person.id)
    return RedirectResponse(next_path, status_code=303)
