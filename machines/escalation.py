"""Escalations: their own small machine (PROCEDURES §4), declared once: states, machine, actions, deadlines.

``raised`` → ``acknowledged`` → ``resolved``; or ``raised``/``acknowledged`` → ``escalated`` one level up → ``resolved``.

>>> from machines.supervision_order import CaseState
>>> sm = EscalationMachine(model=CaseState(EscalationState.raised))
>>> sm.send("escalate", raised_to="team_manager")
>>> sm.model.state
<EscalationState.escalated: 'escalated'>
>>> next_level("head_of_service") is None
True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, cast

from statemachine import StateMachine
from statemachine.states import States

from machines.errors import Refused
from machines.model import Escalation, EscalationState, Person, Role

if TYPE_CHECKING:
    from statemachine.event import Event

from machines.spec import DeadlineRule, EventSpec, deadline, event, text

__all__ = [
    "ACTIONS",
    "DEADLINES",
    "LADDER",
    "EscalationMachine",
    "EscalationState",
    "may_act",
    "next_level",
]

# One level up (§4: Team Manager → Head of Service; CP disagreement: the two Team Managers, then the challenge and
# resolution process, which the Head of Service owns). The Head of Service is the top of the ladder.
LADDER: dict[Role, Role] = {
    Role.SOCIAL_WORKER: Role.TEAM_MANAGER,
    Role.TEAM_MANAGER: Role.HEAD_OF_SERVICE,
    Role.IRO: Role.IRO_MANAGER,
    Role.IRO_MANAGER: Role.HEAD_OF_SERVICE,
    Role.CPC: Role.CPC_TEAM_MANAGER,
    Role.CPC_TEAM_MANAGER: Role.HEAD_OF_SERVICE,
    Role.SAFEGUARDING_UNIT: Role.HEAD_OF_SERVICE,
    Role.SAFEGUARDING_UNIT_MANAGER: Role.HEAD_OF_SERVICE,
    Role.LEGAL: Role.HEAD_OF_SERVICE,
}
AT_THE_TOP = "this escalation is already with the {role}, the top of the escalation ladder"


def next_level(role: str) -> Role | None:
    """The role one level up the ladder, or ``None`` at the top."""
    return LADDER.get(Role(role))


_ = States.from_enum(
    EscalationState, initial=EscalationState.raised, final=[EscalationState.resolved], use_enum_instance=True
)


class EscalationMachine(StateMachine):
    """An escalation's life: acknowledged, escalated a level, resolved with a note."""

    states = _

    acknowledge = _.raised.to(_.acknowledged)
    escalate = _.raised.to(_.escalated, validators="can_go_up") | _.acknowledged.to(_.escalated, validators="can_go_up")
    resolve = _.acknowledged.to(_.resolved) | _.escalated.to(_.resolved)

    def can_go_up(self, raised_to: str) -> None:
        if next_level(raised_to) is None:
            raise Refused(AT_THE_TOP.format(role=raised_to))


# Who may act on an escalation depends on the escalation (the role it is raised to), not on the action alone.
_ANYONE_IT_IS_RAISED_TO: tuple[Role, ...] = ()

ACTIONS: Mapping[str, EventSpec] = {
    spec.name: spec
    for spec in (
        event("acknowledge", "Acknowledge the escalation", _ANYONE_IT_IS_RAISED_TO, meets={"escalation_acknowledgement"}),
        event("escalate", "Escalate it one level up", _ANYONE_IT_IS_RAISED_TO),
        event("resolve", "Resolve the escalation", _ANYONE_IT_IS_RAISED_TO,
              fields={"note": text("Resolution")}, meets={"escalation_resolution"}),
    )
}  # fmt: skip
if {e.id for e in cast("list[Event]", EscalationMachine.events)} != set(
    ACTIONS
):  # declared once: the machine and its specs agree
    raise TypeError("escalation: every action needs exactly one spec")

E = EscalationState
# Armed per escalation, owned by whoever it is raised to (the due dates come from the policy when it is raised).
DEADLINES: Mapping[str, DeadlineRule] = {
    r.kind: r
    for r in (
        deadline("escalation_acknowledgement", "acknowledge the escalation", owner=Role.SYSTEM,
                 escalate_to=Role.SYSTEM, armed_in=E.raised, due=lambda c, p: None, timer="escalate"),
        deadline("escalation_resolution", "resolve the escalation", owner=Role.SYSTEM, escalate_to=Role.SYSTEM,
                 armed_in={E.raised, E.escalated}, alive_in={E.raised, E.acknowledged, E.escalated},
                 due=lambda c, p: None, timer="escalate"),
    )
}  # fmt: skip
MET_BY = {kind: frozenset(a for a, spec in ACTIONS.items() if kind in spec.meets) for kind in DEADLINES}


def may_act(esc: Escalation, action: str, actor: Person) -> bool:
    """The role it is raised to acts on it, and the Head of Service on any; a disagreement may also be taken up the
    ladder by either Team Manager (the challenge and resolution process)."""
    allowed = {esc.raised_to, Role.HEAD_OF_SERVICE}
    if action == "escalate" and esc.reason == "disagreement":
        allowed |= {Role.TEAM_MANAGER, Role.CPC_TEAM_MANAGER}
    return actor.role in allowed
