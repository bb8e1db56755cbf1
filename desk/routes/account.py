"""A person's own password: the forced change after an admin's temporary password, and the one-time link.

``/account/password``: signed in, choose a new password (the current one asked again). A session signed in with a
temporary password can reach nothing else until it is changed (``desk.middleware``). ``/account/set-password``:
public — the link's token (from the query, then a hidden field) sets the password once, then one signs in with it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from desk.web import CurrentPerson, desk_state, flash, render, session_handle, writes
from machines.errors import Refused
from storage import accounts

__all__ = ["MUST_CHANGE", "router"]

router = APIRouter()
MUST_CHANGE = "must_change"  # the session key: signed in with a temporary password


def _check_new(new: str, again: str) -> dict[str, str]:
    if len(new) < accounts.MIN_PASSWORD:
        return {"new-password": f"Choose a password of at least {accounts.MIN_PASSWORD} characters"}
    if len(new) > 1000:
        return {"new-password": "Choose a shorter password"}
    if new != again:
        return {"confirm-password": "The two passwords are not the same"}
    return {}


@router.get("/account/password")
def password_page(request: Request, person: CurrentPerson) -> Response:
    return _page(request, forced=_forced(request))


def _forced(request: Request) -> bool:
    handle = session_handle(request)
    return bool(handle and handle.session and handle.session.data.get(MUST_CHANGE))


def _page(request: Request, *, forced: bool = False, token: str | None = None, errors: dict[str, str] | None = None,
          status_code: int = 200) -> Response:  # fmt: skip
    return render(request, "password.html", {"title": "Choose a new password", "forced": forced, "token": token,
                                             "errors": errors or {}, "minimum": accounts.MIN_PASSWORD},
                  status_code=status_code)  # fmt: skip


@router.post("/account/password")
def change_password(
    request: Request,
    person: CurrentPerson,
    current_password: Annotated[str, Form()] = "",
    new_password: Annotated[str, Form()] = "",
    confirm_password: Annotated[str, Form()] = "",
) -> Response:
    """Check the current password, then store the new one's hash (a ``ChangeOwnPassword`` command)."""
    book = writes(request)
    found = book.account(person.id)
    if found is None or not accounts.matches(found.password_hash, current_password):
        return _page(request, forced=_forced(request), errors={"current-password": "Your current password is not right"},
                     status_code=400)  # fmt: skip
    errors = _check_new(new_password, confirm_password)
    if errors:
        return _page(request, forced=_forced(request), errors=errors, status_code=400)
    book.handle(accounts.ChangeOwnPassword(actor=person.id, user=person.id, entered_by=person.id, channel="desk",
                                           password_hash=accounts.hash_password(new_password)))  # fmt: skip
    handle = session_handle(request)
    if handle is not None and handle.session is not None:
        handle.session.data.pop(MUST_CHANGE, None)
    flash(request, "Password changed", "Use your new password next time you sign in.")
    return RedirectResponse("/", status_code=303)


@router.get("/account/set-password")
def link_page(request: Request, token: str = "") -> Response:
    """The one-time link's page (starts the anonymous session that holds its CSRF token); a link that cannot be
    used any more says so at once."""
    if not token or not writes(request).link_usable(token):
        # said before anyone chooses a password for nothing; no form, so no session either
        return render(request, "link_gone.html", {"title": "This link cannot be used"}, status_code=410)
    handle = session_handle(request)
    if handle is not None:
        handle.ensure(desk_state(request).clock())
    return _page(request, token=token)


@router.post("/account/set-password")
def set_by_link(
    request: Request,
    token: Annotated[str, Form()] = "",
    new_password: Annotated[str, Form()] = "",
    confirm_password: Annotated[str, Form()] = "",
) -> Response:
    errors = _check_new(new_password, confirm_password)
    if errors:
        return _page(request, token=token, errors=errors, status_code=400)
    try:
        writes(request).handle(accounts.UseLink(actor="system", token_hash=accounts.hash_token(token), channel="desk",
                                                password_hash=accounts.hash_password(new_password)))  # fmt: skip
    except Refused as refused:
        return _page(request, token=token, errors={"new-password": str(refused).capitalize()}, status_code=400)
    return RedirectResponse("/sign-in?reason=password-set", status_code=303)
