"""Journeys through both procedures, step by step, with the values a person would enter: every manual event appears
in one, so each can be recorded through the desk's form after the steps before it (set up through the casebook).

Dates are worked by hand against PROCEDURES (each step in time for its deadline unless the journey says otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from machines.cp_iso import CpIsoRegistration
from machines.procedures import case_events
from machines.spec import Registration
from machines.supervision_order import SORegistration

D = date.fromisoformat
DISTRIBUTION = ["sw1", "iro1", "tm1", "hos1"]
SUMMARY = {"other_orders": "none", "court_wording": "engage with the plan", "plan": "sw1: weekly home visits"}
TO_FOLLOW = {**SUMMARY, "plan": "to_follow"}
PLAN = {"plan": "sw1: weekly home visits; health visitor: developmental checks"}
CRITERIA = ["started_timely", "plan_smart", "family_life_impact", "la_commitment"]
FIVE = {"why_unsuccessful": "partial engagement", "ongoing_concerns": "neglect", "proposed_plans": "twelve months",
        "service_commitments": "weekly visits", "expected_outcomes": "sustained change"}  # fmt: skip


@dataclass(frozen=True)
class Step:
    event: str
    actor: str
    on: date
    values: dict[str, Any] = field(default_factory=dict)


def so(ref: str) -> Registration:
    return SORegistration(ref, f"CHILD-{ref}", D("2026-01-05"), notified_on=D("2026-01-06"), social_worker="sw1")


def cp(ref: str) -> Registration:
    return CpIsoRegistration(ref, f"CHILD-{ref}", D("2026-03-02"), D("2026-05-20"), last_review=D("2026-02-20"),
                             issued=D("2026-02-16"), social_worker="sw1")  # fmt: skip


START = [
    Step("allocate_iro", "su1", D("2026-01-07"), {"iro": "iro1"}),
    Step("record_case_summary", "sw1", D("2026-01-08"), SUMMARY),
    Step("record_first_cin_meeting", "sw1", D("2026-01-20")),
]
# the plan to advise, assist and befriend follows the first CIN meeting
PLAN_TO_FOLLOW = [
    Step("allocate_iro", "su1", D("2026-01-07"), {"iro": "iro1"}),
    Step("record_case_summary", "sw1", D("2026-01-08"), TO_FOLLOW),
    Step("record_first_cin_meeting", "sw1", D("2026-01-20")),
    Step("record_support_plan", "sw1", D("2026-01-22"), PLAN),
]
EXTENSION = [
    *START,
    Step("pass_quality_check", "iro1", D("2026-01-27"), {"criteria_met": CRITERIA}),
    Step("schedule_review", "iro1", D("2026-09-01"), {"review_on": D("2026-09-21")}),
    Step("hold_review", "iro1", D("2026-09-21"), {"outcome": "inconclusive"}),
    Step("issue_minutes", "iro1", D("2026-09-25"), {"distribution": DISTRIBUTION}),
    Step("record_progress", "sw1", D("2026-09-28")),
    Step("hold_reconvened_review", "iro1", D("2026-10-12"), {"outcome": "extend", "hos_attended": False}),
    Step("issue_minutes", "iro1", D("2026-10-19"), {"distribution": DISTRIBUTION}),
    Step("decide_seek_extension", "hos1", D("2026-10-26"), {"team_manager": "tm1", **FIVE}),
    Step("approve_application", "legal1", D("2026-10-28")),
    Step("file_application", "legal1", D("2026-11-02"), {"note": "filed with the family court"}),
    Step("court_extends", "legal1", D("2026-11-16"), {"new_expiry": D("2027-07-04")}),
]
STEP_DOWN = [
    *START,
    Step(
        "fail_quality_check",
        "iro1",
        D("2026-01-27"),
        {"criteria_not_met": ["plan_smart"], "findings": "actions are not SMART"},
    ),
    Step("confirm_remedial_action", "tm1", D("2026-01-29"), {"note": "actions re-agreed"}),
    Step("schedule_review", "iro1", D("2026-09-01"), {"review_on": D("2026-09-21")}),
    Step("hold_review", "iro1", D("2026-09-21"), {"outcome": "step_down"}),
    Step("issue_minutes", "iro1", D("2026-09-28"), {"distribution": DISTRIBUTION}),
    Step("decide_step_down", "hos1", D("2026-10-05"), {"team_manager": "tm1"}),
]
DECLINED = [*EXTENSION[:11], Step("decline_application", "legal1", D("2026-10-28"))]
REFUSED = [*EXTENSION[:13], Step("court_refuses", "tm1", D("2026-11-16"))]
DISCHARGED = [Step("discharge", "legal1", D("2026-01-10"))]
CP_ISO = [
    Step("inform_cpc", "sw1", D("2026-03-03")),
    Step(
        "hold_three_way_discussion",
        "cpc1",
        D("2026-03-05"),
        {"decision": "step_down", "case_note": "CN-1", "participants": ["sw1", "tm1"]},
    ),
    Step("complete_single_assessment", "sw1", D("2026-05-06")),
    Step("invite_guardian", "cpc1", D("2026-05-07")),
    Step("record_guardian_contact", "cpc1", D("2026-05-11")),
    Step("hold_cp_review", "cpc1", D("2026-05-20"), {"outcome": "continue_plan", "next_review": D("2026-10-20")}),
    Step("hold_midway_discussion", "cpc1", D("2026-07-20"), {"decision": "continue"}),
    Step("extend_proceedings", "legal1", D("2026-08-01"), {"new_date": D("2026-09-30")}),
    Step("raise_disagreement", "tm1", D("2026-08-05"), {"note": "the ISO gives enough oversight"}),
    Step("record_final_hearing", "legal1", D("2026-09-01"), {"outcome": "care_order"}),
]
# a leaver's cases handed over (the IRO's manager hands the IRO's part on, the team manager the social worker's)
HANDOVER = [*START[:1], Step("change_iro", "irom1", D("2026-01-08"), {"iro": "iro2"}),
            Step("change_social_worker", "tm1", D("2026-01-09"), {"social_worker": "sw2"})]  # fmt: skip
JOURNEYS = {"so-extension": (so, EXTENSION), "so-step-down": (so, STEP_DOWN), "so-declined": (so, DECLINED),
            "so-refused": (so, REFUSED), "so-discharged": (so, DISCHARGED),
            "so-plan-to-follow": (so, PLAN_TO_FOLLOW), "so-handover": (so, HANDOVER), "cp-iso": (cp, CP_ISO)}  # fmt: skip


def first_appearance() -> dict[str, tuple[str, int]]:
    """Each event's first journey and step number."""
    out: dict[str, tuple[str, int]] = {}
    for name, (_, steps) in JOURNEYS.items():
        for i, step in enumerate(steps):
            out.setdefault(step.event, (name, i))
    return out


def manual_events() -> list[str]:
    """Every event a person may record, from the specs (a new one fails the test until a journey has it)."""
    return sorted({spec.name for _, spec in case_events()})
