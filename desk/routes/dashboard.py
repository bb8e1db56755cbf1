"""The dashboard (``/dashboard``), for managers and Heads of Service: overdue work by team and by deadline kind, the
on-time rate by month for the last 12 months, cases by state, open escalations by level and age — each a chart drawn
on the server (SVG) with its numbers in a table beside it."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from starlette.responses import Response

from desk.charts import COLOURS, bar_chart, stacked_chart
from desk.navigation import MANAGER_ROLES
from desk.web import CurrentPerson, PageRefused, reads, render, today, worker
from machines.wording import deadline_words, long_date, role_words, state_words
from storage.clock import LONDON
from storage.desk_stats import AGE_BANDS
from storage.deskbook import DASHBOARD_FRESH

__all__ = ["router"]

router = APIRouter()
SHORT = {"so": "SO", "cp-iso": "CP+ISO"}  # the kinds, short enough for a chart's labels


def _team_words(team: str) -> str:
    if team.endswith("'s team"):
        return team
    words = role_words(team)
    return f"{words[:1].upper()}{words[1:]} queue"


@router.get("/dashboard")
def dashboard(request: Request, person: CurrentPerson) -> Response:
    """The figures for the cases of the person's line (a Head of Service: every case)."""
    me = worker(request, person)
    if me.role.value not in MANAGER_ROLES:
        raise PageRefused("The dashboard is for managers and Heads of Service.")
    as_of = today(request)
    board = reads(request).dashboard(person.id, as_of)
    if board is None:  # a manager's line always has a board; none means nobody reports to them
        raise PageRefused("The dashboard is for managers and Heads of Service.")
    by_team = [(_team_words(t), n) for t, n in board.overdue_by_team]
    by_kind = [(deadline_words(k)[:1].upper() + deadline_words(k)[1:], n) for k, n in board.overdue_by_kind]
    months = [(m.month.strftime("%b %Y"), m.met, m.missed, m.rate) for m in board.on_time]
    states = [(SHORT.get(k, k), state_words(k, s), n) for k, s, n in board.by_state]
    bands = [name for name, _ in AGE_BANDS]
    levels = [(f"Level {level}", [counts[b] for b in bands]) for level, counts in board.escalations.items()]
    charts = {
        "team": bar_chart("chart-team", "Overdue work by team", f"Items past their due date and still to do, by "
                          f"team, as of {as_of:%d %B %Y}.", by_team, colour=COLOURS[1]),
        "kind": bar_chart("chart-kind", "Overdue work by deadline", "Items past their due date and still to do, "
                          "by what is due.", by_kind, colour=COLOURS[1]),
        "on_time": stacked_chart("chart-on-time", "Deadlines met and missed by month", "Deadlines closed in each of "
                                 "the last 12 months: met on time, and missed.", ["Met", "Missed"],
                                 [(m, [met, missed]) for m, met, missed, _ in months],
                                 notes=["no deadlines" if r is None else f"{r:.0%} on time" for *_, r in months],
                                 colours=(COLOURS[2], COLOURS[1])),
        "states": bar_chart("chart-states", "Cases by state", "Open and closed cases in each state.",
                            [(f"{k}: {s}", n) for k, s, n in states]),
        "escalations": stacked_chart("chart-escalations", "Open escalations by level and age", "Open escalations at "
                                     "each level of the ladder, by working days since they were raised.",
                                     [f"{b} days" for b in bands], levels),
    }  # fmt: skip
    counted = board.computed_at.astimezone(ZoneInfo(LONDON)).strftime("%H:%M") if board.computed_at else None
    context = {"title": "Dashboard", "scope": board.scope, "as_of": long_date(as_of), "counted": counted,
               "every_case": board.every_case, "fresh": int(DASHBOARD_FRESH.total_seconds() // 60), "charts": charts, "by_team": by_team, "by_kind": by_kind,
               "months": months, "states": states, "bands": bands, "levels": levels}  # fmt: skip
    return render(request, "dashboard.html", context)
