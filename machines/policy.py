"""Local policy: every timescale PROCEDURES.md marks *default*, and the authority's closure days.

One typed, validated object. The shipped defaults are the values below (and ``policy.toml`` at the project root,
kept equal to them by a test); an authority overrides any of them in its own TOML file, which is validated at
start-up: an unknown key or a nonsensical value is refused there, never discovered mid-sweep.

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

import tomllib
from datetime import date
from functools import cached_property
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from machines.calendar import WorkingCalendar
from machines.errors import Refused

__all__ = ["DEFAULT_POLICY", "Policy"]


class Policy(BaseModel):
    """The local authority's timescales (working days unless named otherwise) and closure days."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Supervision Order (Wirral); seed says "upon receipt" for the IRO, the rest are silent.
    iro_allocation_wd: int = Field(default=5, ge=0, le=120)
    case_summary_wd: int = Field(default=10, ge=0, le=120)
    first_cin_meeting_wd: int = Field(default=15, ge=0, le=120)
    quality_check_wd: int = Field(default=10, ge=0, le=120)
    management_response_wd: int = Field(default=5, ge=0, le=120)
    hos_decision_wd: int = Field(default=10, ge=0, le=120)
    legal_gateway_wd: int = Field(default=10, ge=0, le=120)
    application_filing_wd_before_expiry: int = Field(default=20, ge=0, le=120)
    # After an extension the next review falls at the start of the last quarter of the extended period.
    extension_review_quarter: int = Field(default=4, ge=2, le=12, description="review at the start of the last 1/N")
    # CP + ISO (Bradford)
    inform_cpc_wd: int = Field(default=1, ge=0, le=120)
    three_way_discussion_wd: int = Field(default=5, ge=0, le=120)
    single_assessment_wd_before_review: int = Field(default=5, ge=0, le=120)
    guardian_invitation_wd_before_review: int = Field(default=5, ge=0, le=120)
    hearing_proximity_wd: int = Field(default=10, ge=0, le=120)
    # Escalations (section 4)
    escalation_acknowledge_wd: int = Field(default=2, ge=0, le=120)
    escalation_resolve_wd: int = Field(default=10, ge=0, le=120)
    # Days the authority is closed beyond England-and-Wales bank holidays.
    closure_days: tuple[date, ...] = ()

    @cached_property
    def calendar(self) -> WorkingCalendar:
        return WorkingCalendar(self.closure_days)

    @classmethod
    def from_toml(cls, text: str) -> Policy:
        """Parse and validate a policy file's text; any fault is one ``Refused`` line."""
        try:
            data: dict[str, Any] = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise Refused(f"local policy: not valid TOML ({exc})") from None
        return cls.from_mapping(data)

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> Policy:
        unknown = sorted(set(data) - set(cls.model_fields))
        if unknown:
            raise Refused(f"local policy: unknown setting {unknown[0]!r}")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise Refused(f"local policy: {where}: {first['msg']}") from None


DEFAULT_POLICY = Policy()
