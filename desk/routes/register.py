"""Register a case: ``/cases/new/so`` (a Supervision Order) and ``/cases/new/cp-iso`` (a CP plan + ISO), with forms
made from the procedures' registration dataclasses (a field added there appears here)."""

from __future__ import annotations

import dataclasses
import typing
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from desk.forms import TextInput, Widget
from desk.routes.actions import _context, submit_form
from desk.web import CurrentPerson, PageRefused, desk_state, flash, worker, writes
from machines.model import CaseKind, Role
from machines.permissions import may_register
from machines.procedures import PROCEDURES
from machines.spec import Field, FieldKind, Registration
from machines.wording import date_label, long_date
from storage.commands import Register

__all__ = ["one_line", "registration_fields", "router"]

router = APIRouter()

LABELS = {"ref": "Case reference", "child_id": "Child's identifier", "social_worker": "Allocated social worker"}
HINTS = {
    "ref": "The reference this case will be known by, with no spaces",
    "child_id": "The child's identifier in the council's case system: not their name",
    "expiry": "Only if the sealed order states an expiry date",
    "notified_on": "When the Safeguarding Unit was told of the order, if not today",
    "dob": "If known: an order cannot run past the day before the 18th birthday",
}
SKIPPED = frozenset({"opened_from"})  # set by the rules when one case opens another, never typed


def registration_fields(registration: type[Registration]) -> dict[str, Field]:
    """The registration dataclass's fields as form fields: dates as date inputs, a social worker as a choice of
    social workers, text as one line; required where the dataclass has no default."""
    hints = typing.get_type_hints(registration)
    out: dict[str, Field] = {}
    for f in dataclasses.fields(registration):  # type: ignore[arg-type]
        if f.name in SKIPPED:
            continue
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        label = LABELS.get(f.name, date_label(f.name))
        hint = HINTS.get(f.name, "")
        kind = hints[f.name]
        if date in typing.get_args(kind) or kind is date:
            out[f.name] = Field(FieldKind.DATE, label, required, hint=hint)
        elif f.name == "social_worker":
            out[f.name] = Field(FieldKind.PERSON, label, required, role=Role.SOCIAL_WORKER)
        else:
            out[f.name] = Field(FieldKind.TEXT, label, required, hint=hint)
    return out


def one_line(specs: dict[str, Field]) -> dict[str, Widget]:
    """Text answers here are references and identifiers: one line each, not a text area."""
    return {k: TextInput() for k, f in specs.items() if f.kind is FieldKind.TEXT}


def _register(request: Request, kind: str, person: Any, form: FormData | None) -> Response:
    me = worker(request, person)
    try:
        case_kind = CaseKind(kind)
    except ValueError:
        raise PageRefused("There is no such kind of case.", status_code=404) from None
    if not may_register(case_kind, me):
        roles = ", ".join(r.value.replace("_", " ") for r in PROCEDURES[case_kind].register_roles)
        raise PageRefused(f"Only these roles may register this kind of case: {roles}.")
    proc = PROCEDURES[case_kind]
    specs = registration_fields(proc.registration)

    def act(values: dict[str, Any], on: date, request_id: str) -> Response:
        registration = proc.registration(**values)
        writes(request).handle(Register(actor=me.user, registration=registration, on=on, source="desk",
                                        request_id=f"desk:{request_id}", entered_by=me.user))  # fmt: skip
        state = desk_state(request)
        state.services.events.action(registration.ref, proc.registration.event, me.user, state.clock())
        flash(request, f"{proc.title} registered", f"Case {registration.ref} was opened on {long_date(on)}.")
        return RedirectResponse(f"/cases/{registration.ref}", status_code=303)

    context = {"title": f"Register a {proc.title} case", "caption": "Cases", "back": "/cases",
               "action_url": f"/cases/new/{kind}", "confirm_text": "Register the case",
               "on_label": "When was it registered?"}  # fmt: skip
    return submit_form(request, template_context=context, specs=specs, form=form, confirm=True, act=act,
                       ctx=_context(request, None), widgets=one_line(specs))  # fmt: skip


@router.get("/cases/new/{kind}")
async def register_form(request: Request, kind: str, person: CurrentPerson) -> Response:
    """The registration form."""
    return await run_in_threadpool(_register, request, kind, person, None)


@router.post("/cases/new/{kind}")
async def register(request: Request, kind: str, person: CurrentPerson) -> Response:
    """Open the case (after the answers are checked)."""
    form = await request.form()
    return await run_in_threadpool(_register, request, kind, person, form)
