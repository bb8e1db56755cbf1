"""Manual events from the Prefect UI's Custom run form: typed parameters, so events and outcomes are dropdowns.

Only fields that cannot carry personal data are offered here (choices, dates, booleans, people's user names):
events that need free text (findings, notes, the five extension answers, the case summary) are recorded with the
``orderwatch fire`` command, which writes straight to orderwatch's own database.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Any, Literal

from prefect import flow, get_run_logger
from prefect.client.schemas.objects import State
from prefect.states import Failed
from statemachine import StateMachine

from flows.runtime import RefusedByRules, casebook, run_id
from flows.views import emit_notices
from machines.errors import Refused
from machines.escalation import ACTIONS as ESCALATION_ACTIONS
from machines.escalation import EscalationMachine
from machines.model import CaseKind
from machines.procedures import PROCEDURES, case_events
from machines.spec import EventSpec
from storage import clock
from storage.access import os_account
from storage.commands import ActOnEscalation, Fire
from storage.ids import parse_escalation_id

__all__ = ["CaseEvent", "allowed_now", "escalation_action", "record_event"]


def allowed_now(machine: str, state: str) -> list[str]:
    """The manual events the machine accepts in ``state`` (guards aside), sorted.

    >>> allowed_now("so", "registered")
    ['allocate_iro', 'discharge', 'issue_minutes', 'record_case_summary', 'record_support_plan']
    >>> allowed_now("escalation", "raised")
    ['acknowledge', 'escalate']
    """
    machine_cls: type[StateMachine]
    if machine == "escalation":  # an escalation's "escalate" is also a person's action
        machine_cls, manual = EscalationMachine, set(ESCALATION_ACTIONS)
    else:
        proc = PROCEDURES[CaseKind(machine)]
        machine_cls, manual = proc.machine, {name for name, spec in proc.events.items() if not spec.timer}
    states = {s.id: s for s in machine_cls.states}
    if state not in states:
        return []
    return sorted({e.id for t in states[state].transitions for e in t.events} & manual)


def _refused(exc: Refused, machine: str | None = None, state: str | None = None) -> State[Any]:
    """The run ends Failed with the public one-line reason (no personal data, no traceback in the run's logs) and
    the events the case (or escalation) accepts now; called directly, the flow raises ``RefusedByRules``."""
    message = exc.public
    if machine is not None and state is not None:
        allowed = allowed_now(machine, state)
        message += f"; allowed now ({state}): {', '.join(allowed) if allowed else 'none'}"
    get_run_logger().warning("refused: %s", message)
    return Failed(message=message, data=RefusedByRules(message))


def _case_state(case_ref: str) -> tuple[str | None, str | None]:
    try:
        case = casebook().load(case_ref)
    except Refused:
        return None, None
    return case.kind.value, case.state


# What the form offers, from the event specs: the events with no required free text, and their other fields.
OFFERED: dict[str, EventSpec] = {spec.name: spec for _, spec in sorted(case_events(), key=lambda p: p[1].name)
                                 if not spec.free_text}  # fmt: skip
FORM_FIELDS = {k: f for spec in OFFERED.values() for k, f in spec.fields.items() if not f.free_text}


def _choices(key: str) -> dict[str, str]:
    values = dict.fromkeys(c for spec in OFFERED.values() if key in spec.fields for c in spec.fields[key].choices)
    return {v: v for v in values}


CaseEvent = StrEnum("CaseEvent", {name: name for name in OFFERED})  # type: ignore[misc]
Outcome = StrEnum("Outcome", _choices("outcome"))  # type: ignore[misc]
Decision = StrEnum("Decision", _choices("decision"))  # type: ignore[misc]
Criterion = StrEnum("Criterion", _choices("criteria_met"))  # type: ignore[misc]
Resolution = Literal["actions_completed", "no_further_action", "referred_to_challenge_and_resolution"]


@flow(name="record-event", flow_run_name="{case_ref}-{event}")
def record_event(
    case_ref: str,
    event: CaseEvent,
    actor: str,
    on: date | None = None,
    outcome: Outcome | None = None,
    decision: Decision | None = None,
    iro: str | None = None,
    review_on: date | None = None,
    hos_attended: bool | None = None,
    distribution: list[str] | None = None,
    new_expiry: date | None = None,
    next_review: date | None = None,
    new_date: date | None = None,
    criteria_met: list[Criterion] | None = None,
    team_manager: str | None = None,
    meeting_on: date | None = None,
    agenda: list[str] | None = None,
    issued: date | None = None,
    cmh: date | None = None,
    irh: date | None = None,
    final_hearing: date | None = None,
    concurrency_minuted: bool | None = None,
    social_worker: str | None = None,
) -> dict[str, Any] | State[Any]:
    """Record what happened on a case (``on`` defaults to today); the rules refuse what they do not allow (the run
    then ends Failed, saying why and what is allowed now)."""
    values = {"outcome": outcome, "decision": decision, "iro": iro, "review_on": review_on,
              "hos_attended": hos_attended, "distribution": distribution, "new_expiry": new_expiry,
              "next_review": next_review, "new_date": new_date, "criteria_met": criteria_met,
              "team_manager": team_manager, "meeting_on": meeting_on, "agenda": agenda, "issued": issued,
              "cmh": cmh, "irh": irh, "final_hearing": final_hearing,
              "concurrency_minuted": concurrency_minuted, "social_worker": social_worker}  # fmt: skip
    name = str(event)
    spec = OFFERED[name]
    fields = {k: _plain(v) for k, v in values.items() if v is not None and k in spec.fields}
    stray = sorted(k for k, v in values.items() if v is not None and k not in fields)
    try:
        if stray:
            raise Refused(f"{name} takes no {', '.join(stray)}")
        day = on or clock.today()
        if day > clock.today():
            raise Refused(f"on {day} is in the future")
        run = run_id()
        # entered from the Prefect UI on the actor's behalf: the worker's account and the flow run are recorded,
        # and the actor is told (``storage.outbox``)
        result = casebook().handle(Fire(actor=actor, ref=case_ref, event=name, on=day, fields=fields, source=run,
                                        request_id=run, entered_by=os_account()))  # fmt: skip
    except Refused as exc:
        return _refused(exc, *_case_state(case_ref))
    emit_notices(result.notices)
    get_run_logger().info("%s: %s -> %s (%s on %s)", case_ref, result.from_state, result.to_state, name, result.on)
    return {k: v for k, v in result.as_json().items() if k in ("case", "event", "from", "to", "on", "opened")}


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value.value if isinstance(value, StrEnum) else value


_PARAMETERS = {"outcome", "decision", "iro", "review_on", "hos_attended", "distribution", "new_expiry", "next_review",
               "new_date", "criteria_met", "team_manager", "meeting_on", "agenda", "issued", "cmh", "irh",
               "final_hearing", "concurrency_minuted", "social_worker"}  # fmt: skip
if set(FORM_FIELDS) != _PARAMETERS:  # the form's parameters are the specs' fields: a new field must be offered
    raise TypeError(f"record-event's parameters {sorted(_PARAMETERS)} differ from the specs' {sorted(FORM_FIELDS)}")


@flow(name="escalation-action", flow_run_name="{escalation}-{action}")
def escalation_action(
    escalation: str,
    action: Literal["acknowledge", "escalate", "resolve"],
    actor: str,
    on: date | None = None,
    resolution: Resolution | None = None,
) -> dict[str, Any] | State[Any]:
    """Acknowledge, escalate or resolve an escalation (``ESC-<id>``); resolving takes a resolution from the list."""
    esc: int | None = None
    try:
        esc = parse_escalation_id(escalation)
        if esc is None:
            raise Refused(f"{escalation!r} is not an escalation id (ESC-<number>)")
        if (resolution is None) == (action == "resolve"):
            raise Refused("a resolution is given with resolve, and only with resolve")
        fields = {"note": resolution} if resolution else {}
        run = run_id()
        command = ActOnEscalation(actor=actor, escalation=esc, action=action, on=on or clock.today(), fields=fields,
                                  source=run, request_id=run, entered_by=os_account())  # fmt: skip
        result = casebook().handle(command)
    except Refused as exc:
        state = None
        if esc is not None:
            found = [e for e in casebook().escalations() if e.id == f"ESC-{esc}"]
            state = found[0].state if found else None
        return _refused(exc, "escalation" if state else None, state)
    emit_notices(result.notices)
    get_run_logger().info("%s (%s): %s -> %s", escalation, result.case, result.from_state, result.to_state)
    return {k: v for k, v in result.as_json().items() if k != "notices"}
