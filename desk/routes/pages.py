"""My work (a placeholder until storage's worklist query lands) and the health check."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import PlainTextResponse, Response

from desk.web import CurrentPerson, render

__all__ = ["router"]

router = APIRouter()


@router.get("/")
def my_work(request: Request, person: CurrentPerson) -> Response:
    """The signed-in person's work: overdue and due items, escalations, notifications (to come)."""
    return render(request, "my_work.html", {"title": "My work"})


@router.get("/healthz")
def healthz() -> Response:
    """Answers ``ok`` while the desk is up (for ``orderwatch up`` and load balancers); no session, no data."""
    return PlainTextResponse("ok")
