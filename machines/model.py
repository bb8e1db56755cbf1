"""The case aggregate: a case, its deadlines and its escalations, as plain data.

Storage maps these to rows; the rules in ``machines.casework`` change them in memory and say what they did.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from machines.kinds import CaseKind, Role

if TYPE_CHECKING:
    from machines.events import DomainEvent

__all__ = [
    "CaseFile",
    "CaseKind",
    "Deadline",
    "DeadlineStatus",
    "Directory",
    "Escalation",
    "EscalationState",
    "LogEntry",
    "MappingDirectory",
    "Person",
    "Role",
    "Source",
]


class DeadlineStatus(StrEnum):
    OPEN = "open"
    MET = "met"
    MISSED = "missed"
    CANCELLED = "cancelled"


class EscalationState(StrEnum):
    raised = "raised"
    acknowledged = "acknowledged"
    escalated = "escalated"
    resolved = "resolved"


class Source(StrEnum):
    MANUAL = "manual"
    TIMER = "timer"


@dataclass(frozen=True, slots=True)
class Person:
    user: str
    role: Role
    manager: str | None = None
    active: bool = True  # a deactivated person (a leaver) cannot sign in, act, or be allocated


SYSTEM = Person("system", Role.SYSTEM)


class Directory(Protocol):
    """Who is who: the people the rules need to look up (storage supplies it)."""

    def get(self, user: str) -> Person | None: ...


class MappingDirectory:
    """A directory over a mapping (tests, replay, the simulator)."""

    def __init__(self, people: Mapping[str, Person]) -> None:
        self._people = people

    def get(self, user: str) -> Person | None:
        return self._people.get(user)


@dataclass(slots=True, eq=False)
class Deadline:
    kind: str
    due_on: date
    owner: Role  # who must act
    escalate_to: Role  # who hears of it when missed
    armed_in: str  # the state (or escalation state) that armed it
    armed_on: date
    status: DeadlineStatus = DeadlineStatus.OPEN
    closed_on: date | None = None  # met, missed or cancelled on
    shown_from: date | None = None  # the worklist shows it from this date even when not yet near
    escalation_no: int | None = None  # set for an escalation's own deadlines
    id: int | None = None  # storage identity

    @property
    def is_open(self) -> bool:
        return self.status is DeadlineStatus.OPEN


@dataclass(slots=True, eq=False)
class Escalation:
    no: int  # 1, 2, … within its case
    reason: str
    raised_to: Role
    raised_on: date
    state: EscalationState = EscalationState.raised
    level: int = 1
    deadline_kind: str | None = None
    detail: str | None = None  # free text; stays in the database
    resolution: str | None = None
    closed_on: date | None = None
    id: int | None = None

    @property
    def is_open(self) -> bool:
        return self.state is not EscalationState.resolved


@dataclass(slots=True)
class LogEntry:
    """One row of the append-only event log: what happened, to what, by whom, and what it did (``changes``, typed
    domain events; empty for an entry read back from the log, whose ``consequences`` were stored)."""

    event: str
    from_state: str
    to_state: str
    actor: str
    role: str
    source: Source
    happened_on: date
    payload: dict[str, Any] = field(default_factory=dict)
    escalation_no: int | None = None
    changes: list[DomainEvent] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class CaseFile:
    ref: str
    kind: CaseKind
    state: StrEnum  # the procedure's state enum (SOState, CpIsoState)
    child_id: str
    procedure_version: str
    dob: date | None = None
    dates: dict[str, date] = field(default_factory=dict)
    people: dict[str, str] = field(default_factory=dict)  # social_worker, iro → user
    details: dict[str, Any] = field(default_factory=dict)  # free text and decisions
    deadlines: list[Deadline] = field(default_factory=list)
    escalations: list[Escalation] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    last_event_on: date | None = None
    id: int | None = None
    revision: int = 0

    def open_deadlines(self) -> list[Deadline]:
        return [d for d in self.deadlines if d.is_open]

    def escalation(self, no: int) -> Escalation:
        for esc in self.escalations:
            if esc.no == no:
                return esc
        raise KeyError(no)
