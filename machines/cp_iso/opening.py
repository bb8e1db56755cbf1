"""How a CP plan + ISO case opens: the ISO granted for a child on a CP plan, checked against §3 and Working Together."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, ClassVar

from machines.calendar import twenty_six_weeks_date
from machines.cp_iso.machine import CpIsoState, review_limit
from machines.errors import Refused
from machines.model import CaseFile, CaseKind
from machines.spec import Registration

__all__ = ["PROCEDURE_VERSION", "CpIsoRegistration", "open_case"]

PROCEDURE_VERSION = "bradford-cp-iso-1"


@dataclass(frozen=True, slots=True)
class CpIsoRegistration(Registration):
    """A child on a CP plan for whom an Interim Supervision Order has been granted, with the court timetable."""

    kind: ClassVar[CaseKind] = CaseKind.CP_ISO
    event: ClassVar[str] = "register_cp_iso"

    ref: str
    child_id: str
    iso_date: date
    next_review: date
    last_review: date | None = None
    icpc: date | None = None
    issued: date | None = None
    cmh: date | None = None
    irh: date | None = None
    final_hearing: date | None = None
    dob: date | None = None
    social_worker: str | None = None


_TIMETABLE = ("last_review", "icpc", "issued", "cmh", "irh", "final_hearing")


def open_case(reg: CpIsoRegistration, on: date, social_worker: str | None) -> tuple[CaseFile, dict[str, Any]]:
    """Check a registration against §3 and Working Together, and make the case."""
    if reg.iso_date > on:
        raise Refused(f"ISO date {reg.iso_date} is in the future (registered on {on})")
    start = reg.last_review or reg.icpc
    if start is None:
        raise Refused("one of last_review or icpc is required: the Working Together limit on the next review needs it")
    for name in ("last_review", "icpc"):
        value = getattr(reg, name)
        if value is not None and value > reg.iso_date:
            raise Refused(f"{name} {value} is after the ISO date {reg.iso_date}")
    if reg.issued is not None and reg.issued > reg.iso_date:
        raise Refused(f"issue date {reg.issued} is after the ISO date {reg.iso_date}")
    if reg.dob is not None and reg.dob > reg.iso_date:
        raise Refused(
            f"date of birth {reg.dob} is after the ISO date {reg.iso_date}",
            public="the date of birth is after the ISO date",
        )
    dates: dict[str, date] = {"iso_date": reg.iso_date, "next_review": reg.next_review}
    for name in _TIMETABLE:
        value = getattr(reg, name)
        if value is not None:
            dates[name] = value
    if reg.issued is not None:
        dates["twenty_six_weeks"] = twenty_six_weeks_date(reg.issued)
    dates["cycle_start"] = start
    case = CaseFile(
        ref=reg.ref,
        kind=CaseKind.CP_ISO,
        state=CpIsoState.iso_granted,
        child_id=reg.child_id,
        procedure_version=PROCEDURE_VERSION,
        dob=reg.dob,
        dates=dates,
        people={"social_worker": social_worker} if social_worker else {},
    )
    if reg.next_review <= start:
        raise Refused(f"the next CP review {reg.next_review} must be after {start}")
    limit, message = review_limit(case)
    if reg.next_review > limit:
        raise Refused(message)
    payload: dict[str, Any] = {name: getattr(reg, name) for name in CpIsoRegistration.__dataclass_fields__}
    payload["social_worker"] = social_worker
    return case, payload
