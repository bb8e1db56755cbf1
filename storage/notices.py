"""What operators are told of, made from the domain events: missed deadlines, escalations raised to someone (new, or
a level up), case transitions. The Prefect layer emits them as events; case references, kinds, states, roles and
dates only — never personal data.

>>> from datetime import date
>>> from machines.events import CaseMoved
>>> [n.as_json() for n in notices([CaseMoved("SO-1", date(2026, 1, 20), "allocate_iro", "registered", "awaiting_first_cin")])]
[{'type': 'case.transitioned', 'case': 'SO-1', 'event': 'allocate_iro', 'from': 'registered', 'to': 'awaiting_first_cin'}]
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from machines.events import CaseMoved, DeadlineMissed, DomainEvent, EscalationClimbed, EscalationRaised

__all__ = ["Notice", "notices"]


@dataclass(frozen=True, slots=True)
class Notice:
    """One thing operators hear of: its type (``deadline.missed``, ``escalation.raised``, ``case.transitioned``),
    the case, and a payload of references, roles and dates."""

    type: str
    case: str
    payload: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"type": self.type, "case": self.case, **self.payload}


def notices(events: Iterable[DomainEvent]) -> list[Notice]:
    out: list[Notice] = []
    for e in events:
        if isinstance(e, DeadlineMissed):
            out.append(Notice("deadline.missed", e.case, {"deadline": e.kind, "due_on": e.due_on.isoformat()}))
        elif isinstance(e, EscalationRaised):
            out.append(Notice("escalation.raised", e.case, {"escalation_no": e.no, "reason": e.reason,
                                                            "raised_to": e.raised_to.value, "level": 1,
                                                            "on": e.on.isoformat()}))  # fmt: skip
        elif isinstance(e, EscalationClimbed):
            out.append(Notice("escalation.raised", e.case, {"escalation_no": e.no, "reason": e.reason,
                                                            "raised_to": e.raised_to.value, "level": e.level,
                                                            "on": e.on.isoformat()}))  # fmt: skip
        elif isinstance(e, CaseMoved):
            out.append(Notice("case.transitioned", e.case, {"event": e.event, "from": str(e.from_state),
                                                            "to": str(e.to_state)}))  # fmt: skip
    return out
