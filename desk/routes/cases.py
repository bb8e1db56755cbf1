"""Cases: find one by reference (``/cases``), and the case page (``/cases/{ref}``): its state in words, key dates,
deadlines with their due tags, the people on it, escalations, the timeline in sentences, the machine's diagram
with the state highlighted, and the actions the signed-in person may take now — only those."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from desk.diagram import machine_svg
from desk.present import due_tag, kind_words
from desk.web import CurrentPerson, PageRefused, reads, render, today, worker
from machines.errors import Refused
from machines.model import CaseKind, DeadlineStatus, MappingDirectory
from machines.permissions import actions, escalation_actions, may_register
from machines.procedures import PROCEDURES
from machines.wording import (
    LogLine,
    date_label,
    deadline_words,
    escalation_reason_words,
    long_date,
    role_words,
    sentence,
    state_words,
)
from storage.desk_case import CasePage
from storage.ids import escalation_id

__all__ = ["router"]

router = APIRouter()

# The key dates first, in this order; any other date the case holds follows, by label.
KEY_DATES = ("order_date", "notified_on", "expiry", "extension_limit", "review_due", "review_on", "reconvene_by",
             "iso_date", "issued", "twenty_six_weeks", "cmh", "irh", "final_hearing", "icpc", "last_review",
             "next_review")  # fmt: skip
HIDDEN_DATES = frozenset({"cycle_start", "last_meeting_on"})  # the rules' bookkeeping, not a date people use


@router.get("/cases")
def find_case(request: Request, person: CurrentPerson, ref: str = "") -> Response:
    """Find a case by its reference; links to register one."""
    me = worker(request, person)
    error = None
    ref = ref.strip()
    if ref:
        if reads(request).case_kind(ref, person.id) is None:
            error = "There is no case with that reference"
        else:
            return RedirectResponse(f"/cases/{quote(ref, safe='')}", status_code=303)
    registers = [(k, kind_words(k.value)) for k in CaseKind if may_register(k, me)]
    return render(request, "cases.html", {"title": "Cases", "ref": ref, "error": error, "registers": registers},
                  status_code=404 if error else 200)  # fmt: skip


def _deadline_rows(page: CasePage, as_of: Any, calendar: Any) -> list[dict[str, Any]]:
    rows = []
    for d in sorted(page.case.deadlines, key=lambda d: (d.status is not DeadlineStatus.OPEN, d.due_on)):
        if d.escalation_no is not None:
            continue
        what = deadline_words(d.kind)
        if d.status is DeadlineStatus.OPEN:
            tag = due_tag(d.due_on, as_of, calendar)
        elif d.status is DeadlineStatus.MET:
            tag = (f"Done {long_date(d.closed_on)}", "govuk-tag--green")
        elif d.status is DeadlineStatus.MISSED:
            tag = ("Missed", "govuk-tag--red")
        else:
            tag = ("No longer needed", "govuk-tag--grey")
        rows.append({"what": what[:1].upper() + what[1:], "due": long_date(d.due_on), "tag": tag,
                     "open": d.status is DeadlineStatus.OPEN})  # fmt: skip
    return rows


def _dates(page: CasePage) -> list[tuple[str, str]]:
    dates = page.case.dates
    order = [k for k in KEY_DATES if k in dates] + sorted(
        (k for k in dates if k not in KEY_DATES and k not in HIDDEN_DATES), key=date_label
    )
    return [(date_label(k), long_date(dates[k])) for k in order]


def _timeline(page: CasePage) -> list[dict[str, Any]]:
    kind = page.case.kind.value
    out = []
    for row in reversed(page.log):
        told = sentence(LogLine(kind, row.event, row.actor, row.role, row.source, row.on, row.payload,
                                row.consequences, row.escalation_no, row.from_state, row.to_state))  # fmt: skip
        out.append({"on": long_date(row.on), "iso": row.on.isoformat(), "told": told, "seq": row.seq})
    return out


@router.get("/cases/{ref}")
def case_page(request: Request, ref: str, person: CurrentPerson) -> Response:
    """The case page (the read is recorded in the access log)."""
    me = worker(request, person)
    book = reads(request)
    try:
        page = book.case_page(ref, person.id)
    except Refused:
        raise PageRefused("There is no case with that reference.", status_code=404) from None
    as_of = today(request)
    calendar = book.book.policy.calendar
    case = page.case
    directory = MappingDirectory(page.people)
    people = []
    for role, user in case.people.items():
        p = page.people.get(user)
        manager = p.manager if p else None
        people.append((_capital(role_words(role)), user, manager))
    escalations = []
    for esc in case.escalations:
        row_id = page.escalation_ids.get(esc.no)
        escalations.append({
            "id": escalation_id(row_id) if row_id else str(esc.no), "row_id": row_id, "no": esc.no,
            "reason": escalation_reason_words(esc.reason), "raised_to": _capital(role_words(esc.raised_to.value)),
            "state": state_words("escalation", esc.state.value), "raised_on": long_date(esc.raised_on),
            "level": esc.level, "open": esc.is_open,
            "actions": [s.name for s in escalation_actions(esc, me)] if row_id else [],
        })  # fmt: skip
    context = {
        "title": f"Case {case.ref}",
        "case": case,
        "kind": kind_words(case.kind.value),
        "state": state_words(case.kind.value, str(case.state)),
        "final": str(case.state) in {str(s) for s in _finals(case.kind)},
        "actions": actions(case, me, directory),
        "dates": _dates(page),
        "child": case.child_id,
        "dob": long_date(case.dob) if case.dob else None,
        "people": people,
        "deadlines": _deadline_rows(page, as_of, calendar),
        "escalations": escalations,
        "timeline": _timeline(page),
        "diagram": machine_svg(case.kind.value, str(case.state)),
    }
    return render(request, "case.html", context)


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _finals(kind: CaseKind) -> frozenset[str]:
    return PROCEDURES[kind].final
