"""The Supervision Order's deadlines: armed where, due when, escalated to whom (PROCEDURES §2)."""

from __future__ import annotations

from datetime import date, timedelta

from machines.calendar import two_weeks_after
from machines.model import CaseFile, Role
from machines.policy import Policy
from machines.spec import Raised, deadline, on_date, working_days_after, working_days_before
from machines.supervision_order.machine import SOState

__all__ = ["DEADLINES", "EXTENSION_SOUGHT", "LIVE", "latest_due"]

S = SOState
LIVE = frozenset(s.value for s in SOState if s not in (S.expired, S.discharged))
# States in which an extension is being sought: expiry there is an escalation too (§2).
EXTENSION_SOUGHT = frozenset({S.legal_gateway, S.extension_application, S.extension_pending})


def latest_due(case: CaseFile) -> date | None:
    """No deadline falls on or after the expiry: one that would is pulled back to the day before (§2, rev.; R3)."""
    return case.dates["expiry"] - timedelta(days=1)


def _two_weeks_after_meeting(case: CaseFile, policy: Policy) -> date | None:
    meeting = case.dates.get("last_meeting_on")
    return None if meeting is None else two_weeks_after(meeting)


def _review_missed(case: CaseFile, on: date) -> None:
    # from now on a late review may be scheduled, up to the day before expiry (never a dead end)
    case.dates["review_missed_on"] = on


def _expired_seeking_extension(case: CaseFile) -> Raised | None:
    # "An expiry with an extension still pending is also an escalation" (§2)
    if case.state in EXTENSION_SOUGHT:
        return Raised("expired_with_extension_pending", Role.HEAD_OF_SERVICE)
    return None


DEADLINES = [
    deadline("notification", "tell the Safeguarding Unit the order was made", owner=Role.SOCIAL_WORKER,
             escalate_to=Role.TEAM_MANAGER, armed_in=(), at_opening=True,
             due=working_days_after("order_date", "notification_wd")),
    deadline("iro_allocation", "allocate a named IRO", owner=Role.SAFEGUARDING_UNIT,
             escalate_to=Role.SAFEGUARDING_UNIT_MANAGER, armed_in=S.registered,
             due=working_days_after("notified_on", "iro_allocation_wd")),
    deadline("case_summary", "rewrite the case summary", owner=Role.SOCIAL_WORKER, escalate_to=Role.TEAM_MANAGER,
             armed_in=S.registered, alive_in=LIVE, due=working_days_after("notified_on", "case_summary_wd")),
    deadline("first_cin_meeting", "hold the first Child-in-Need meeting", owner=Role.SOCIAL_WORKER,
             escalate_to=Role.TEAM_MANAGER, armed_in=S.awaiting_first_cin,
             due=working_days_after("order_date", "first_cin_meeting_wd")),
    deadline("support_plan", "record the plan to advise, assist and befriend (tasks and owners)",
             owner=Role.SOCIAL_WORKER, escalate_to=Role.TEAM_MANAGER, armed_in=LIVE, tracks_date=True,
             due=working_days_after("support_plan_from", "support_plan_wd")),
    deadline("quality_check", "quality-check the plan and the first CIN meeting", owner=Role.IRO,
             escalate_to=Role.IRO_MANAGER, armed_in=S.quality_check_due,
             due=working_days_after("first_cin_meeting_on", "quality_check_wd")),
    deadline("management_response", "confirm the agreed actions are fully applied", owner=Role.TEAM_MANAGER,
             escalate_to=Role.HEAD_OF_SERVICE, armed_in=S.quality_escalated,
             due=working_days_after("quality_failed_on", "management_response_wd")),
    deadline("month9_review", "hold the formal review of the Support Plan", owner=Role.IRO,
             escalate_to=Role.IRO_MANAGER, armed_in=S.plan_in_progress,
             alive_in={S.plan_in_progress, S.review_scheduled}, due=on_date("review_due"),
             shown_from=on_date("review_shown_from"), when_missed=_review_missed),
    # each meeting its own minutes, 10 WD after it (seed: "within 10 working days", not a default), owed until issued
    deadline("minutes", "issue the minutes of the review", owner=Role.IRO, escalate_to=Role.IRO_MANAGER,
             armed_in=LIVE, tracks_date=True, due=working_days_after("review_held_on", 10)),
    deadline("reconvened_minutes", "issue the minutes of the reconvened review", owner=Role.IRO,
             escalate_to=Role.IRO_MANAGER, armed_in=LIVE, tracks_date=True,
             due=working_days_after("reconvened_on", 10)),
    deadline("progress_check", "show progress two weeks after the review", owner=Role.SOCIAL_WORKER,
             escalate_to=Role.HEAD_OF_SERVICE, armed_in=S.urgent_review, due=_two_weeks_after_meeting,
             timer="progress_check"),
    deadline("reconvene", "reconvene and conclude the review", owner=Role.IRO, escalate_to=Role.HEAD_OF_SERVICE,
             armed_in=S.urgent_review, alive_in={S.urgent_review, S.escalated_to_hos, S.reconvene_pending},
             due=on_date("reconvene_by")),
    deadline("hos_decision", "decide with the Team Manager: step down or seek an extension",
             owner=Role.HEAD_OF_SERVICE, escalate_to=Role.HEAD_OF_SERVICE, armed_in=S.hos_decision_pending,
             due=working_days_after("minutes_issued_on", "hos_decision_wd")),
    deadline("legal_gateway", "take the evidence and minutes to Legal Gateway", owner=Role.LEGAL,
             escalate_to=Role.HEAD_OF_SERVICE, armed_in=S.legal_gateway,
             due=working_days_after("extension_sought_on", "legal_gateway_wd")),
    deadline("application_filing", "file the application to extend", owner=Role.LEGAL,
             escalate_to=Role.HEAD_OF_SERVICE, armed_in=S.extension_application,
             due=working_days_before("expiry", "application_filing_wd_before_expiry")),
    deadline("order_expiry", "the order expires", owner=Role.TEAM_MANAGER, escalate_to=Role.HEAD_OF_SERVICE,
             armed_in=LIVE, due=on_date("expiry"), timer="order_expiry", tracks_date=True,
             passing_is_expected=True, passing_raises=_expired_seeking_extension),
]  # fmt: skip
