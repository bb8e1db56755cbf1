"""The health check (My work is ``desk.routes.work``)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import PlainTextResponse, Response

__all__ = ["router"]

router = APIRouter()


@router.get("/healthz")
def healthz() -> Response:
    """Answers ``ok`` while the desk is up (for ``orderwatch up`` and load balancers); no session, no data."""
    return PlainTextResponse("ok")
