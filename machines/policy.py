"""Local policy: every timescale PROCEDURES.md marks *default*, and the authority's closure days.

One typed, validated, immutable object. The shipped defaults are the values below (and ``policy.toml`` at the
project root, kept equal to them by a test); an authority overrides any of them in its own TOML file, which is
validated at start-up: an unknown key or a nonsensical value is refused there, never discovered mid-sweep.
(A plain dataclass with its own checks: the command line loads it on every run, and a validation library would
cost it a tenth of a second.)

>>> Policy().iro_allocation_wd, Policy().calendar.is_working_day(date(2026, 12, 25))
(5, False)
>>> Policy.from_toml('iro_allocation_wd = 3\\nclosure_days = [2026-12-24]').calendar.is_working_day(date(2026, 12, 24))
False
>>> Policy.from_toml('iro_alocation_wd = 3')
Traceback (most recent call last):
...
machines.errors.Refused: local policy: unknown setting 'iro_alocation_wd'
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import Any

from machines.calendar import WorkingCalendar, in_range
from machines.errors import Refused

__all__ = ["DEFAULT_POLICY", "Policy"]


def _days(default: int, *, low: int = 0, high: int = 120, about: str = "") -> Any:
    """A whole number of days within ``low``..``high``: the shape of nearly every setting."""
    return field(default=default, metadata={"low": low, "high": high, "about": about})


@dataclass(frozen=True)
class Policy:
    """The local authority's timescales (working days unless named otherwise) and closure days."""

    # Supervision Order (Wirral); seed says "upon receipt" for the IRO, the rest are silent.
    notification_wd: int = _days(1)  # the Safeguarding Unit told "upon the issuing" of the order
    iro_allocation_wd: int = _days(5)
    case_summary_wd: int = _days(10)
    first_cin_meeting_wd: int = _days(15)
    support_plan_wd: int = _days(10)  # a plan marked to follow the first CIN meeting, after that meeting
    quality_check_wd: int = _days(10)
    management_response_wd: int = _days(5)
    hos_decision_wd: int = _days(10)
    legal_gateway_wd: int = _days(10)
    application_filing_wd_before_expiry: int = _days(20)
    # After an extension the next review falls at the start of the last quarter of the extended period.
    extension_review_quarter: int = _days(4, low=2, high=12, about="review at the start of the last 1/N")
    # CP + ISO (Bradford)
    inform_cpc_wd: int = _days(1)
    three_way_discussion_wd: int = _days(5)
    single_assessment_wd_before_review: int = _days(5)
    guardian_invitation_wd_before_review: int = _days(5)
    hearing_proximity_wd: int = _days(10)
    # Escalations (section 4)
    escalation_acknowledge_wd: int = _days(2)
    escalation_resolve_wd: int = _days(10)
    # The IRO Agenda for the review's minutes (seed: "the structure to the discussion is outlined ... in the Agenda").
    review_agenda: tuple[str, ...] = ("support_plan_progress", "threshold_remains", "seek_extension")
    # Days the authority is closed beyond England-and-Wales bank holidays.
    closure_days: tuple[date, ...] = ()
    # Retention (PROCEDURES §6, rev.): a case is kept until the child's Nth birthday; with no date of birth, N years
    # after the case ended. The authority's, not a case's: applied as in force when disposing (not in the hash).
    retention_age: int = _days(25, low=18, high=100)
    retention_years_after_end: int = _days(25, low=1, high=100)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "closure_days":
                if not isinstance(value, (tuple, list)) or not all(type(d) is date and in_range(d) for d in value):
                    raise Refused(f"local policy: {f.name}: Input should be a list of dates (YYYY-MM-DD, 1900-2100)")
                object.__setattr__(self, f.name, tuple(value))
            elif f.name == "review_agenda":
                object.__setattr__(self, f.name, _agenda(value))
            elif type(value) is not int:
                raise Refused(f"local policy: {f.name}: Input should be a valid integer")
            elif value < f.metadata["low"]:
                raise Refused(f"local policy: {f.name}: Input should be greater than or equal to {f.metadata['low']}")
            elif value > f.metadata["high"]:
                raise Refused(f"local policy: {f.name}: Input should be less than or equal to {f.metadata['high']}")

    @cached_property
    def calendar(self) -> WorkingCalendar:
        return WorkingCalendar(self.closure_days)

    @classmethod
    def settings(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_toml(cls, text: str) -> Policy:
        """Parse and validate a policy file's text; any fault is one ``Refused`` line."""
        import tomllib

        try:
            data: dict[str, Any] = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise Refused(f"local policy: not valid TOML ({exc})") from None
        return cls.from_mapping(data)

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> Policy:
        unknown = sorted(set(data) - set(cls.settings()))
        if unknown:
            raise Refused(f"local policy: unknown setting {unknown[0]!r}")
        return cls(**data)


def _agenda(value: Any) -> tuple[str, ...]:
    """A non-empty list of distinct snake_case item names (they are typed on the command line)."""
    if not isinstance(value, (tuple, list)) or not value:
        raise Refused("local policy: review_agenda: Input should be a non-empty list of item names")
    for item in value:
        if not isinstance(item, str) or not item or not all(c.islower() or c.isdigit() or c == "_" for c in item):
            raise Refused(f"local policy: review_agenda: {item!r} should be a snake_case name")
    if len(set(value)) != len(value):
        raise Refused("local policy: review_agenda: an item is listed twice")
    return tuple(value)


DEFAULT_POLICY = Policy()
