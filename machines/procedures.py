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
from collections.abc import Iterator

from machines import cp_iso, escalation, supervision_order
from machines.model import CaseKind, Role
from machines.spec import DeadlineRule, EventSpec, Procedure, Registration

__all__ = [
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
