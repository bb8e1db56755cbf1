"""Correcting a mis-keyed registration: the child's identifier, date of birth, or a Supervision Order's order date
(PROCEDURES §6: an audited ``amend`` event, never an edited row).

The registration is opened again, as amended, on the day it was first opened — so the same checks apply (a date of
birth after the order is refused as it would have been) — and the case's dates that still stand as the opening gave
them are moved to what the amended opening gives; dates changed since by events (a court's extension, say) are left
as they are. Open deadlines still at the date their rule gives are then moved (cancelled and armed again, as a
change of policy moves them), so the log says which moved, from when to when. The entry keeps the old and the new
value, the reason, the dates and the moves; replay applies exactly those.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from datetime import date
from typing import Any

from machines.calendar import parse_date
from machines.errors import Refused
from machines.events import DomainEvent
from machines.model import CaseFile, CaseKind, LogEntry, Person, Role, Source
from machines.names import check_child_id, check_text, shown
from machines.policy import Policy
from machines.procedures import PROCEDURES, RULES
from machines.repolicy import Move, apply_moves, replayed_moves

__all__ = ["AMENDABLE", "AMENDED", "amend", "replay_amendment"]

AMENDED = "amended"
AMENDABLE = ("child_id", "dob", "order_date")
# who may correct a registration: those who may register the case, and the Head of Service
_ALSO = (Role.HEAD_OF_SERVICE,)


def _value(field: str, text: str) -> Any:
    if field == "child_id":
        return check_child_id(text)
    try:
        return parse_date(text)
    except ValueError as exc:
        raise Refused(f"amend --to: {exc}") from None


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def _jsonable(payload: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _iso(v) for k, v in payload.items()}


def _date_changes(case: CaseFile, before: Mapping[str, date], after: Mapping[str, date]) -> dict[str, list[Any]]:
    """The case's dates that still stand as the old opening gave them and that the new opening gives otherwise."""
    changes: dict[str, list[Any]] = {}
    for key in dict.fromkeys([*before, *after]):
        if case.dates.get(key) == before.get(key) and before.get(key) != after.get(key):
            changes[key] = [_iso(before.get(key)), _iso(after.get(key))]
    return changes


def _apply_dates(case: CaseFile, changes: Mapping[str, list[Any]]) -> None:
    for key, (_old, new) in changes.items():
        if new is None:
            case.dates.pop(key, None)
        else:
            case.dates[key] = parse_date(str(new))


def _moves(case: CaseFile, changes: Mapping[str, list[Any]], policy: Policy) -> list[Move]:
    """Open deadlines at the date their rule gives under the old dates, moved to the date it gives under the new."""
    if not changes:
        return []
    after = copy.copy(case)
    after.dates = dict(case.dates)
    _apply_dates(after, changes)
    moves = []
    for d in case.deadlines:
        rule = RULES.get(d.kind)
        if not d.is_open or d.escalation_no is not None or rule is None:
            continue
        old, new = rule.due(case, policy), rule.due(after, policy)
        if old == d.due_on and new is not None and new != old:
            moves.append(Move(d.kind, None, d.due_on, new))
    return moves


def amend(case: CaseFile, registration: Mapping[str, Any], opened_on: date, field: str, text: str, reason: str,
          actor: Person, on: date, policy: Policy) -> LogEntry:  # fmt: skip
    """Correct ``field`` to ``text`` on the case (``registration``: its registration payload as amended so far,
    ``opened_on``: the day it was opened); returns the log entry, the case changed."""
    if field not in AMENDABLE:
        raise Refused(f"amend --field must be one of {', '.join(AMENDABLE)}")
    if field == "order_date" and case.kind is not CaseKind.SUPERVISION_ORDER:
        raise Refused("order_date is a Supervision Order's; a CP+ISO case's dates move by its own events")
    proc = PROCEDURES[case.kind]
    allowed = (*proc.register_roles, *_ALSO)
    if actor.role not in allowed:
        raise Refused(f"{actor.user} ({actor.role.value}) may not amend a registration (one of: "
                      f"{', '.join(r.value for r in allowed)})")  # fmt: skip
    reason = check_text(reason, "--reason").strip()
    if not reason:
        raise Refused("amend needs a --reason")
    value = _value(field, text)
    old_value = case.child_id if field == "child_id" else case.dob if field == "dob" else case.dates.get(field)
    if value == old_value:
        raise Refused(f"{field} is already {shown(_iso(value))}: nothing to amend")
    reg_class = proc.registration
    before = reg_class.from_payload(dict(registration))
    after = dataclasses.replace(before, **{field: value})  # type: ignore[type-var]
    social_worker = registration.get("social_worker")
    old_case, _ = proc.open(before, opened_on, social_worker)
    new_case, new_payload = proc.open(after, opened_on, social_worker)  # the same checks as on registration
    changes = _date_changes(case, old_case.dates, new_case.dates)
    moves = _moves(case, changes, policy)
    payload: dict[str, Any] = {
        "field": field,
        "from": _iso(old_value),
        "to": _iso(value),
        "reason": reason,
        "registration": _jsonable(new_payload),
        "dates": changes,
        "moved": [m.as_json() for m in moves],
    }
    events = replay_amendment(case, payload, on)
    state = str(case.state)
    return LogEntry(AMENDED, state, state, actor.user, actor.role.value, Source.MANUAL, on, payload=payload,
                    changes=events)  # fmt: skip


def replay_amendment(case: CaseFile, payload: Mapping[str, Any], on: date) -> list[DomainEvent]:
    """Apply an ``amended`` entry to the case: the value, the dates, the moves it recorded."""
    field, value = str(payload["field"]), payload["to"]
    if field == "child_id":
        case.child_id = str(value)
    elif field == "dob":
        case.dob = None if value is None else parse_date(str(value))
    _apply_dates(case, payload.get("dates", {}))
    return apply_moves(case, replayed_moves(payload), on)


def latest_registration(entries: list[tuple[str, Mapping[str, Any]]]) -> Mapping[str, Any]:
    """The registration as amended so far, from (event, payload) pairs oldest first."""
    found: Mapping[str, Any] = {}
    for event, payload in entries:
        if event == AMENDED:
            found = payload["registration"]
        elif not found:
            found = payload
    return found
