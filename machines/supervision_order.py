"""The Supervision Order case (PROCEDURES §2; Wirral, *Supervision Orders and the Role of the IRO*).

States are a ``StrEnum`` shared with the database column; events are verbs. Validators raise ``Refused``
with a message that names the rule; guards choose between transitions of one event.

>>> sm = SupervisionOrderMachine(model=CaseState(SOState.review_scheduled))
>>> sm.send("hold_review", fields={"outcome": "inconclusive"})
>>> sm.model.state
<SOState.urgent_review: 'urgent_review'>
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Any

from statemachine import StateMachine
from statemachine.states import States

from machines.calendar import extension_limit
from machines.errors import Refused
from machines.model import CaseFile, Directory, Role

__all__ = ["FIVE_QUESTIONS", "CaseState", "SOState", "SupervisionOrderMachine"]


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

    __slots__ = ("state",)

    def __init__(self, state: StrEnum) -> None:
        self.state = state


# The five questions the Head of Service must answer before going back to Legal Gateway (seed §2).
FIVE_QUESTIONS = {
    "why_unsuccessful": "why the Supervision Order has been unsuccessful in addressing the concerns",
    "ongoing_concerns": "the ongoing concerns that reach threshold",
    "proposed_plans": "the nature of the proposed plans",
    "service_commitments": "the service commitments proposed",
    "expected_outcomes": "the expected outcomes of a further order",
}
REVIEW_AFTER_LIMIT = (
    "the review must be held no later than {limit} (end of month 9, or the extended period's review date)"
)
HOS_MUST_ATTEND = (
    "the Head of Service must attend the reconvened meeting after no progress at two weeks (hos_attended=true)"
)
EXTENSION_PAST_LIMIT_PUBLIC = (
    "an extension may not run past the end of month 36 nor past the day before the 18th birthday"
)
DISTRIBUTION_INCOMPLETE = (
    "minutes distribution must include the participants, the Team Manager and the Head of Service: {missing}"
)
EXTENSION_NOT_LATER = "the new expiry {new} must be later than the current expiry {current}"
EXTENSION_PAST_LIMIT = "an extension may not run past {limit} (end of month 36, CA89 Sch 3 para 6(4), and the day before the 18th birthday)"

_ = States.from_enum(
    SOState,
    initial=SOState.registered,
    final=[SOState.expired, SOState.discharged],
    use_enum_instance=True,
)
_LIVE = [s for s in _ if not s.final]


class SupervisionOrderMachine(StateMachine):
    """Supervision Order: from notification to step-down, extension, expiry or discharge."""

    states = _

    allocate_iro = _.registered.to(_.awaiting_first_cin)
    record_first_cin_meeting = _.awaiting_first_cin.to(_.quality_check_due)
    pass_quality_check = _.quality_check_due.to(_.plan_in_progress)
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
    issue_minutes = (
        _.minutes_pending.to(_.hos_decision_pending, validators="distribution_complete")
        | _.urgent_review.to.itself(internal=True, validators="distribution_complete")
        | _.escalated_to_hos.to.itself(internal=True, validators="distribution_complete")
        | _.reconvene_pending.to.itself(internal=True, validators="distribution_complete")
    )
    decide_step_down = _.hos_decision_pending.to(_.stepping_down)
    decide_seek_extension = _.hos_decision_pending.to(_.legal_gateway)
    approve_application = _.legal_gateway.to(_.extension_application)
    decline_application = _.legal_gateway.to(_.stepping_down)
    file_application = _.extension_application.to(_.extension_pending)
    court_extends = _.extension_pending.to(_.plan_in_progress, validators="extension_within_limits")
    court_refuses = _.extension_pending.to(_.stepping_down)

    # Any live state: the case summary is rewritten whenever it is ready; the order ends by time or by the court.
    record_case_summary = _.registered.to.itself(internal=True)
    for _state in _LIVE[1:]:
        record_case_summary |= _state.to.itself(internal=True)
    order_expiry = _.registered.to(_.expired)
    discharge = _.registered.to(_.discharged)
    for _state in _LIVE[1:]:
        order_expiry |= _state.to(_.expired)
        discharge |= _state.to(_.discharged)
    del _state

    # -- guards -------------------------------------------------------------------------------------------------

    def outcome_decisive(self, fields: dict[str, Any]) -> bool:
        """A review that reached a clear judgement (step down or extend) goes to minutes; else urgent review."""
        return fields.get("outcome") in ("step_down", "extend")

    # -- validators ---------------------------------------------------------------------------------------------

    def review_in_time(self, case: CaseFile, fields: dict[str, Any], on: date) -> None:
        limit = case.dates["review_due"]
        review_on: date = fields["review_on"]
        if review_on > limit:
            raise Refused(REVIEW_AFTER_LIMIT.format(limit=limit))
        if review_on < on:
            raise Refused(f"review_on {review_on} is before the day it is scheduled ({on})")

    def hos_attended(self, fields: dict[str, Any]) -> None:
        if fields.get("hos_attended") is not True:
            raise Refused(HOS_MUST_ATTEND)

    def distribution_complete(self, case: CaseFile, fields: dict[str, Any], people: Directory) -> None:
        names: list[str] = fields["distribution"]
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
            raise Refused(
                EXTENSION_PAST_LIMIT.format(limit=limit),
                public=EXTENSION_PAST_LIMIT_PUBLIC,
            )
