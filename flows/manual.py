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

from cli import clock
from cli.diagrams import MACHINES
from flows.runtime import RefusedByRules, casebook, run_id
from flows.views import emit_notices
from machines.errors import Refused
from machines.fields import EVENT_FIELDS
from machines.rules import EVENT_ROLES, TIMER_EVENTS
from storage.casebook import parse_escalation_id

__all__ = ["CaseEvent", "allowed_now", "escalation_action", "record_event"]


def allowed_now(machine: str, state: str) -> list[str]:
    """The manual events the machine accepts in ``state`` (guards aside), sorted.

    >>> allowed_now("so", "registered")
    ['allocate_iro', 'discharge', 'record_case_summary']
    >>> allowed_now("escalation", "raised")
    ['acknowledge', 'escalate']
    """
    states = {s.id: s for s in MACHINES[machine].states}
    if state not in states:
        return []
    events = {e.id for t in states[state].transitions for e in t.events}
    # a case's timers are the sweep's; an escalation's "escalate" is also a person's action
    return sorted(events if machine == "escalation" else events - TIMER_EVENTS)


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


def _offered(event: str) -> bool:
    """An event is offered in the UI when none of its required fields is free text."""
    return all(not (f.required and f.kind == "text") for f in EVENT_FIELDS.get(event, {}).values())


CaseEvent = StrEnum(  # type: ignore[misc]
    "CaseEvent",
    {e: e for e in sorted(EVENT_ROLES) if not e.startswith("register_") and e not in TIMER_EVENTS and _offered(e)},
)
Outcome = Literal[
    "step_down", "extend", "inconclusive", "end_plan", "continue_plan",
    "supervision_order", "care_order", "no_order", "other",
]  # fmt: skip
Decision = Literal["step_down", "concurrent", "continue"]
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
    move_review_to: date | None = None,
    new_date: date | None = None,
) -> dict[str, Any] | State[Any]:
    """Record what happened on a case (``on`` defaults to today); the rules refuse what they do not allow (the run
    then ends Failed, saying why and what is allowed now)."""
    values = {"outcome": outcome, "decision": decision, "iro": iro, "review_on": review_on,
              "hos_attended": hos_attended, "distribution": distribution, "new_expiry": new_expiry,
              "next_review": next_review, "move_review_to": move_review_to, "new_date": new_date}  # fmt: skip
    name = str(event)
    fields = {k: v for k, v in values.items() if v is not None and k in EVENT_FIELDS.get(name, {})}
    stray = sorted(k for k, v in values.items() if v is not None and k not in fields)
    try:
        if stray:
            raise Refused(f"{name} takes no {', '.join(stray)}")
        day = on or clock.today()
        if day > clock.today():
            raise Refused(f"on {day} is in the future")
        result = casebook().fire(case_ref, name, fields, actor, day, run_id=run_id())
    except Refused as exc:
        return _refused(exc, *_case_state(case_ref))
    emit_notices(result["notices"])
    get_run_logger().info("%s: %s -> %s (%s on %s)", case_ref, result["from"], result["to"], name, result["on"])
    return {k: result[k] for k in ("case", "event", "from", "to", "on", "opened")}


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
        result = casebook().fire_escalation(esc, action, fields, actor, on or clock.today(), run_id=run_id())
    except Refused as exc:
        state = None
        if esc is not None:
            found = [e for e in casebook().escalations() if e["id"] == f"ESC-{esc}"]
            state = found[0]["state"] if found else None
        return _refused(exc, "escalation" if state else None, state)
    emit_notices(result["notices"])
    get_run_logger().info("%s (%s): %s -> %s", escalation, result["case"], result["from"], result["to"])
    return {k: v for k, v in result.items() if k != "notices"}
