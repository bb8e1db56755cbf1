"""The escalations inbox (``/escalations``): those raised to the signed-in person, and the others on their team's
cases, each with the actions they may take now (acknowledge and escalate are one button; resolve asks for the
resolution, at ``/escalations/{id}/resolve``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from desk.present import escalation_rows
from desk.web import CurrentPerson, new_request_id, reads, render, today, worker
from machines.model import Escalation, EscalationState, Person, Role
from machines.permissions import escalation_actions
from storage.desk_queries import EscalationRow

__all__ = ["router"]

router = APIRouter()


def _with_actions(rows: list[EscalationRow], me: Person, as_of: Any, calendar: Any) -> list[dict[str, Any]]:
    shown = escalation_rows(rows, as_of, calendar)
    for view, row in zip(shown, rows, strict=True):
        esc = Escalation(row.no, row.reason, Role(row.raised_to), row.raised_on, EscalationState(row.state),
                         row.level, row.deadline_kind)  # fmt: skip
        view["actions"] = [s.name for s in escalation_actions(esc, me)]
    return shown


@router.get("/escalations")
def inbox(request: Request, person: CurrentPerson) -> Response:
    """Open escalations raised to the person, and their team's."""
    me = worker(request, person)
    book = reads(request)
    as_of = today(request)
    calendar = book.book.policy.calendar
    rows, mine_total = book.escalations(person.id)
    mine = _with_actions(rows, me, as_of, calendar)
    manages = book.manages(person.id) or me.role is Role.HEAD_OF_SERVICE
    team, team_total = None, 0
    if manages:
        rows, team_total = book.escalations(person.id, team=True)
        team = _with_actions(rows, me, as_of, calendar)
    return render(request, "escalations.html", {"title": "Escalations", "mine": mine, "team": team,
                                                "mine_total": mine_total, "team_total": team_total,
                                                "request_id": new_request_id()})  # fmt: skip
