"""The Supervision Order's states and machine, with its guards and validators (PROCEDURES §2).

States are a ``StrEnum`` shared with the database column; events are verbs. Validators raise ``Refused``
with a message that names the rule; guards choose between transitions of one event.

>>> sm = SupervisionOrderMachine(model=CaseState(SOState.review_scheduled))
>>> sm.send("hold_review", fields={"outcome": "inconclusive"})
>>> sm.model.state
<SOState.urgent_review: 'urgent_review'>
"""

from __future__ import annotations

from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from statemachine import StateMachine
from statemachine.states import States

from machines.calendar import extension_limit
from machines.errors import Refused
from machines.model import CaseFile, Directory, Person, Role
from machines.policy import Policy

__all__ = [
    "FIVE_QUESTIONS",
    "QUALITY_CRITERIA",
    "CaseState",
    "SOState",
    "SupervisionOrderMachine",
    "minuted_meeting",
    "outstanding_meetings",
]


class SOState(StrEnum):
    registered = "registered"
    awaiting_first_cin = "awaiting_first_cin"
    quality_check_due = "quality_check_due"
    quality_escalated = "quality_escalated"
    plan_in_progress = "plan_in_progress"
    review_scheduled = "review_scheduled"
    urgent_review = "urgent_review"
    escalated_to_hos = "escalated_to_hos"
    reconvene_pending = "reconvene_pending"
    minutes_pending = "minutes_pending"
    hos_decision_pending = "hos_decision_pending"
    legal_gateway = "legal_gateway"
    extension_application = "extension_application"
    extension_pending = "extension_pending"
    stepping_down = "stepping_down"
    expired = "expired"
    discharged = "discharged"


class CaseState:
    """The minimal model a machine runs on: just the state (restoring from it fires no entry action)."""

    __slots__ = ("internal", "state")

    def __init__(self, state: StrEnum) -> None:
        self.state = state
        self.internal = False  # whether the last transition taken was internal (a self-transition with no exit)


# The five questions the Head of Service must answer before going back to Legal Gateway (seed §2).
FIVE_QUESTIONS = {
    "why_unsuccessful": "why the Supervision Order has been unsuccessful in addressing the concerns",
    "ongoing_concerns": "the ongoing concerns that reach threshold",
    "proposed_plans": "the nature of the proposed plans",
    "service_commitments": "the service commitments proposed",
    "expected_outcomes": "the expected outcomes of a further order",
}
# The IRO's quality check (seed §1 and §2): four criteria, each confirmed on a pass, the unmet ones named on a fail.
QUALITY_CRITERIA = {
    "started_timely": "the intervention has started in a timely way",
    "plan_smart": "planning and actions are clear, SMART and consistent with the family's needs",
    "family_life_impact": "the impact on family life has been considered",
    "la_commitment": "the Local Authority's commitment to the plan is kept, in line with the court's expectations",
}
REVIEW_IN_MONTH = (
    "the review must be held during month {month} of the order: from {start} to {due} "
    "(no later than {due}, the end of month {month})"
)
REVIEW_BY = "the review must be held no later than {due} (the start of the last quarter of the extended period)"
LATE_REVIEW = (
    "the review was missed; a late review must be held before the order expires on {expiry}: no later than {last}"
)
NO_REVIEW = "no review is due in this period: it is under one whole month (the order ends on {expiry})"
HOS_MUST_ATTEND = (
    "the Head of Service must attend the reconvened meeting after no progress at two weeks (hos_attended=true)"
)
EXTENSION_PAST_LIMIT_PUBLIC = (
    "an extension may not run past the end of month 36 nor past the day before the 18th birthday"
)
DISTRIBUTION_INCOMPLETE = (
    "minutes distribution must include the participants, the Team Manager and the Head of Service: {missing}"
)
UNKNOWN_AGENDA_ITEM = "issue_minutes: agenda: {item!r} is not an item of the IRO Agenda ({items})"
NO_MINUTES_OUTSTANDING = "issue_minutes: no meeting's minutes are outstanding"
NO_SUCH_MEETING = "issue_minutes: no minutes are outstanding for a meeting on {on} (outstanding: {outstanding})"
CRITERIA_UNCONFIRMED = "pass_quality_check: every criterion must be confirmed: missing {missing}"
EXTENSION_NOT_LATER = "the new expiry {new} must be later than the current expiry {current}"
EXTENSION_PAST_LIMIT = "an extension may not run past {limit} (end of month 36, CA89 Sch 3 para 6(4), and the day before the 18th birthday)"

