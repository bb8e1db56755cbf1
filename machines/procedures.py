"""The procedures orderwatch runs, and the tables derived from their declarations (nothing here is listed by hand).

>>> sorted(PROCEDURES)
[<CaseKind.CP_ISO: 'cp-iso'>, <CaseKind.SUPERVISION_ORDER: 'so'>]
>>> RULES["iro_allocation"].met_by
frozenset({'allocate_iro'})
>>> sorted(TIMER_EVENTS)
['escalate', 'order_expiry', 'progress_check']
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from enum import StrEnum

from statemachine import StateMachine

from machines import cp_iso, escalation, supervision_order
from machines.model import CaseKind, Role
from machines.spec import DeadlineRule, EventSpec, Procedure, Registration
from machines.supervision_order import CaseState

__all__ = [
    "MACHINES",
    "PROCEDURES",
    "RULES",
    "TIMER_EVENTS",
    "case_events",
    "event_roles",
    "procedure_for",
]

PROCEDURES: dict[CaseKind, Procedure] = {p.kind: p for p in (supervision_order.PROCEDURE, cp_iso.PROCEDURE)}

# Every deadline rule by kind: the cases' (kinds are unique across procedures) and the escalations' own.
RULES: dict[str, DeadlineRule] = {
    **{k: r for p in PROCEDURES.values() for k, r in p.deadlines.items()},
    **{k: dataclasses.replace(r, met_by=escalation.MET_BY[k]) for k, r in escalation.DEADLINES.items()},
}
TIMER_EVENTS = frozenset(r.timer for r in RULES.values() if r.timer)


def procedure_for(registration: Registration) -> Procedure:
    """The procedure a registration opens a case of."""
    return PROCEDURES[registration.kind]


def case_events() -> Iterator[tuple[Procedure, EventSpec]]:
    """Every case event a person may fire (timers left out), procedure by procedure."""
    for proc in PROCEDURES.values():
        for spec in proc.events.values():
            if not spec.timer:
                yield proc, spec


def event_roles() -> dict[str, tuple[Role, ...]]:
    """Who may fire what (PROCEDURES §5), registrations included: derived from the specs."""
    roles: dict[str, tuple[Role, ...]] = {}
    for proc in PROCEDURES.values():
        roles[proc.registration.event] = proc.register_roles
    for _, spec in case_events():
        roles[spec.name] = spec.roles
    return roles


class Machines(threading.local):
    """State machines built in this thread, one per machine class, reused across cases: the state lives on the
    model, which the machine reads afresh on every event (guards and validators read only what ``send`` passes).

    Building one registers every callback — about 4 ms, thirty transitions' worth. A machine that reached a final
    state has terminated (SCXML) and refuses every event; python-statemachine 3 has no public way back, so its engine
    is started afresh on the model's state (what ``__setstate__`` does, without rebuilding the callbacks). If a
    later release changes that, the machine is built anew: slower, never wrong (a test holds both behaviours)."""

    def __init__(self) -> None:
        self.built: dict[type[StateMachine], tuple[StateMachine, CaseState]] = {}

    def get(self, machine_cls: type[StateMachine], state: StrEnum) -> tuple[StateMachine, CaseState]:
        bound = self.built.get(machine_cls)
        if bound is not None and bound[0].is_terminated and not _restart(bound[0]):
            bound = None
        if bound is None:
            model = CaseState(state)
            bound = self.built[machine_cls] = (machine_cls(model=model), model)
        machine, model = bound
        model.state, model.internal = state, False
        return machine, model


def _restart(machine: StateMachine) -> bool:
    """Start a terminated machine's engine again (its configuration is the model's state); False if this release of
    python-statemachine no longer allows it."""
    try:
        machine._engine = machine._get_engine()  # type: ignore[no-untyped-call]
        machine._engine.start()
    except AttributeError:  # pragma: no cover - a future python-statemachine
        return False
    return not machine.is_terminated


MACHINES = Machines()
