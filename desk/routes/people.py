"""People (``/people``), for admins: everyone orderwatch knows, their role and manager.

Listing only: adding, changing and deactivating people come with accounts (issue 13), as commands through
``Casebook.handle``; this page grows their forms then.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from desk.web import CurrentPerson, PageRefused, reads, render
from machines.wording import role_words

__all__ = ["router"]

router = APIRouter()


@router.get("/people")
def people(request: Request, person: CurrentPerson) -> Response:
    """Everyone, by user name."""
    if "admin" not in person.roles:
        raise PageRefused("Only an admin may see the list of people.")
    rows = [(m.user, role_words(m.role), m.manager or "") for m in reads(request).people(person.id)]
    return render(request, "people.html", {"title": "People", "rows": rows})