_ = States.from_enum(
    SOState,
    initial=SOState.registered,
    final=[SOState.expired, SOState.discharged],
    use_enum_instance=True,
)
_LIVE = [s for s in _ if not s.final]
_MINUTES_CHECKS = ["minutes_for_a_meeting", "agenda_known", "distribution_complete"]


def outstanding_meetings(case: CaseFile) -> list[dict[str, Any]]:
    """The meetings (reviews, reconvened reviews) held whose minutes have not been issued, oldest first."""
    return [m for m in case.details.get("meetings", []) if "minuted_on" not in m]


def minuted_meeting(case: CaseFile, fields: dict[str, Any]) -> dict[str, Any] | None:
    """The meeting ``issue_minutes`` minutes: the one held on ``meeting_on``, else the latest still outstanding."""
    outstanding = outstanding_meetings(case)
    wanted: date | None = fields.get("meeting_on")
    if wanted is not None:
        outstanding = [m for m in outstanding if m["on"] == wanted.isoformat()]
    return outstanding[-1] if outstanding else None


class SupervisionOrderMachine(StateMachine):
    """Supervision Order: from notification to step-down, extension, expiry or discharge."""

    states = _

    allocate_iro = _.registered.to(_.awaiting_first_cin)
    record_first_cin_meeting = _.awaiting_first_cin.to(_.quality_check_due)
    pass_quality_check = _.quality_check_due.to(_.plan_in_progress, validators="every_criterion_confirmed")
    fail_quality_check = _.quality_check_due.to(_.quality_escalated)
    confirm_remedial_action = _.quality_escalated.to(_.plan_in_progress)
    schedule_review = _.plan_in_progress.to(_.review_scheduled, validators="review_in_time")
    hold_review = _.review_scheduled.to(_.minutes_pending, cond="outcome_decisive") | _.review_scheduled.to(
        _.urgent_review, unless="outcome_decisive"
    )
    record_progress = _.urgent_review.to(_.reconvene_pending)
    progress_check = _.urgent_review.to(_.escalated_to_hos)  # timer: no progress two weeks after the meeting
    hold_reconvened_review = _.escalated_to_hos.to(_.minutes_pending, validators="hos_attended") | (
        _.reconvene_pending.to(_.minutes_pending)
    )
    # The minutes of the meeting that concluded the review move the case on; any other meeting's minutes (the
    # urgent review's, a late one's) are recorded where the case is.
    issue_minutes = _.minutes_pending.to(_.hos_decision_pending, cond="concludes", validators=_MINUTES_CHECKS) | (
        _.minutes_pending.to.itself(internal=True, unless="concludes", validators=_MINUTES_CHECKS)
    )
    decide_step_down = _.hos_decision_pending.to(_.stepping_down)
    decide_seek_extension = _.hos_decision_pending.to(_.legal_gateway)
    approve_application = _.legal_gateway.to(_.extension_application)
    decline_application = _.legal_gateway.to(_.stepping_down)
    file_application = _.extension_application.to(_.extension_pending)
    court_extends = _.extension_pending.to(_.plan_in_progress, validators="extension_within_limits")
    court_refuses = _.extension_pending.to(_.stepping_down)

    # Any live state: the case summary and the support plan are written whenever they are ready; the order ends by
    # time or by the court.
    record_case_summary = _.registered.to.itself(internal=True)
    record_support_plan = _.registered.to.itself(internal=True)
    change_social_worker = _.registered.to.itself(internal=True)  # a leaver's cases are handed over
    change_iro = _.awaiting_first_cin.to.itself(internal=True)  # once there is an IRO (allocate_iro names the first)
    order_expiry = _.registered.to(_.expired)
    discharge = _.registered.to(_.discharged)
    for _state in _LIVE[1:]:
        change_social_worker |= _state.to.itself(internal=True)
        if _state is not _.awaiting_first_cin:
            change_iro |= _state.to.itself(internal=True)
        record_case_summary |= _state.to.itself(internal=True)
        record_support_plan |= _state.to.itself(internal=True)
        order_expiry |= _state.to(_.expired)
        discharge |= _state.to(_.discharged)
    for _state in _LIVE:
        if _state is not _.minutes_pending:
            issue_minutes |= _state.to.itself(internal=True, validators=_MINUTES_CHECKS)
    del _state

    def after_transition(self, transition: Any) -> None:
        # the casework needs to know: an internal transition keeps the state's deadlines as they are
        self.model.internal = transition.internal

    # -- guards -------------------------------------------------------------------------------------------------

    def outcome_decisive(self, fields: dict[str, Any]) -> bool:
        """A review that reached a clear judgement (step down or extend) goes to minutes; else urgent review."""
        return fields.get("outcome") in ("step_down", "extend")

    def concludes(self, case: CaseFile, fields: dict[str, Any]) -> bool:
        """The minutes are of the meeting that concluded the review (the one that brought the case here)."""
        meeting = minuted_meeting(case, fields)
        last = case.dates.get("last_meeting_on")
        return meeting is not None and last is not None and meeting["on"] == last.isoformat()

    # -- validators ---------------------------------------------------------------------------------------------

    def every_criterion_confirmed(self, fields: dict[str, Any]) -> None:
        missing = [f"{k} ({v})" for k, v in QUALITY_CRITERIA.items() if k not in fields["criteria_met"]]
        if missing:
            raise Refused(CRITERIA_UNCONFIRMED.format(missing="; ".join(missing)))

    def review_in_time(self, case: CaseFile, fields: dict[str, Any], on: date) -> None:
        """During the review month (month 9 of 12), by the extended period's review date; once that was missed, any
        day before the order expires: a late review is still a review, never a dead end (PROCEDURES §2, rev.)."""
        review_on: date = fields["review_on"]
        if review_on < on:
            raise Refused(f"review_on {review_on} is before the day it is scheduled ({on})")
        expiry = case.dates["expiry"]
        due = case.dates.get("review_due")
        if "review_missed_on" in case.dates:
            last = expiry - timedelta(days=1)
            if review_on > last:
                raise Refused(LATE_REVIEW.format(expiry=expiry, last=last))
            return
        if due is None:
            raise Refused(NO_REVIEW.format(expiry=expiry))
        start = case.dates.get("review_window_start")
        if start is None:
            if review_on > due:
                raise Refused(REVIEW_BY.format(due=due))
        elif not start <= review_on <= due:
            month = case.details.get("review_month", 9)
            raise Refused(REVIEW_IN_MONTH.format(month=month, start=start, due=due))

    def hos_attended(self, fields: dict[str, Any]) -> None:
        if fields.get("hos_attended") is not True:
            raise Refused(HOS_MUST_ATTEND)

    def minutes_for_a_meeting(self, case: CaseFile, fields: dict[str, Any]) -> None:
        if minuted_meeting(case, fields) is not None:
            return
        outstanding = ", ".join(m["on"] for m in outstanding_meetings(case)) or "none"
        if "meeting_on" in fields:
            raise Refused(NO_SUCH_MEETING.format(on=fields["meeting_on"], outstanding=outstanding))
        raise Refused(NO_MINUTES_OUTSTANDING)

    def agenda_known(self, fields: dict[str, Any], policy: Policy) -> None:
        for item in fields.get("agenda", ()):
            if item not in policy.review_agenda:
                raise Refused(UNKNOWN_AGENDA_ITEM.format(item=item, items=", ".join(policy.review_agenda)))

    def distribution_complete(self, case: CaseFile, fields: dict[str, Any], people: Directory, actor: Person) -> None:
        # the minutes' author counts as a recipient without being listed (PROCEDURES §2, rev.)
        names: list[str] = [*fields["distribution"], actor.user]
        roles = {p.role for p in (people.get(n) for n in names) if p is not None}
        missing = []
        # "the Team Manager" is the case's: the allocated social worker's manager where the directory knows them
        social_worker = people.get(case.people.get("social_worker") or "")
        team_manager = people.get(social_worker.manager) if social_worker and social_worker.manager else None
        if team_manager is not None and team_manager.role is Role.TEAM_MANAGER:
            if team_manager.user not in names:
                missing.append(f"{team_manager.user} (team_manager)")
        elif Role.TEAM_MANAGER not in roles:
            missing.append("a team_manager")
        if Role.HEAD_OF_SERVICE not in roles:
            missing.append("a head_of_service")
        for role in ("social_worker", "iro"):  # the participants the case knows of
            user = case.people.get(role)
            if user and user not in names:
                missing.append(f"{user} ({role})")
        if missing:
            raise Refused(DISTRIBUTION_INCOMPLETE.format(missing=", ".join(missing)))

    def extension_within_limits(self, case: CaseFile, fields: dict[str, Any]) -> None:
        new: date = fields["new_expiry"]
        current = case.dates["expiry"]
        if new <= current:
            raise Refused(EXTENSION_NOT_LATER.format(new=new, current=current))
        limit = extension_limit(case.dates["order_date"], case.dob)
        if new > limit:
            # The limit may be the day before the 18th birthday: keep it out of anything that leaves the database.
            raise Refused(EXTENSION_PAST_LIMIT.format(limit=limit), public=EXTENSION_PAST_LIMIT_PUBLIC)
