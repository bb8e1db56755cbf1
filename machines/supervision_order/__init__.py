"""The Supervision Order case (PROCEDURES §2; Wirral, *Supervision Orders and the Role of the IRO*), declared once.

One home, four parts: ``machine`` (states, the machine, its guards and validators), ``opening`` (the registration and
who is told of it), ``events`` (the event specs: fields, roles, effects, escalations, flags, notices) and
``deadlines`` (the deadline rules). This module declares the procedure from them.
"""

from __future__ import annotations

from machines.model import CaseKind
from machines.spec import declare
from machines.supervision_order.deadlines import DEADLINES, latest_due
from machines.supervision_order.events import EVENTS, SW
from machines.supervision_order.machine import (
    FIVE_QUESTIONS,
    QUALITY_CRITERIA,
    CaseState,
    SOState,
    SupervisionOrderMachine,
)
from machines.supervision_order.opening import PROCEDURE_VERSION, SORegistration, open_case, tell_the_safeguarding_unit

__all__ = [
    "DEADLINES",
    "EVENTS",
    "FIVE_QUESTIONS",
    "PROCEDURE",
    "QUALITY_CRITERIA",
    "CaseState",
    "SORegistration",
    "SOState",
    "SupervisionOrderMachine",
]

PROCEDURE = declare(
    kind=CaseKind.SUPERVISION_ORDER,
    version=PROCEDURE_VERSION,
    title="Supervision Order",
    states=SOState,
    machine=SupervisionOrderMachine,
    events=EVENTS,
    deadlines=DEADLINES,
    register_roles=SW,
    registration=SORegistration,
    open=open_case,
    latest_due=latest_due,
    tells_on_opening=tell_the_safeguarding_unit,
)
