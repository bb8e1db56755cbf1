"""How the simulated authority behaves: who responds to their work when (per role), how decisions fall, and the staff
it has. Configurable with ``orderwatch simulate --behaviour file.toml``; the defaults are plausible, not data."""

from __future__ import annotations

import tomllib
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from machines.model import Role

__all__ = ["Behaviour", "Response", "Staff", "staff_for"]


# -- how people respond: the configurable distributions ---------------------------------------------------------------


class Response(BaseModel):
    """How one role answers its work: on time (a uniform day up to the due date), late (an exponential delay past
    it, mean ``late_days_mean``), or never (the rest)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    on_time: float = Field(default=0.85, ge=0, le=1)
    late: float = Field(default=0.12, ge=0, le=1)
    late_days_mean: float = Field(default=7.0, gt=0)

    @model_validator(mode="after")
    def _shares(self) -> Response:
        if self.on_time + self.late > 1:
            raise ValueError("on_time + late must not exceed 1 (the rest never act)")
        return self


class Behaviour(BaseModel):
    """The simulated authority: who responds how, and how decisions fall. Defaults are plausible, not data."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    so_share: float = Field(default=0.4, ge=0, le=1)  # of the cases opened, the share that are Supervision Orders
    default: Response = Response()
    roles: dict[Role, Response] = {
        Role.LEGAL: Response(on_time=0.9, late=0.1),  # the court's timetable mostly holds
        Role.HEAD_OF_SERVICE: Response(on_time=0.8, late=0.17),
    }
    quality_check_fails: float = 0.1
    review_outcomes: dict[str, float] = {"step_down": 0.5, "extend": 0.3, "inconclusive": 0.2}
    reconvened_outcomes: dict[str, float] = {"step_down": 0.6, "extend": 0.4}
    seek_extension: float = 0.4  # the Head of Service's decision after the minutes
    gateway_approves: float = 0.8
    court_extends: float = 0.75
    three_way_step_down: float = 0.4
    midway_step_down: float = 0.15
    review_ends_plan: dict[str, float] = {"step_down_proposed": 0.7, "concurrent": 0.35}
    final_hearing_outcomes: dict[str, float] = {
        "supervision_order": 0.3,
        "care_order": 0.3,
        "no_order": 0.3,
        "other": 0.1,
    }
    disagreement: float = 0.08  # share of CP+ISO cases with a professional disagreement
    discharge: float = 0.02  # share of SO cases the court discharges early
    plan_to_follow: float = 0.3  # case summaries whose plan follows the first CIN meeting (record_support_plan)
    three_way_without_tm: float = 0.1  # 3-way discussions held without the team manager (flagged)
    concurrency_minuted: float = 0.9  # first reviews after a 'concurrent' decision that confirm it was minuted
    agenda_partly_covered: float = 0.05  # minutes that leave out an item of the IRO Agenda (flagged)
    issued_at_registration: float = 0.7  # CP+ISO cases registered with the issue date (else told on inform_cpc)
    guardian_contact_days: tuple[int, int] = (28, 70)  # the CPC and the Guardian keep in touch this often

    def response(self, role: Role) -> Response:
        return self.roles.get(role, self.default)

    @classmethod
    def from_toml(cls, path: Path) -> Behaviour:
        """Top-level keys as the fields above; ``[default]`` and ``[roles.<role>]`` tables for responses."""
        with path.open("rb") as fh:
            return cls.model_validate(tomllib.load(fh))


# -- the people of a simulated authority ------------------------------------------------------------------------------


@dataclass
class Staff:
    """Generated users by role, and who manages whom (so escalations reach a real person)."""

    by_role: dict[Role, list[str]] = field(default_factory=lambda: defaultdict(list))
    manager: dict[str, str | None] = field(default_factory=dict)

    def add(self, role: Role, n: int, managers: list[str] | None = None) -> None:
        for i in range(n):
            user = f"sim.{role.value}.{i + 1:04d}"
            self.by_role[role].append(user)
            self.manager[user] = managers[i % len(managers)] if managers else None

    def pick(self, role: Role, key: int) -> str:
        people = self.by_role[role]
        return people[key % len(people)]


def staff_for(cases: int) -> Staff:
    """Roughly an English authority's ratios: ~25 children per social worker, ~60 per IRO."""
    staff = Staff()
    staff.add(Role.HEAD_OF_SERVICE, max(1, cases // 5000))
    hos = staff.by_role[Role.HEAD_OF_SERVICE]
    staff.add(Role.TEAM_MANAGER, max(1, cases // 150), hos)
    staff.add(Role.SOCIAL_WORKER, max(2, cases // 25), staff.by_role[Role.TEAM_MANAGER])
    staff.add(Role.IRO_MANAGER, max(1, cases // 500), hos)
    staff.add(Role.IRO, max(2, cases // 60), staff.by_role[Role.IRO_MANAGER])
    staff.add(Role.CPC_TEAM_MANAGER, max(1, cases // 500), hos)
    staff.add(Role.CPC, max(2, cases // 60), staff.by_role[Role.CPC_TEAM_MANAGER])
    staff.add(Role.SAFEGUARDING_UNIT_MANAGER, 1, hos)
    staff.add(Role.SAFEGUARDING_UNIT, max(1, cases // 2000), staff.by_role[Role.SAFEGUARDING_UNIT_MANAGER])
    staff.add(Role.LEGAL, max(1, cases // 1000))
    return staff
