"""Typed domain events: what applying an event or letting a deadline pass did to a case.

The rules return these with every log entry; storage writes the log from them, the sweep counts them, operators'
notices (Prefect events) and people's notifications are made from them. Each carries its case reference and the
date it happened, so it can travel on its own. No personal data: references, kinds, states, roles and dates only.

>>> from datetime import date
>>> consequences([DeadlineArmed("SO-1", date(2026, 1, 16), "iro_allocation", date(2026, 1, 23)),
...               EscalationRaised("SO-1", date(2026, 1, 24), 1, "missed:iro_allocation", Role.SAFEGUARDING_UNIT)])
{'armed': [['iro_allocation', '2026-01-23']], 'raised': [[1, 'missed:iro_allocation', 'safeguarding_unit']]}
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from machines.kinds import CaseKind, Role

__all__ = [
    "CaseFlagged",
    "CaseMoved",
    "CaseOpened",
    "DeadlineArmed",
    "DeadlineCancelled",
    "DeadlineMet",
    "DeadlineMissed",
    "DomainEvent",
    "EscalationActed",
    "EscalationClimbed",
    "EscalationRaised",
    "InvolvementEnded",
    "InvolvementStarted",
    "NotificationDue",
    "TimerFired",
    "consequences",
]


@dataclass(frozen=True, slots=True)
class _Happened:
    case: str  # the case reference
    on: date


@dataclass(frozen=True, slots=True)
class _DeadlineEvent(_Happened):
    kind: str
    due_on: date
    escalation_no: int | None = None  # set for an escalation's own deadlines

    @property
    def label(self) -> str:
        """``kind``, or ``kind#N`` for escalation N's own deadline (the log's short form)."""
        return self.kind if self.escalation_no is None else f"{self.kind}#{self.escalation_no}"


@dataclass(frozen=True, slots=True)
class DeadlineArmed(_DeadlineEvent):
    """A deadline was set."""


@dataclass(frozen=True, slots=True)
class DeadlineMet(_DeadlineEvent):
    """Its event happened on or before its date (or, for an expiry, the order ran its course)."""


@dataclass(frozen=True, slots=True)
class DeadlineMissed(_DeadlineEvent):
    """Its date passed with its event not done."""


@dataclass(frozen=True, slots=True)
class DeadlineCancelled(_DeadlineEvent):
    """The case left the states it belonged to."""


@dataclass(frozen=True, slots=True)
class EscalationRaised(_Happened):
    no: int
    reason: str
    raised_to: Role
    deadline_kind: str | None = None


@dataclass(frozen=True, slots=True)
class EscalationClimbed(_Happened):
    """An escalation went one level up the ladder (by a person, or by the sweep when its own deadline passed)."""

    no: int
    reason: str
    raised_to: Role
    level: int


@dataclass(frozen=True, slots=True)
class EscalationActed(_Happened):
    """An escalation was acknowledged or resolved."""

    no: int
    action: str
    to_state: str


@dataclass(frozen=True, slots=True)
class CaseOpened(_Happened):
    kind: CaseKind
    state: str
    opened_from: str | None = None  # the case whose event opened this one


@dataclass(frozen=True, slots=True)
class CaseMoved(_Happened):
    event: str
    from_state: str
    to_state: str


@dataclass(frozen=True, slots=True)
class TimerFired(_Happened):
    """A deadline's passing fired an event on the case (``progress_check``, ``order_expiry``)."""

    timer: str


@dataclass(frozen=True, slots=True)
class CaseFlagged(_Happened):
    """An event was accepted, but not as the procedure would have it (e.g. "not a 3-way discussion"): the history
    and the caseload report show it."""

    event: str
    flag: str
    detail: str = ""  # user names and roles only

    @property
    def label(self) -> str:
        return f"{self.flag}: {self.detail}" if self.detail else self.flag


@dataclass(frozen=True, slots=True)
class NotificationDue(_Happened):
    """Someone is to be told (PROCEDURES §7): a named person, or every holder of a role. Storage writes the notice
    to its outbox in the same transaction; ``about`` holds references, dates and user names only."""

    kind: str  # registration | iro_allocated
    user: str | None
    role: Role | None
    about: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class InvolvementStarted(_Happened):
    """A person became involved in the case in a role (the social worker on registration, the IRO on allocation)."""

    user: str
    role: Role


@dataclass(frozen=True, slots=True)
class InvolvementEnded(_Happened):
    """Someone else took the person's place in that role."""

    user: str
    role: Role


DomainEvent = (
    DeadlineArmed
    | DeadlineMet
    | DeadlineMissed
    | DeadlineCancelled
    | EscalationRaised
    | EscalationClimbed
    | EscalationActed
    | CaseOpened
    | CaseMoved
    | TimerFired
    | CaseFlagged
    | NotificationDue
    | InvolvementStarted
    | InvolvementEnded
)

_CLOSED = ((DeadlineMet, "met"), (DeadlineMissed, "missed"), (DeadlineCancelled, "cancelled"))


def consequences(events: Iterable[DomainEvent]) -> dict[str, list[Any]]:
    """The log's compact record of what an entry did: deadlines armed (with due dates), met, missed, cancelled;
    escalations raised (number, reason, role); flags on the record. This JSON shape is part of ``fire``'s and ``history``'s output."""
    out: dict[str, list[Any]] = {}
    for e in events:
        if isinstance(e, DeadlineArmed):
            out.setdefault("armed", []).append([e.label, e.due_on.isoformat()])
        elif isinstance(e, EscalationRaised):
            out.setdefault("raised", []).append([e.no, e.reason, e.raised_to.value])
        elif isinstance(e, CaseFlagged):
            out.setdefault("flagged", []).append(e.label)
        else:
            for cls, key in _CLOSED:
                if isinstance(e, cls):
                    out.setdefault(key, []).append(e.label)
    return {k: out[k] for k in ("armed", "met", "missed", "cancelled", "raised", "flagged") if k in out}
