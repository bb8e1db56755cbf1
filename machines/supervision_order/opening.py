"""How a Supervision Order case opens: the social worker's notification, checked against §1–§2, and who is told."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, ClassVar

from machines.calendar import (
    SO_MAX_AGE_AT_ORDER,
    SO_MONTHS,
    ReviewShape,
    age_on,
    end_of_month,
    extension_limit,
    order_review_shape,
    so_expiry,
)
from machines.errors import Refused
from machines.model import CaseFile, CaseKind, Person, Role
from machines.spec import Registration, Tell
from machines.supervision_order.machine import SOState

__all__ = ["PROCEDURE_VERSION", "SORegistration", "open_case", "set_review_shape", "tell_the_safeguarding_unit"]

PROCEDURE_VERSION = "wirral-so-2022.03"
SO_CHILD_TOO_OLD = "a Supervision Order cannot be made for a child aged 17 or over (CA89 s.31(3)): aged {age} on {on}"
SO_CHILD_TOO_OLD_PUBLIC = "a Supervision Order cannot be made for a child aged 17 or over (CA89 s.31(3))"
SO_EXPIRY_TOO_LATE = "a supervision order runs at most one year (CA89 Sch 3 para 6(1)): expiry no later than {limit}"
REVIEW_DATES = ("review_window_start", "review_due", "reconvene_by", "review_shown_from")


@dataclass(frozen=True, slots=True)
class SORegistration(Registration):
    """What the social worker notifies when the court makes a final Supervision Order."""

    kind: ClassVar[CaseKind] = CaseKind.SUPERVISION_ORDER
    event: ClassVar[str] = "register_so"

    ref: str
    child_id: str
    order_date: date
    expiry: date | None = None  # as stated on the sealed order, when it states one
    dob: date | None = None
    notified_on: date | None = None
    social_worker: str | None = None
    opened_from: str | None = None  # the CP+ISO case whose final hearing made the order


def set_review_shape(case: CaseFile, period_start: date, shape: ReviewShape) -> None:
    """Record when the period's review falls (none for a period under one whole month: D2)."""
    case.dates["period_start"] = period_start
    for key in (*REVIEW_DATES, "review_missed_on"):
        case.dates.pop(key, None)
    values = (shape.window_start, shape.review_due, shape.reconvene_by, shape.shown_from)
    for key, value in zip(REVIEW_DATES, values, strict=True):
        if value is not None:
            case.dates[key] = value
    case.details["review_month"] = shape.review_month


def open_case(reg: SORegistration, on: date, social_worker: str | None) -> tuple[CaseFile, dict[str, Any]]:
    """Check a registration against §1–§2 and make the case (its deadlines are armed by the casework)."""
    if reg.order_date > on:
        raise Refused(f"order date {reg.order_date} is in the future (registered on {on})")
    if reg.dob is not None:
        if reg.dob > reg.order_date:
            raise Refused(
                f"date of birth {reg.dob} is after the order date {reg.order_date}",
                public="the date of birth is after the order date",
            )
        age = age_on(reg.dob, reg.order_date)
        if age >= SO_MAX_AGE_AT_ORDER:
            raise Refused(SO_CHILD_TOO_OLD.format(age=age, on=reg.order_date), public=SO_CHILD_TOO_OLD_PUBLIC)
    year_end = end_of_month(reg.order_date, SO_MONTHS)
    if reg.expiry is not None:
        if reg.expiry <= reg.order_date:
            raise Refused(f"expiry {reg.expiry} must be after the order date {reg.order_date}")
        if reg.expiry > year_end:
            raise Refused(SO_EXPIRY_TOO_LATE.format(limit=year_end))
    notified = reg.notified_on or on
    if notified < reg.order_date:
        raise Refused(f"notified on {notified} is before the order date {reg.order_date}")
    if notified > on:
        raise Refused(f"notified on {notified} is in the future (registered on {on})")
    expiry = so_expiry(reg.order_date, reg.expiry, reg.dob)
    if expiry < notified:
        raise Refused(
            f"the order expired on {expiry}, before it was notified ({notified})",
            public="the order expired before it was notified",
        )
    case = CaseFile(
        ref=reg.ref,
        kind=CaseKind.SUPERVISION_ORDER,
        state=SOState.registered,
        child_id=reg.child_id,
        procedure_version=PROCEDURE_VERSION,
        dob=reg.dob,
        dates={
            "order_date": reg.order_date,
            "expiry": expiry,
            "extension_limit": extension_limit(reg.order_date, reg.dob),
            "notified_on": notified,
        },
        people={"social_worker": social_worker} if social_worker else {},
        links=[reg.opened_from] if reg.opened_from else [],
    )
    # "a review during month 9 of the Order": month ⌊¾·m⌋ of an m-month order, by its end (rev.)
    set_review_shape(case, reg.order_date, order_review_shape(reg.order_date, expiry))
    payload = {
        "ref": reg.ref,
        "child_id": reg.child_id,
        "order_date": reg.order_date,
        "expiry": reg.expiry,
        "dob": reg.dob,
        "notified_on": notified,
        "social_worker": social_worker,
        "opened_from": reg.opened_from,
    }
    return case, payload


def tell_the_safeguarding_unit(case: CaseFile, actor: Person) -> list[Tell]:
    """Seed: the child's ID number and the date of the order are e-mailed to the Safeguarding Unit (the notice
    carries the identifier; storage adds it, the domain event carries references and dates only)."""
    about = (("order_date", case.dates["order_date"].isoformat()), ("expiry", case.dates["expiry"].isoformat()),
             ("notified_on", case.dates["notified_on"].isoformat()), ("by", actor.user))  # fmt: skip
    return [Tell("registration", role=Role.SAFEGUARDING_UNIT, about=about)]
