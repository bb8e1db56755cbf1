"""The CP plan + ISO case's deadlines: armed where, due when, escalated to whom (PROCEDURES §3)."""

from __future__ import annotations

from datetime import date

from machines.calendar import midway
from machines.cp_iso.machine import CpIsoState
from machines.model import CaseFile, Role
from machines.policy import Policy
from machines.spec import deadline, on_date, working_days_after, working_days_before

__all__ = ["DEADLINES", "LIVE"]

C = CpIsoState
LIVE = frozenset(s.value for s in CpIsoState if s is not C.proceedings_concluded)
# CP reviews are held in these states (the plan runs and the ISO is in force): the Guardian is invited to each.
REVIEWS_HELD = frozenset({C.iso_granted, C.discussion_pending, C.step_down_proposed, C.concurrent})


def _midway(case: CaseFile, policy: Policy) -> date | None:
    start, nxt = case.dates.get("cycle_start"), case.dates.get("next_review")
    return None if start is None or nxt is None else midway(start, nxt)


DEADLINES = [
    deadline("inform_cpc", "make the CPC aware of the ISO and the court timetable", owner=Role.SOCIAL_WORKER,
             escalate_to=Role.TEAM_MANAGER, armed_in=C.iso_granted,
             due=working_days_after("iso_date", "inform_cpc_wd")),
    deadline("three_way_discussion", "hold the 3-way discussion (SW, TM, CPC)", owner=Role.CPC,
             escalate_to=Role.CPC_TEAM_MANAGER, armed_in=C.discussion_pending,
             due=working_days_after("cpc_informed_on", "three_way_discussion_wd")),
    deadline("single_assessment", "complete the single assessment for the next review", owner=Role.SOCIAL_WORKER,
             escalate_to=Role.TEAM_MANAGER, armed_in=C.step_down_proposed,
             due=working_days_before("next_review", "single_assessment_wd_before_review"), skip_if_past=True),
    deadline("cp_review", "hold the CP review conference", owner=Role.CPC, escalate_to=Role.CPC_TEAM_MANAGER,
             armed_in={C.step_down_proposed, C.concurrent}, due=on_date("next_review")),
    deadline("midway_discussion", "hold the midway discussion (SW + CPC)", owner=Role.CPC,
             escalate_to=Role.CPC_TEAM_MANAGER, armed_in=C.concurrent, due=_midway, skip_if_past=True),
    # every CP review while the ISO is in force (§3, rev.), re-armed when the review moves; a date already past
    # when armed is due that day (README decision D8)
    deadline("guardian_invitation", "invite the Children's Guardian to the review", owner=Role.CPC,
             escalate_to=Role.CPC_TEAM_MANAGER, armed_in=REVIEWS_HELD, tracks_date=True, late_is_today=True,
             due=working_days_before("next_review", "guardian_invitation_wd_before_review")),
    deadline("twenty_six_weeks", "conclude proceedings within 26 weeks", owner=Role.LEGAL,
             escalate_to=Role.HEAD_OF_SERVICE, armed_in=LIVE, due=on_date("twenty_six_weeks"), tracks_date=True),
]  # fmt: skip
