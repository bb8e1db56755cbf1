"""My work (``/``): the signed-in person's overdue and due work, their escalations and notifications; a manager's
team view (``/?view=team``): the work of everyone in their line, person by person."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from desk.navigation import CASEWORK_ROLES
from desk.present import escalation_rows, group_work, work_rows
from desk.web import NOT_A_PERSON, NOT_CONNECTED, CurrentPerson, desk_state, reads, render, today
from machines.model import Role
from machines.wording import long_date, role_words

__all__ = ["router"]

router = APIRouter()
TEAM_SHOWN = 100  # people in the team view's table (a Head of Service's line is the whole service)


@router.get("/")
def my_work(request: Request, person: CurrentPerson, view: str = "mine") -> Response:
    """The person's work grouped by when it is due; ``view=team`` for a manager's line."""
    if desk_state(request).services.casebook is None:
        return render(request, "my_work.html", {"title": "My work", "notice": NOT_CONNECTED})
    book = reads(request)
    as_of = today(request)
    mine = book.my_work(person.id, as_of) if view != "team" else None
    me = mine.me if mine is not None else book.person(person.id)
    if me is None or me.role.value not in CASEWORK_ROLES:
        notice = NOT_A_PERSON if me is None else "Your role has no casework: use People."
        return render(request, "my_work.html", {"title": "My work", "notice": notice})
    calendar = book.book.policy.calendar
    manages = (mine.manages if mine is not None else book.manages(person.id)) or me.role is Role.HEAD_OF_SERVICE
    context: dict[str, Any] = {"role": role_words(me.role), "manages": manages, "as_of": long_date(as_of)}
    if mine is None and not manages:
        mine = book.my_work(person.id, as_of)  # a team view asked for by someone with no team: their own work
    if mine is None:
        members = book.line(person.id)
        items, truncated = book.work(person.id, as_of, team=True)
        by_person: dict[str, list[Any]] = defaultdict(list)
        for item in items:
            words = role_words(item.owner_role)
            by_person[item.responsible or f"{words[:1].upper()}{words[1:]} queue"].append(item)
        roles = {m.user: role_words(m.role) for m in members}
        # the people reporting to them, and anyone in the line with work; the most overdue first, a page's worth
        people = {m.user for m in members if m.manager == person.id} | (set(by_person) - {person.id})
        team: list[dict[str, Any]] = []
        for user in people:
            theirs = by_person.get(user, [])
            groups = group_work(theirs, as_of, calendar, user)
            urgent = [i for i in theirs if i.overdue(as_of) or (i.due_on - as_of).days <= 7]
            team.append({"user": user, "anchor": "person-" + re.sub(r"\W+", "-", user), "role": roles.get(user, ""),
                         "counts": {g.key: g.total for g in groups},
                         "rows": work_rows(urgent[:20], as_of, calendar, person.id), "more": max(0, len(urgent) - 20)})  # fmt: skip
        team.sort(key=lambda m: (-m["counts"]["overdue"], -m["counts"]["today"], -m["counts"]["week"], m["user"]))
        context["team_total"] = len(team)
        team = team[:TEAM_SHOWN]
        escalations, total = book.escalations(person.id, team=True, limit=20)
        context |= {"title": "My team's work", "team": team, "truncated": truncated,
                    "escalations": escalation_rows(escalations, as_of, calendar), "escalations_total": total}  # fmt: skip
        return render(request, "team.html", context)
    own = [i for i in mine.items if not i.queue]
    queue = [i for i in mine.items if i.queue]
    context |= {
        "title": "My work",
        "groups": group_work(own, as_of, calendar, person.id),
        "queue": group_work(queue, as_of, calendar, person.id) if queue else None,
        "queue_name": f"{role_words(me.role)} queue" if me.role is not Role.IRO_MANAGER else "IRO allocations",
        "truncated": mine.truncated,
        "escalations": escalation_rows(mine.escalations, as_of, calendar),
        "escalations_total": mine.escalations_total,
        "notifications": mine.notifications,
    }
    return render(request, "my_work.html", context)
