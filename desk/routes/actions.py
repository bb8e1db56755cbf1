"""Action forms, generated from the event specs: ``/cases/{ref}/actions/{event}`` for a case's events and
``/escalations/{id}/{action}`` for an escalation's (acknowledge, escalate, resolve).

GET shows the form (only to someone who may take the action now); POST reads it with GOV.UK's error messages, asks
to check the answers first where the spec says the decision is consequential (``confirm=True``), and sends the
command to ``Casebook.handle`` with the form's idempotency token as ``request_id``. A refusal by the rules shows the
rule in one sentence on the form and changes nothing; success goes back to the case page with a banner, and
reports the action to Prefect (best effort).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from desk.forms import (
    FieldContext,
    FormField,
    Widget,
    blank_fields,
    date_typed,
    form_items,
    person_label,
    read_fields,
)
from desk.web import (
    CurrentPerson,
    PageRefused,
    desk_state,
    flash,
    new_request_id,
    reads,
    render,
    today,
    worker,
    writes,
)
from machines.errors import Refused
from machines.escalation import ACTIONS
from machines.model import MappingDirectory, Person
from machines.permissions import escalation_refusal, refusal
from machines.procedures import PROCEDURES
from machines.spec import EventSpec, Field, FieldKind
from machines.wording import long_date
from storage.commands import ActOnEscalation, Fire
from storage.desk_case import CasePage
from storage.ids import parse_escalation_id

__all__ = ["router", "submit_form"]

log = logging.getLogger("desk")
router = APIRouter()

# The date the action happened (``Fire.on``): its key has a hyphen, so no declared field (an identifier) can clash.
ON_KEY = "happened-on"
ON = Field(FieldKind.DATE, "When did it happen?", hint="For example, 27 3 2026. Today, unless it happened earlier.")


def _context(request: Request, page: CasePage | None) -> FieldContext:
    book = reads(request)

    def by_role(role: str | None) -> list[tuple[str, str]]:
        return [(m.user, person_label(m.user, m.display_name, m.role)) for m in book.people("", role)]

    case_people: list[tuple[str, str]] = []
    if page is not None:
        named = list(dict.fromkeys([*page.case.people.values(), *page.people]))
        shown = {m.user: m.display_name for m in book.people("", None, list(page.people))}
        # the case's people and their managers, active ones only (a leaver named on the case is not offered)
        case_people = [(u, person_label(u, shown[u], page.people[u].role.value)) for u in named if u in shown]
    return FieldContext(by_role, case_people)


def _when(label: str | None) -> Field:
    return ON if label is None else Field(FieldKind.DATE, label, hint=ON.hint)


def _read_on(form: FormData, as_of: date, label: str | None = None) -> FormField:
    field = _when(label)
    [on] = read_fields({ON_KEY: field}, form).fields
    if on.error:  # the question makes an awkward subject: "When did it happen? must be a real date"
        on.error = on.error.replace(field.label, "The date").replace(
            field.label[:1].lower() + field.label[1:], "the date"
        )
    if on.value is not None and on.value > as_of:
        on.error = "The date it happened must be today or in the past"
    return on


def _on_field(as_of: date, label: str | None = None) -> FormField:
    [on] = blank_fields({ON_KEY: _when(label)}, {ON_KEY: date_typed(as_of)})
    return on


def submit_form(request: Request, *, template_context: Mapping[str, Any], specs: Mapping[str, Field],
                form: FormData | None, confirm: bool, act: Any, ctx: FieldContext,
                widgets: Mapping[str, Widget] | None = None) -> Response:  # fmt: skip
    """The form's life: show it, read it, check the answers (``confirm``), then ``act(values, on, request_id)``
    — which returns the response to send, or raises ``Refused`` to show the rule on the form."""
    as_of = today(request)
    base = {**template_context, "ctx": ctx, "confirm": confirm}
    label = template_context.get("on_label")
    if form is None:
        fields = blank_fields(specs, widgets=widgets)
        return render(request, "action.html", {**base, "fields": fields, "on": _on_field(as_of, label),
                                               "request_id": new_request_id(), "errors": []})  # fmt: skip
    request_id = str(form.get("request_id") or "")[:64] or new_request_id()
    read = read_fields(specs, form, widgets)
    on = _read_on(form, as_of, label)
    step = str(form.get("step") or "")
    errors = [*read.errors, *([on] if on.error else [])]
    shown = {**base, "fields": read.fields, "on": on, "request_id": request_id, "errors": errors}
    if errors or step == "change" or on.value is None:  # no error means the date was read
        return render(request, "action.html", shown, status_code=400 if errors else 200)
    if confirm and step != "confirm":
        return render(request, "check.html", {**shown, "carry": form_items(form)})
    try:
        response: Response = act(read.values, on.value, request_id)
        return response
    except Refused as refused:
        log.info("desk: refused (%s)", refused.public)  # the public form: no personal data in the log
        return render(request, "action.html", {**shown, "refused": str(refused)}, status_code=409)


# -- a case's events ---------------------------------------------------------------------------------------------------


def _case_and_spec(request: Request, ref: str, event: str, me: Person) -> tuple[CasePage, EventSpec]:
    try:
        page = reads(request).case_page(ref, me.user)
    except Refused:
        raise PageRefused("There is no case with that reference.", status_code=404) from None
    why = refusal(page.case, event, me, MappingDirectory(page.people))
    if why is not None:
        raise PageRefused(why)
    return page, PROCEDURES[page.case.kind].events[event]


def _case_action(request: Request, ref: str, event: str, person: Any, form: FormData | None) -> Response:
    me = worker(request, person)
    page, spec = _case_and_spec(request, ref, event, me)

    def act(values: dict[str, Any], on: date, request_id: str) -> Response:
        result = writes(request).handle(Fire(actor=me.user, ref=ref, event=event, on=on, fields=values,
                                             source="desk", request_id=f"desk:{request_id}",
                                             entered_by=me.user))  # fmt: skip
        state = desk_state(request)
        state.services.events.action(ref, event, me.user, state.clock())
        moved = result.from_state != result.to_state
        flash(request, spec.title, f"Recorded for {ref} on {long_date(on)}."
              + (" The case has moved on: its new state and deadlines are below." if moved else ""))  # fmt: skip
        return RedirectResponse(f"/cases/{ref}", status_code=303)

    context = {"title": spec.title, "caption": f"Case {ref}", "back": f"/cases/{ref}",
               "action_url": f"/cases/{ref}/actions/{event}", "confirm_text": "Record it"}  # fmt: skip
    return submit_form(request, template_context=context, specs=spec.fields, form=form, confirm=spec.confirm,
                       act=act, ctx=_context(request, page))  # fmt: skip


@router.get("/cases/{ref}/actions/{event}")
async def case_action_form(request: Request, ref: str, event: str, person: CurrentPerson) -> Response:
    """The form for one of the case's events (only for someone who may take it now)."""
    return await run_in_threadpool(_case_action, request, ref, event, person, None)


