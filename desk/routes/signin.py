"""Sign in with a user name and password, sign out, and the signed-out page."""

from __future__ import annotations

import logging
import math
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from desk.auth.accounts import RefusalReason, Refused, Verified
from desk.web import desk_state, render, safe_next, session_handle

__all__ = ["router"]

log = logging.getLogger("desk")
router = APIRouter()

# What a person is told for each refusal: a wrong password, an unknown name and a leaver read the same
MESSAGES = {
    RefusalReason.BAD_CREDENTIALS: "The user name or password is not right",
    RefusalReason.INACTIVE: "The user name or password is not right",
    RefusalReason.LOCKED: "This account is locked after too many failed attempts: ask an administrator to unlock it",
}
ENDED = {
    "idle": "You were signed out because you had not done anything for a while. Sign in again to carry on.",
    "absolute": "You were signed out because you had been signed in for a long time. Sign in again to carry on.",
    "inactive": "Your session has ended. Sign in again to carry on.",
    "password-set": "Your password is set. Sign in with it.",
}


@router.get("/sign-in")
def sign_in_page(request: Request, next: str = "/", reason: str = "") -> Response:
    """The sign-in page (starts the anonymous session that holds its CSRF token)."""
    state = desk_state(request)
    handle = session_handle(request)
    if handle is None:  # the session middleware gives every request a handle
        raise RuntimeError("no session handle: the session middleware is not installed")
    if handle.person is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    handle.ensure(state.clock())
    return _form(request, next=safe_next(next), notice=ENDED.get(reason))


@router.post("/sign-in")
def sign_in(
    request: Request,
    user_name: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    """Check the user name and password (rate-limited per account and per address); on success a new session."""
    state = desk_state(request)
    handle = session_handle(request)
    if handle is None:  # the session middleware gives every request a handle
        raise RuntimeError("no session handle: the session middleware is not installed")
    if not state.settings.password_sign_in:
        return render(request, "errors/404.html", status_code=404)
    errors = {}
    if not user_name.strip():
        errors["user-name"] = "Enter your user name"
    if not password:
        errors["password"] = "Enter your password"
    if len(user_name) > 200 or len(password) > 1000:
        errors["user-name"] = "The user name or password is too long"
    if errors:
        return _form(request, next=next, user_name=user_name, errors=errors, status_code=400)

    now = state.clock()
    limiter = state.services.rate_limiter
    account_key = f"account:{user_name.strip().casefold()}"
    address_key = f"address:{request.client.host if request.client else 'unknown'}"
    waits = [
        limiter.retry_after(account_key, state.settings.account_limit, now),
        limiter.retry_after(address_key, state.settings.address_limit, now),
    ]
    wait = max((w for w in waits if w is not None), default=None)
    if wait is not None:
        log.warning("desk: sign-in rate-limited (%s)", "account" if waits[0] else "address")
        minutes = max(1, math.ceil(wait / timedelta(minutes=1)))
        message = f"There have been too many attempts to sign in. Wait {minutes} minute{'s' if minutes > 1 else ''}, then try again"
        return _form(
            request,
            next=next,
            user_name=user_name,
            errors={"user-name": message},
            status_code=429,
            headers={"Retry-After": str(max(1, math.ceil(wait.total_seconds())))},
        )

    result = state.services.authenticator.verify(user_name, password)
    person = None if isinstance(result, Refused) else state.services.people.active_person(result.person_id)
    if person is None:
        reason = result.reason if isinstance(result, Refused) else RefusalReason.INACTIVE
        limiter.record_failure(account_key, state.settings.account_limit, now)
        limiter.record_failure(address_key, state.settings.address_limit, now)
        log.info("desk: sign-in refused (%s)", reason.value)
        return _form(request, next=next, user_name=user_name, errors={"user-name": MESSAGES[reason]}, status_code=400)

    limiter.reset(account_key)
    handle.sign_in(person, "password", now)
    log.info("desk: %s signed in with a password", person.id)
    if isinstance(result, Verified) and result.must_change and handle.session is not None:
        handle.session.data["must_change"] = True  # a temporary password: nothing else until it is changed
        return RedirectResponse("/account/password", status_code=303)
    return RedirectResponse(safe_next(next), status_code=303)


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    """End the session (a POST with the CSRF token, so no other site can sign anyone out)."""
    handle = session_handle(request)
    if handle is not None:
        if handle.person is not None:
            log.info("desk: %s signed out", handle.person.id)
        handle.sign_out()
    return RedirectResponse("/signed-out", status_code=303)


@router.get("/signed-out")
def signed_out(request: Request) -> Response:
    """The page after signing out."""
    return render(request, "signed_out.html")


def _form(
    request: Request,
    *,
    next: str,
    user_name: str = "",
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    state = desk_state(request)
    return render(
        request,
        "sign_in.html",
        {
            "next": safe_next(next),
            "user_name": user_name,
            "errors": errors or {},
            "notice": notice,
            "password_sign_in": state.settings.password_sign_in,
            "oidc_button": state.settings.oidc.button_text if state.settings.oidc else None,
        },
        status_code=status_code,
        headers=headers,
    )
