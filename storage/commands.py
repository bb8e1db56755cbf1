"""The commands: every change to orderwatch's data, each handled by one function over a unit of work.

Registering a case, firing an event, acting on an escalation, letting deadlines pass (the sweep, one case's
catch-up), adding a person, recording notifications — the CLI, the Prefect flows, the simulator and the desk all
send one of these to :meth:`storage.casebook.Casebook.handle` (or a batch to ``handle_all``). There is no other
write path.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from machines.errors import Refused
from machines.events import DeadlineMissed, DomainEvent, EscalationRaised, TimerFired, consequences
from machines.model import Role
from machines.spec import Registration
from storage.notices import Notice, notices

__all__ = [
    "ActOnEscalation",
    "AddPerson",
    "Amend",
    "Amended",
    "CatchUp",
    "ChangePerson",
    "Command",
    "DeactivatePerson",
    "EscalationMove",
    "Fire",
    "Opened",
    "ReactivatePerson",
    "Register",
    "SetEmail",
    "SweepBatch",
    "SweepReport",
    "Transition",
    "WholeBatchRefused",
]


@dataclass(frozen=True, kw_only=True)
class Command:
    """What every command carries: who it is done by (or on behalf of), who typed it, and where it came from.

    ``actor`` is the person on whose behalf it is done (the rules check their role); ``entered_by`` who entered it —
    the desk's signed-in person, the command line's operating-system account (it runs on the server: that account
    is the command line's authentication) — recorded beside the actor; ``channel`` desk | cli | flow-run/<id> |
    system. When someone enters an event on another's behalf, that person is told (``entered_on_your_behalf``).
    """

    actor: str
    source: str | None = None  # the flow run that carried it ("flow-run/<id>"), stamped on the log
    request_id: str | None = None  # idempotency key: a retried command records nothing twice
    entered_by: str | None = None
    channel: str | None = None  # None: the flow run (``source``) if any, else "system"

    @property
    def via(self) -> str:
        """The channel it came through."""
        return self.channel or self.source or "system"


@dataclass(frozen=True, kw_only=True)
class AddPerson(Command):
    """Add a person (an admin's work; see ``storage.people`` for setting up the first admin)."""

    user: str
    role: str
    manager: str | None = None
    display_name: str | None = None
    email: str | None = None  # where their notifications are delivered


@dataclass(frozen=True, kw_only=True)
class ChangePerson(Command):
    """Change a person's role, manager (``clear_manager``: none) or display name; what is not given is kept."""

    user: str
    role: str | None = None
    manager: str | None = None
    clear_manager: bool = False
    display_name: str | None = None


@dataclass(frozen=True, kw_only=True)
class DeactivatePerson(Command):
    """A leaver: they can no longer sign in, act or be allocated; their open allocations are listed."""

    user: str
    on: date


@dataclass(frozen=True, kw_only=True)
class ReactivatePerson(Command):
    user: str


@dataclass(frozen=True, kw_only=True)
class SetEmail(Command):
    """Set (or, with ``None``, clear) the e-mail address a person's notifications are delivered to."""

    user: str
    email: str | None


@dataclass(frozen=True, kw_only=True)
class Register(Command):
    """Open a case (``registration``: an SO or CP+ISO registration) on the day it is opened."""

    registration: Registration
    on: date


@dataclass(frozen=True, kw_only=True)
class Fire(Command):
    """Record what happened on a case on ``on``: deadlines due before it pass first, then the event."""

    ref: str
    event: str
    on: date
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class ActOnEscalation(Command):
    """Acknowledge, escalate or resolve an escalation: by its id (the number of ``ESC-<id>``), or by its case and
    its number within the case (``ref``, ``no``)."""

    action: str
    on: date
    escalation: int | None = None
    ref: str | None = None
    no: int | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Amend(Command):
    """Correct a mis-keyed registration (``machines.amend``): ``field`` (child_id, dob, order_date) to ``value``,
    for ``reason``, recorded on ``on`` in the case's log with the old and the new value."""

    ref: str
    field: str
    value: str
    reason: str
    on: date


@dataclass(frozen=True, kw_only=True)
class CatchUp(Command):
    """Let one case's deadlines due before ``as_of`` pass (the sweep's work for one case)."""

    ref: str
    as_of: date
    actor: str = "system"


@dataclass(frozen=True, kw_only=True)
class SweepBatch(Command):
    """Claim up to ``batch_size`` cases with work due before ``as_of`` and let it pass: one transaction."""

    as_of: date
    batch_size: int = 500
    actor: str = "system"


class WholeBatchRefused(Refused):
    """A refusal found after a case changed in memory: the whole unit of work is abandoned."""


# -- results ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Amended:
    """What an amendment did (``orderwatch amend``'s answer): never the values themselves (they are personal)."""

    case: str
    field: str
    on: date
    dates: list[str]
    consequences: dict[str, list[Any]]

    def as_json(self) -> dict[str, Any]:
        return {"case": self.case, "amended": self.field, "on": self.on.isoformat(), "dates_moved": self.dates,
                "consequences": self.consequences}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Transition:
    """What a fired event did (``orderwatch fire``'s answer)."""

    case: str
    event: str
    from_state: str
    to_state: str
    on: date
    consequences: dict[str, list[Any]]
    opened: list[str]
    events: list[DomainEvent]  # everything that happened, catch-up included

    @property
    def notices(self) -> list[Notice]:
        return notices(self.events)

    def as_json(self) -> dict[str, Any]:
        return {"case": self.case, "event": self.event, "from": self.from_state, "to": self.to_state,
                "on": self.on.isoformat(), "consequences": self.consequences, "opened": self.opened,
                "notices": [n.as_json() for n in self.notices]}  # fmt: skip


@dataclass(frozen=True, slots=True)
class EscalationMove:
    """What an action on an escalation did."""

    escalation: str  # ESC-<id>
    case: str
    action: str
    from_state: str
    to_state: str
    raised_to: Role
    on: date
    events: list[DomainEvent]

    @property
    def notices(self) -> list[Notice]:
        return notices(self.events)

    def as_json(self) -> dict[str, Any]:
        return {"escalation": self.escalation, "case": self.case, "action": self.action, "from": self.from_state,
                "to": self.to_state, "raised_to": self.raised_to.value, "on": self.on.isoformat(),
                "notices": [n.as_json() for n in self.notices]}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Opened:
    """A registration's answer: the case opened (its view is read back by the caller)."""

    case: str
    state: str


@dataclass
class SweepReport:
    """What a sweep (or one batch of it) did: counts only (case references, never personal data)."""

    as_of: date
    passed: int = 0  # deadlines whose date passed (missed, or timers fired)
    missed: Counter[str] = field(default_factory=Counter)
    timers: Counter[str] = field(default_factory=Counter)
    escalations: Counter[str] = field(default_factory=Counter)
    cases: int = 0
    batches: int = 0
    handled: int = 0  # cases claimed (0: nothing left to sweep)
    notices: list[Notice] = field(default_factory=list)  # for Prefect events: refs, kinds, dates only

    def count(self, entries: int, events: list[DomainEvent]) -> None:
        """Count one case's catch-up: ``entries`` deadlines passed, and what they did."""
        self.cases += 1
        self.passed += entries
        for e in events:
            if isinstance(e, TimerFired):
                self.timers[e.timer] += 1
            elif isinstance(e, EscalationRaised):
                self.escalations[e.reason] += 1
            elif isinstance(e, DeadlineMissed):
                self.missed[e.kind] += 1
        self.notices.extend(notices(events))

    def add(self, part: SweepReport) -> None:
        """Merge a batch's report into the sweep's total (the one place totals are merged)."""
        self.passed += part.passed
        self.cases += part.cases
        self.batches += part.batches
        self.handled += part.handled
        self.missed.update(part.missed)
        self.timers.update(part.timers)
        self.escalations.update(part.escalations)
        self.notices.extend(part.notices)

    def as_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "passed": self.passed,
            "missed": dict(sorted(self.missed.items())),
            "timers": dict(sorted(self.timers.items())),
            "escalations_raised": sum(self.escalations.values()),
            "escalations_by_reason": dict(sorted(self.escalations.items())),
            "cases": self.cases,
            "batches": self.batches,
        }


def transition(ref: str, event: str, before: str, after: str, on: date, changes: list[DomainEvent],
               opened: list[str], events: list[DomainEvent]) -> Transition:  # fmt: skip
    return Transition(ref, event, str(before), str(after), on, consequences(changes), opened, events)
