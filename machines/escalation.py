"""Escalations: their own small machine (PROCEDURES §4).

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

from enum import StrEnum

from statemachine import StateMachine
from statemachine.states import States

from machines.errors import Refused
from machines.model import Role

__all__ = ["LADDER", "EscalationMachine", "EscalationState", "next_level"]


class EscalationState(StrEnum):
    raised = "raised"
    acknowledged = "acknowledged"
    escalated = "escalated"
    resolved = "resolved"


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
