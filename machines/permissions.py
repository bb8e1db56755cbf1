"""Which actions a person may take now, from the procedure declarations alone (pure: no storage, no clock).

An event is offered on a case when all three agree: the case's machine has a transition for it from the case's
state (timers never), the person's role is one of the event spec's ``roles``, and — for an event that belongs to
the case's allocated social worker or IRO (``owner``) — the person is that worker or their manager. This is the same
rule ``machines.casework`` applies when the event is fired, asked in advance: the desk offers only these, and the
one write path still checks everything again (a guard or validator may yet refuse, e.g. a review date out of time).

Escalation actions: the escalation's own machine from its state (``escalate`` only below the top of the ladder) and
``machines.escalation.may_act``.

>>> from machines.model import CaseFile, CaseKind, MappingDirectory, Person, Role
>>> from machines.supervision_order import SOState
>>> case = CaseFile("SO-1", CaseKind.SUPERVISION_ORDER, SOState.awaiting_first_cin, "C-1", "v1",
...                 people={"social_worker": "sw1"})
>>> people = MappingDirectory({"sw1": Person("sw1", Role.SOCIAL_WORKER, "tm1"),
...                            "tm1": Person("tm1", Role.TEAM_MANAGER, "hos1"),
...                            "tm2": Person("tm2", Role.TEAM_MANAGER, "hos1")})
>>> [s.name for s in actions(case, people.get("tm1"), people)]
['record_first_cin_meeting', 'change_social_worker', 'record_case_summary', 'record_support_plan', 'discharge']
>>> [s.name for s in actions(case, people.get("tm2"), people)]
['discharge']
>>> refusal(case, "record_first_cin_meeting", people.get("tm2"), people)
'Only the allocated social worker sw1 or their manager may do this, not tm2.'
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from functools import cache

from statemachine import StateMachine

from machines import escalation as escalations
from machines.model import CaseFile, CaseKind, Directory, Escalation, EscalationState, Person, Role
from machines.procedures import PROCEDURES, RULES
from machines.spec import EventSpec
from machines.wording import state_words

__all__ = [
    "actions",
    "escalation_actions",
    "escalation_refusal",
    "events_from",
    "kinds_met_by",
    "may_register",
    "queue_kinds",
    "refusal",
]

OWNER_WORDS = {"social_worker": "social worker", "iro": "IRO"}


@cache
def _events_by_state(machine: type[StateMachine]) -> dict[str, tuple[str, ...]]:
    """Each state's events, in the order the machine declares its transitions (internal ones included)."""
    out: dict[str, tuple[str, ...]] = {}
    for state in machine.states:
        names: dict[str, None] = {}
        for transition in state.transitions:
            for name in transition.events:
                names[str(name)] = None
        out[str(state.value)] = tuple(names)
    return out


def events_from(kind: CaseKind, state: str | StrEnum) -> list[EventSpec]:
    """The manual events the machine of a ``kind`` case allows from ``state`` (timers left out)."""
    proc = PROCEDURES[kind]
    names = _events_by_state(proc.machine).get(str(state), ())
    return [proc.events[n] for n in names if not proc.events[n].timer]


def _owner_refusal(case: CaseFile, spec: EventSpec, person: Person, people: Directory) -> str | None:
    """The ownership rule of ``Casework._check_owner``: the allocated worker themselves, or their manager."""
    if spec.owner is None:
        return None
    owner = case.people.get(spec.owner)
    if owner is None or owner == person.user:
        return None
    owner_person = people.get(owner)
    if owner_person is not None and owner_person.manager == person.user:
        return None
    words = OWNER_WORDS.get(spec.owner, spec.owner.replace("_", " "))
    return f"Only the allocated {words} {owner} or their manager may do this, not {person.user}."


def refusal(case: CaseFile, event: str, person: Person, people: Directory) -> str | None:
    """Why ``person`` may not take ``event`` on ``case`` now (one sentence), or ``None`` if they may."""
    proc = PROCEDURES[case.kind]
    spec = proc.events.get(event)
    if spec is None or spec.timer:
        return f"There is no action called {event} for this kind of case."
    if not person.active:
        return f"{person.user} is no longer active and cannot act."
    if spec.name not in {s.name for s in events_from(case.kind, case.state)}:
        return f"This cannot be recorded now: the case is at “{state_words(case.kind.value, str(case.state))}”."
    if person.role not in spec.roles:
        allowed = ", ".join(r.value.replace("_", " ") for r in spec.roles)
        return f"Only these roles may do this: {allowed}."
    return _owner_refusal(case, spec, person, people)


def actions(case: CaseFile, person: Person, people: Directory) -> list[EventSpec]:
    """Every action ``person`` may take on ``case`` now, in the machine's order."""
    return [s for s in events_from(case.kind, case.state) if refusal(case, s.name, person, people) is None]


def may_register(kind: CaseKind, person: Person) -> bool:
    """Whether ``person``'s role may open a case of ``kind``."""
    return person.role in PROCEDURES[kind].register_roles


# -- escalations ---------------------------------------------------------------------------------------------------

_ESCALATION_FROM: dict[str, frozenset[EscalationState]] = {}
for _state in escalations.EscalationMachine.states:
    for _transition in _state.transitions:
        for _name in _transition.events:
            _ESCALATION_FROM.setdefault(str(_name), frozenset())
            _ESCALATION_FROM[str(_name)] |= {EscalationState(_state.value)}


def escalation_refusal(esc: Escalation, action: str, person: Person) -> str | None:
    """Why ``person`` may not take ``action`` on ``esc`` now (one sentence), or ``None`` if they may."""
    if action not in escalations.ACTIONS:
        return f"There is no escalation action called {action}."
    if esc.state not in _ESCALATION_FROM.get(action, frozenset()):
        return f"This escalation is {esc.state.value}, so it cannot be {_PAST[action]}."
    if action == "escalate" and escalations.next_level(esc.raised_to) is None:
        return escalations.AT_THE_TOP.format(role=esc.raised_to.value.replace("_", " ")).capitalize() + "."
    if not escalations.may_act(esc, action, person):
        return f"It is raised to the {esc.raised_to.value.replace('_', ' ')}: only they or a head of service may act on it."
    return None


_PAST = {"acknowledge": "acknowledged", "escalate": "escalated", "resolve": "resolved"}


def escalation_actions(esc: Escalation, person: Person) -> list[EventSpec]:
    """The actions ``person`` may take on ``esc`` now."""
    return [spec for name, spec in escalations.ACTIONS.items() if escalation_refusal(esc, name, person) is None]


# -- what a role's work is (the desk's worklists) --------------------------------------------------------------------


@cache
def kinds_met_by(role: Role) -> frozenset[str]:
    """The case deadline kinds ``role`` can meet: met by an event whose spec allows the role."""
    return frozenset(kind for kind, rule in RULES.items() if _meetable(rule.met_by, role, owned=None))


@cache
def queue_kinds(role: Role) -> frozenset[str]:
    """Deadline kinds met by events that belong to nobody in particular (no ``owner``) and that ``role`` may fire:
    its role's queue (the Safeguarding Unit's IRO allocations, Legal's filings, the CPCs' discussions)."""
    return frozenset(kind for kind, rule in RULES.items() if _meetable(rule.met_by, role, owned=False))


def _meetable(events: Iterable[str], role: Role, *, owned: bool | None) -> bool:
    for proc in PROCEDURES.values():
        for name in events:
            spec = proc.events.get(name)
            if spec is None or spec.timer or role not in spec.roles:
                continue
            if owned is None or (spec.owner is not None) == owned:
                return True
    return False