@router.post("/cases/{ref}/actions/{event}")
async def case_action(request: Request, ref: str, event: str, person: CurrentPerson) -> Response:
    """Record the event (or show the form again with its errors, or the answers to check)."""
    form = await request.form()
    return await run_in_threadpool(_case_action, request, ref, event, person, form)


# -- an escalation's actions -------------------------------------------------------------------------------------------


def _escalation_action(request: Request, esc: str, action: str, person: Any, form: FormData | None) -> Response:
    me = worker(request, person)
    try:
        row_id = parse_escalation_id(esc) if not esc.isdigit() else int(esc)
    except Refused:
        row_id = None
    found = reads(request).escalation(row_id, me.user) if row_id is not None else None
    if found is None:
        raise PageRefused("There is no escalation with that reference.", status_code=404)
    row, escalation = found
    why = escalation_refusal(escalation, action, me)
    if why is not None:
        raise PageRefused(why)
    spec = ACTIONS[action]
    if form is not None and form.get("step") == "quick":  # a button on the inbox: today, no note
        when = ((f"field-{ON_KEY}-{part}", v) for part, v in date_typed(today(request)).items())
        form = FormData([*form.multi_items(), *when])

    def act(values: dict[str, Any], on: date, request_id: str) -> Response:
        writes(request).handle(ActOnEscalation(actor=me.user, action=action, on=on, escalation=row.row_id,
                                               fields=values, source="desk", request_id=f"desk:{request_id}",
                                               entered_by=me.user))  # fmt: skip
        state = desk_state(request)
        state.services.events.action(row.case, f"escalation.{action}", me.user, state.clock())
        flash(request, spec.title, f"Done for {row.id} on case {row.case}, on {long_date(on)}.")
        back = str(form.get("back") or "") if form is not None else ""
        return RedirectResponse(back if back in ("/escalations", f"/cases/{row.case}") else "/escalations", 303)

    context = {"title": spec.title, "caption": f"{row.id} on case {row.case}", "back": "/escalations",
               "action_url": f"/escalations/{row.id}/{action}", "confirm_text": spec.title}  # fmt: skip
    return submit_form(request, template_context=context, specs=spec.fields, form=form, confirm=False, act=act,
                       ctx=_context(request, None))  # fmt: skip


@router.get("/escalations/{esc}/{action}")
async def escalation_action_form(request: Request, esc: str, action: str, person: CurrentPerson) -> Response:
    """The form for acknowledging, escalating or resolving an escalation."""
    return await run_in_threadpool(_escalation_action, request, esc, action, person, None)


@router.post("/escalations/{esc}/{action}")
async def escalation_action(request: Request, esc: str, action: str, person: CurrentPerson) -> Response:
    """Act on the escalation."""
    form = await request.form()
    return await run_in_threadpool(_escalation_action, request, esc, action, person, form)
