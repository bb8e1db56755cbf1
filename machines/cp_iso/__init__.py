"""A child on a Child Protection plan who is also under an Interim Supervision Order (PROCEDURES §3; Bradford guide),
declared once: ``machine`` (states, machine, guards, validators), ``opening`` (the registration), ``events`` (the
event specs) and ``deadlines`` (the deadline rules); this module declares the procedure from them.
"""

from __future__ import annotations

from machines.cp_iso.deadlines import DEADLINES
from machines.cp_iso.events import CPC, EVENTS, SW
from machines.cp_iso.machine import CpIsoMachine, CpIsoState, review_limit
from machines.cp_iso.opening import PROCEDURE_VERSION, CpIsoRegistration, open_case
from machines.model import CaseKind
from machines.spec import declare

__all__ = ["DEADLINES", "EVENTS", "PROCEDURE", "CpIsoMachine", "CpIsoRegistration", "CpIsoState", "review_limit"]

PROCEDURE = declare(
    kind=CaseKind.CP_ISO,
    version=PROCEDURE_VERSION,
    title="CP plan + Interim Supervision Order",
    states=CpIsoState,
    machine=CpIsoMachine,
    events=EVENTS,
    deadlines=DEADLINES,
    register_roles=(*CPC, *SW),
    registration=CpIsoRegistration,
    open=open_case,
)
