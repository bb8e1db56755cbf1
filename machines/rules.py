"""Which state arms which deadline, due when, met by what, escalated to whom; and who may fire which event.

This module is the one place to find a rule of PROCEDURES §2–5 that is about *time* or *people*. Each deadline
rule is one row of ``DEADLINE_RULES``; each role rule one row of ``EVENT_ROLES``.

>>> from datetime import date
>>> from machines.model import CaseFile, CaseKind
>>> from machines.policy import DEFAULT_POLICY
>>> case = CaseFile("SO-1", CaseKind.SUPERVISION_ORDER, "registered", "C1", "1",
...                 dates={"order_date": date(2026, 1, 15), "notified_on": date(2026, 1, 16)})
>>> RULES["iro_allocation"].due(case, DEFAULT_POLICY)
datetime.date(2026, 1, 23)
>>> RULES["first_cin_meeting"].due(case, DEFAULT_POLICY)
datetime.date(2026, 2, 5)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from machines.calendar import add_months, midway, two_weeks_after
from machines.cp_iso import CpIsoState
from machines.escalation import EscalationState
from machines.model import CaseFile, Role
from machines.policy import Policy
from machines.supervision_order import SOState

__all__ = [
    "DEADLINE_RULES",
    "EVENT_ROLES",
    "PERSONAL_EVENTS",
    "RULES",
    "TIMER_EVENTS",
    "DeadlineRule",
]

Due = Callable[[CaseFile, Policy], "date | None"]

SO_LIVE = frozenset(s.value for s in SOState) - {SOState.expired, SOState.discharged}
CP_LIVE = frozenset(s.value for s in CpIsoState) - {CpIsoState.proceedings_concluded}
S = SOState
C = CpIsoState


@dataclass(frozen=True, slots=True)
class DeadlineRule:
    kind: str
    what: str  # what must happen by the due date, in the domain's words
    owner: Role  # who must act (the worklist's role)
    escalate_to: Role  # who hears of it when it is missed
    arms_in: frozenset[str]  # entering one of these states arms it
    alive_in: frozenset[str]  # it stays open only while the case is in one of these
    met_by: frozenset[str]  # events that meet it
    due: Due
    timer: str | None = None  # the event its passing fires on the case
    tracks_date: bool = False  # follows a case date that can move (expiry, 26-week date): re-armed when it does
    skip_if_past: bool = False  # not armed when its date has already passed on arming
    passing_is_expected: bool = False  # its passing is the order running its course, not a miss
    shown_from: Due | None = None  # the worklist shows it from this date, however far off it is


def _wd(case: CaseFile, key: str, n: int, policy: Policy) -> date | None:
    anchor = case.dates.get(key)
    return None if anchor is None else policy.calendar.add_working_days(anchor, n)


def _date(key: str) -> Due:
    return lambda case, policy: case.dates.get(key)


def _review_shown_from(case: CaseFile, policy: Policy) -> date | None:
    # "the worklist shows it from the start of month 8": two months before the day after the due date.
    due = case.dates.get("review_due")
    return None if due is None else add_months(due + timedelta(days=1), -2)


def _midway(case: CaseFile, policy: Policy) -> date | None:
    start, nxt = case.dates.get("cycle_start"), case.dates.get("next_review")
    return None if start is None or nxt is None else midway(start, nxt)


def _before_review(n: Callable[[Policy], int]) -> Due:
    def due(case: CaseFile, policy: Policy) -> date | None:
        nxt = case.dates.get("next_review")
        return None if nxt is None else policy.calendar.subtract_working_days(nxt, n(policy))

    return due


def _fs(*states: str) -> frozenset[str]:
    return frozenset(states)


# fmt: off
DEADLINE_RULES: tuple[DeadlineRule, ...] = (
    # -- Supervision Order (§2) ------------------------------------------------------------------------------------
    DeadlineRule(
        "iro_allocation", "allocate a named IRO", Role.SAFEGUARDING_UNIT, Role.SAFEGUARDING_UNIT,
        _fs(S.registered), _fs(S.registered), _fs("allocate_iro"),
        lambda c, p: _wd(c, "notified_on", p.iro_allocation_wd, p),
    ),
    DeadlineRule(
        "case_summary", "rewrite the case summary", Role.SOCIAL_WORKER, Role.TEAM_MANAGER,
        _fs(S.registered), SO_LIVE, _fs("record_case_summary"),
        lambda c, p: _wd(c, "notified_on", p.case_summary_wd, p),
    ),
    DeadlineRule(
        "first_cin_meeting", "hold the first Child-in-Need meeting", Role.SOCIAL_WORKER, Role.TEAM_MANAGER,
        _fs(S.awaiting_first_cin), _fs(S.awaiting_first_cin), _fs("record_first_cin_meeting"),
        lambda c, p: _wd(c, "order_date", p.first_cin_meeting_wd, p),
    ),
    DeadlineRule(
        "quality_check", "quality-check the plan and the first CIN meeting", Role.IRO, Role.IRO_MANAGER,
        _fs(S.quality_check_due), _fs(S.quality_check_due), _fs("pass_quality_check", "fail_quality_check"),
        lambda c, p: _wd(c, "first_cin_meeting_on", p.quality_check_wd, p),
    ),
    DeadlineRule(
        "management_response", "confirm the agreed actions are fully applied", Role.TEAM_MANAGER,
        Role.HEAD_OF_SERVICE, _fs(S.quality_escalated), _fs(S.quality_escalated), _fs("confirm_remedial_action"),
        lambda c, p: _wd(c, "quality_failed_on", p.management_response_wd, p),
    ),
    DeadlineRule(
        "month9_review", "hold the formal review of the Support Plan", Role.IRO, Role.IRO_MANAGER,
        _fs(S.plan_in_progress), _fs(S.plan_in_progress, S.review_scheduled), _fs("hold_review"),
        _date("review_due"), shown_from=_review_shown_from,
    ),
    DeadlineRule(
        "minutes", "issue the minutes of the review", Role.IRO, Role.IRO_MANAGER,
        _fs(S.urgent_review, S.minutes_pending),
        _fs(S.urgent_review, S.escalated_to_hos, S.reconvene_pending, S.minutes_pending), _fs("issue_minutes"),
        lambda c, p: _wd(c, "last_meeting_on", 10, p),  # seed: "within 10 working days" (not a default)
    ),
    DeadlineRule(
        "progress_check", "show progress two weeks after the review", Role.SOCIAL_WORKER, Role.HEAD_OF_SERVICE,
        _fs(S.urgent_review), _fs(S.urgent_review), _fs("record_progress"),
        lambda c, p: None if "last_meeting_on" not in c.dates else two_weeks_after(c.dates["last_meeting_on"]),
        timer="progress_check",
    ),
    DeadlineRule(
        "reconvene", "reconvene and conclude the review", Role.IRO, Role.HEAD_OF_SERVICE,
        _fs(S.urgent_review), _fs(S.urgent_review, S.escalated_to_hos, S.reconvene_pending),
        _fs("hold_reconvened_review"), _date("reconvene_by"),
    ),
    DeadlineRule(
        "hos_decision", "decide: step down or seek an extension", Role.HEAD_OF_SERVICE, Role.HEAD_OF_SERVICE,
        _fs(S.hos_decision_pending), _fs(S.hos_decision_pending), _fs("decide_step_down", "decide_seek_extension"),
        lambda c, p: _wd(c, "minutes_issued_on", p.hos_decision_wd, p),
    ),
    DeadlineRule(
        "legal_gateway", "take the evidence and minutes to Legal Gateway", Role.LEGAL, Role.HEAD_OF_SERVICE,
        _fs(S.legal_gateway), _fs(S.legal_gateway), _fs("approve_application", "decline_application"),
        lambda c, p: _wd(c, "extension_sought_on", p.legal_gateway_wd, p),
    ),
    DeadlineRule(
        "application_filing", "file the application to extend", Role.LEGAL, Role.HEAD_OF_SERVICE,
        _fs(S.extension_application), _fs(S.extension_application), _fs("file_application"),
        lambda c, p: _wd(c, "expiry", -p.application_filing_wd_before_expiry, p),
    ),
    DeadlineRule(
        "order_expiry", "the order expires", Role.TEAM_MANAGER, Role.HEAD_OF_SERVICE,
        SO_LIVE, SO_LIVE, frozenset(), _date("expiry"),
        timer="order_expiry", tracks_date=True, passing_is_expected=True,
    ),
    # -- CP plan + ISO (§3) ----------------------------------------------------------------------------------------
    DeadlineRule(
        "inform_cpc", "make the CPC aware of the ISO and the court timetable", Role.SOCIAL_WORKER,
        Role.TEAM_MANAGER, _fs(C.iso_granted), _fs(C.iso_granted), _fs("inform_cpc"),
        lambda c, p: _wd(c, "iso_date", p.inform_cpc_wd, p),
    ),
    DeadlineRule(
        "three_way_discussion", "hold the 3-way discussion (SW, TM, CPC)", Role.CPC, Role.CPC_TEAM_MANAGER,
        _fs(C.discussion_pending), _fs(C.discussion_pending), _fs("hold_three_way_discussion"),
        lambda c, p: _wd(c, "cpc_informed_on", p.three_way_discussion_wd, p),
    ),
    DeadlineRule(
        "single_assessment", "complete the single assessment for the next review", Role.SOCIAL_WORKER,
        Role.TEAM_MANAGER, _fs(C.step_down_proposed), _fs(C.step_down_proposed), _fs("complete_single_assessment"),
        _before_review(lambda p: p.single_assessment_wd_before_review), skip_if_past=True,
    ),
    DeadlineRule(
        "cp_review", "hold the CP review conference", Role.CPC, Role.CPC_TEAM_MANAGER,
        _fs(C.step_down_proposed, C.concurrent), _fs(C.step_down_proposed, C.concurrent), _fs("hold_cp_review"),
        _date("next_review"),
    ),
    DeadlineRule(
        "midway_discussion", "hold the midway discussion (SW + CPC)", Role.CPC, Role.CPC_TEAM_MANAGER,
        _fs(C.concurrent), _fs(C.concurrent), _fs("hold_midway_discussion"), _midway, skip_if_past=True,
    ),
    DeadlineRule(
        "guardian_invitation", "invite the Children's Guardian to the review", Role.CPC, Role.CPC_TEAM_MANAGER,
        _fs(C.concurrent), _fs(C.concurrent), _fs("invite_guardian"),
        _before_review(lambda p: p.guardian_invitation_wd_before_review), skip_if_past=True,
    ),
    DeadlineRule(
        "twenty_six_weeks", "conclude proceedings within 26 weeks", Role.LEGAL, Role.HEAD_OF_SERVICE,
        CP_LIVE, CP_LIVE, _fs("record_final_hearing"), _date("twenty_six_weeks"), tracks_date=True,
    ),
    # -- Escalations (§4): armed per escalation, owned by whoever it is raised to -----------------------------------
    DeadlineRule(
        "escalation_acknowledgement", "acknowledge the escalation", Role.SYSTEM, Role.SYSTEM,
        _fs(EscalationState.raised), _fs(EscalationState.raised), _fs("acknowledge"),
        lambda c, p: None, timer="escalate",
    ),
    DeadlineRule(
        "escalation_resolution", "resolve the escalation", Role.SYSTEM, Role.SYSTEM,
        _fs(EscalationState.raised, EscalationState.escalated),
        _fs(EscalationState.raised, EscalationState.acknowledged, EscalationState.escalated), _fs("resolve"),
        lambda c, p: None, timer="escalate",
    ),
)
# fmt: on

RULES: dict[str, DeadlineRule] = {r.kind: r for r in DEADLINE_RULES}
TIMER_EVENTS = frozenset(r.timer for r in DEADLINE_RULES if r.timer)


# -- who may fire what (§5) -------------------------------------------------------------------------------------------
SW = (Role.SOCIAL_WORKER, Role.TEAM_MANAGER)
IRO = (Role.IRO, Role.IRO_MANAGER)
CPC = (Role.CPC, Role.CPC_TEAM_MANAGER)
LEGAL = (Role.LEGAL,)
COURT = (Role.LEGAL, Role.TEAM_MANAGER)  # court outcomes may also be recorded by a team manager

EVENT_ROLES: dict[str, tuple[Role, ...]] = {
    "register_so": SW,
    "register_cp_iso": (*CPC, *SW),
    "record_case_summary": SW,
    "record_first_cin_meeting": SW,
    "inform_cpc": SW,
    "complete_single_assessment": SW,
    "record_progress": SW,
    "allocate_iro": (Role.SAFEGUARDING_UNIT, Role.IRO_MANAGER),
    "pass_quality_check": IRO,
    "fail_quality_check": IRO,
    "schedule_review": IRO,
    "hold_review": IRO,
    "hold_reconvened_review": IRO,
    "issue_minutes": IRO,
    "confirm_remedial_action": (Role.TEAM_MANAGER, Role.HEAD_OF_SERVICE),
    "decide_step_down": (Role.HEAD_OF_SERVICE,),
    "decide_seek_extension": (Role.HEAD_OF_SERVICE,),
    "approve_application": LEGAL,
    "decline_application": LEGAL,
    "file_application": LEGAL,
    "court_extends": COURT,
    "court_refuses": COURT,
    "discharge": COURT,
    "record_final_hearing": COURT,
    "extend_proceedings": COURT,
    "hold_three_way_discussion": CPC,
    "hold_midway_discussion": CPC,
    "hold_cp_review": CPC,
    "invite_guardian": CPC,
    # a professional disagreement may be raised by either side (Bradford: SW's TM ↔ CPC TM first)
    "raise_disagreement": (*SW, *CPC),
}

# Events that belong to a named person: that person, or their manager, must fire them.
PERSONAL_EVENTS: dict[str, str] = {
    **{e: "iro" for e in ("pass_quality_check", "fail_quality_check", "schedule_review", "hold_review",
                          "hold_reconvened_review", "issue_minutes")},
    **{e: "social_worker" for e in ("record_case_summary", "record_first_cin_meeting", "inform_cpc",
                                    "complete_single_assessment", "record_progress")},
}  # fmt: skip
