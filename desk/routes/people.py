"""People (``/people``), for admins: everyone orderwatch knows; add a person, change their role or manager,
deactivate a leaver (their open allocations listed for re-allocation), reactivate, issue a one-time set-password
link or a temporary password. Every change is a command through ``Casebook.handle`` (an admin's, recorded in the
people log with the desk as its channel); the rules refuse anyone else there too.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from desk.auth.accounts import Person
from desk.forms import person_label
from desk.web import CurrentPerson, PageRefused, desk_state, flash, render, today, writes
from machines.errors import Refused
from machines.model import Role
from machines.wording import role_words
from storage import accounts
from storage.commands import AddPerson, ChangePerson, DeactivatePerson, ReactivatePerson
from storage.queries import PersonView

__all__ = ["router"]

router = APIRouter()
ROLES = [r for r in Role if r is not Role.SYSTEM]


def _admin(request: Request, person: Person) -> dict[str, Any]:
    """The command fields of the signed-in admin (refused for anyone else)."""
    if "admin" not in person.roles:
        raise PageRefused("Only an admin may manage people.")
    return {"actor": person.id, "entered_by": person.id, "channel": "desk"}


def _everyone(request: Request) -> list[PersonView]:
    return writes(request).people()


def _one(request: Request, user: str) -> PersonView:
    found = writes(request).people_named([user])
    if not found:
        raise PageRefused("There is no such person.", status_code=404)
    return found[0]


@router.get("/people")
def people(request: Request, person: CurrentPerson) -> Response:
    """Everyone, by user name."""
    _admin(request, person)
    rows = [(p.user, p.display_name or "", role_words(p.role), p.manager or "", p.active) for p in _everyone(request)]
    return render(request, "people.html", {"title": "People", "rows": rows})


@router.get("/people/new")
def new_person_page(request: Request, person: CurrentPerson) -> Response:
    _admin(request, person)
    return _new_form(request)


def _new_form(request: Request, values: dict[str, str] | None = None, error: str | None = None) -> Response:
    return render(request, "person_new.html", {"title": "Add a person", "roles": _role_choices(),
                                               "managers": _manager_choices(request), "values": values or {},
                                               "error": error}, status_code=400 if error else 200)  # fmt: skip


def _role_choices() -> list[tuple[str, str]]:
    return [(r.value, role_words(r.value)) for r in ROLES]


def _manager_choices(request: Request) -> list[tuple[str, str]]:
    return [(p.user, person_label(p.user, p.display_name, p.role)) for p in _everyone(request) if p.active]


@router.post("/people/new")
def add_person(
    request: Request,
    person: CurrentPerson,
    user: Annotated[str, Form()] = "",
    display_name: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
    manager: Annotated[str, Form()] = "",
) -> Response:
    who = _admin(request, person)
    values = {"user": user, "display_name": display_name, "role": role, "manager": manager}
    try:
        writes(request).handle(AddPerson(user=user.strip(), role=role, manager=manager or None,
                                         display_name=display_name.strip() or None, **who))  # fmt: skip
    except Refused as refused:
        return _new_form(request, values, _sentence(refused))
    flash(request, "Person added", f"{user.strip()} can sign in once they have a password: issue them a link below.")
    return RedirectResponse(f"/people/{user.strip()}", status_code=303)


def _sentence(refused: Refused) -> str:
    text = str(refused)
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


@router.get("/people/{user}")
def person_page(request: Request, user: str, person: CurrentPerson) -> Response:
    _admin(request, person)
    return _person(request, user)


def _person(request: Request, user: str, *, error: str | None = None, extra: dict[str, Any] | None = None) -> Response:
    shown = _one(request, user)
    context = {"title": shown.user, "shown": shown, "role_words": role_words(shown.role), "roles": _role_choices(),
               "managers": [m for m in _manager_choices(request) if m[0] != shown.user], "error": error,
               "link": None, "deactivated": None, **(extra or {})}  # fmt: skip
    return render(request, "person.html", context, status_code=400 if error else 200)


def _act(request: Request, user: str, command: Any, done: str, text: str) -> Response:
    try:
        result = writes(request).handle(command)
    except Refused as refused:
        return _person(request, user, error=_sentence(refused))
    if done == "deactivated":
        return _person(request, user, extra={"deactivated": result})
    flash(request, done, text)
    return RedirectResponse(f"/people/{user}", status_code=303)


@router.post("/people/{user}/change")
def change(
    request: Request,
    user: str,
    person: CurrentPerson,
    role: Annotated[str, Form()] = "",
    manager: Annotated[str, Form()] = "",
) -> Response:
    who = _admin(request, person)
    command = ChangePerson(user=user, role=role or None, manager=manager or None, clear_manager=not manager, **who)
    return _act(request, user, command, "Changed", f"{user}'s role and manager are saved.")


@router.post("/people/{user}/deactivate")
def deactivate(request: Request, user: str, person: CurrentPerson) -> Response:
    who = _admin(request, person)
    return _act(request, user, DeactivatePerson(user=user, on=today(request), **who), "deactivated", "")


@router.post("/people/{user}/reactivate")
def reactivate(request: Request, user: str, person: CurrentPerson) -> Response:
    who = _admin(request, person)
    return _act(request, user, ReactivatePerson(user=user, **who), "Reactivated", f"{user} can sign in and act again.")


@router.post("/people/{user}/link")
def issue_link(request: Request, user: str, person: CurrentPerson) -> Response:
    """A one-time link to set a password: shown on this page once (only its hash is stored)."""
    who = _admin(request, person)
    token = accounts.new_token()
    expires = desk_state(request).clock() + accounts.LINK_LIFETIME
    try:
        writes(request).handle(accounts.IssueLink(user=user, token_hash=accounts.hash_token(token), expires_at=expires,
                                                  **who))  # fmt: skip
    except Refused as refused:
        return _person(request, user, error=_sentence(refused))
    base = str(request.base_url).rstrip("/")
    days = accounts.LINK_LIFETIME // timedelta(days=1)
    return _person(request, user, extra={"link": f"{base}/account/set-password?token={token}", "link_days": days})


@router.post("/people/{user}/password")
def temporary_password(
    request: Request, user: str, person: CurrentPerson, password: Annotated[str, Form()] = ""
) -> Response:
    """A temporary password the admin gives the person by another route; they must change it at first sign-in."""
    who = _admin(request, person)
    try:
        command = accounts.SetPassword(user=user, password_hash=accounts.hash_password(password), **who)
    except Refused as refused:
        return _person(request, user, error=_sentence(refused))
    return _act(request, user, command, "Temporary password set",
                f"{user} must choose their own password when they next sign in.")  # fmt: skip
