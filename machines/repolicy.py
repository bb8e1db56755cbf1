"""Moving a live case to another local policy, deliberately: which open deadlines the new timescales move, and the
log entry that moves them (``orderwatch policy migrate``; replay applies the same entry).

A case runs under the policy it was opened with (storage records it). A changed ``policy.toml`` reaches a live case
only through this: each open deadline still at the date the case's policy gives it is moved to the date the new
policy gives it — never to a day before the migration (nobody could have met it there) — by cancelling it and arming
it again, so the log says which deadline moved, from when to when. Deadlines whose date no longer follows from the
case's dates and policy (moved by hand, or by a later event) are left as they are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from machines.events import DeadlineArmed, DeadlineCancelled, DomainEvent
from machines.model import CaseFile, Deadline, DeadlineStatus, LogEntry, Source
from machines.policy import Policy
from machines.procedures import RULES

__all__ = ["POLICY_MIGRATED", "Move", "apply_moves", "migration_entry", "policy_moves", "replayed_moves"]

POLICY_MIGRATED = "policy_migrated"  # the log entry's event
# An escalation's own deadlines are armed from the day it was raised (or sent up), by one setting each.
_ESCALATION_DAYS = {
    "escalation_acknowledgement": "escalation_acknowledge_wd",
    "escalation_resolution": "escalation_resolve_wd",
}


@dataclass(frozen=True, slots=True)
class Move:
    """An open deadline moved by a change of policy."""

    kind: str
    escalation_no: int | None
    from_due: date
    to_due: date

    def as_json(self) -> list[Any]:
        return [self.kind, self.escalation_no, self.from_due.isoformat(), self.to_due.isoformat()]

    @classmethod
    def from_json(cls, item: Sequence[Any]) -> Move:
        kind, no, before, after = item
        return cls(str(kind), None if no is None else int(no), date.fromisoformat(before), date.fromisoformat(after))


def _due_under(case: CaseFile, d: Deadline, policy: Policy) -> date | None:
    """The date ``policy`` gives the deadline now, from the case's dates (``None``: no policy setting decides it)."""
    if d.escalation_no is not None:
        setting = _ESCALATION_DAYS.get(d.kind)
        return None if setting is None else policy.calendar.add_working_days(d.armed_on, getattr(policy, setting))
    rule = RULES.get(d.kind)
    return None if rule is None else rule.due(case, policy)


def policy_moves(case: CaseFile, old: Policy, new: Policy, on: date) -> list[Move]:
    """The open deadlines the new policy moves, and where to (not before ``on``)."""
    moves = []
    for d in case.deadlines:
        if not d.is_open:
            continue
        before, after = _due_under(case, d, old), _due_under(case, d, new)
        if before != d.due_on or after is None:
            continue
        after = max(after, on)
        if after != d.due_on:
            moves.append(Move(d.kind, d.escalation_no, d.due_on, after))
    return moves


def apply_moves(case: CaseFile, moves: Sequence[Move], on: date) -> list[DomainEvent]:
    """Cancel each moved deadline and arm it again at its new date (its anchor, ``armed_on``, kept)."""
    events: list[DomainEvent] = []
    for move in moves:
        d = next(
            (d for d in case.deadlines if d.is_open and d.kind == move.kind and d.escalation_no == move.escalation_no
             and d.due_on == move.from_due),
            None,
        )  # fmt: skip
        if d is None:
            raise ValueError(f"no open {move.kind} due {move.from_due} to move")
        d.status, d.closed_on = DeadlineStatus.CANCELLED, on
        events.append(DeadlineCancelled(case.ref, on, d.kind, d.due_on, d.escalation_no))
        moved = Deadline(d.kind, move.to_due, d.owner, d.escalate_to, d.armed_in, d.armed_on,
                         shown_from=d.shown_from, escalation_no=d.escalation_no)  # fmt: skip
        case.deadlines.append(moved)
        events.append(DeadlineArmed(case.ref, on, moved.kind, moved.due_on, moved.escalation_no))
    return events


def migration_entry(case: CaseFile, moves: Sequence[Move], hashes: tuple[str, str], actor: str, role: str,
                    on: date) -> LogEntry:  # fmt: skip
    """Apply the moves to the case and return its log entry: the policies (content hashes) from and to, the moves."""
    events = apply_moves(case, moves, on)  # last_event_on stays: an entry dated before the migration may still come
    payload = {"from": hashes[0], "to": hashes[1], "moved": [m.as_json() for m in moves]}
    return LogEntry(POLICY_MIGRATED, str(case.state), str(case.state), actor, role, Source.MANUAL, on,
                    payload=payload, changes=events)  # fmt: skip


def replayed_moves(payload: Mapping[str, Any]) -> list[Move]:
    """The moves a stored ``policy_migrated`` entry made (replay applies exactly these)."""
    return [Move.from_json(item) for item in payload.get("moved", [])]
