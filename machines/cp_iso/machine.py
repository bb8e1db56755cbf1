"""The CP plan + ISO case's states and machine, with its guards and validators (PROCEDURES §3).

>>> sm = CpIsoMachine(model=CaseState(CpIsoState.discussion_pending))
>>> sm.send("hold_three_way_discussion", fields={"decision": "concurrent"}, case=None, on=None)
>>> sm.model.state
<CpIsoState.concurrent: 'concurrent'>
"""

from __future__ import annotations

from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from statemachine import StateMachine
from statemachine.states import States

from machines.calendar import SO_MAX_AGE_AT_ORDER, add_months, age_on
from machines.errors import Refused
from machines.model import CaseFile
from machines.supervision_order import CaseState

__all__ = ["CaseState", "CpIsoMachine", "CpIsoState", "review_limit"]


class CpIsoState(StrEnum):
    iso_granted = "iso_granted"
    discussion_pending = "discussion_pending"
    step_down_proposed = "step_down_proposed"
    concurrent = "concurrent"
    cin_with_court_oversight = "cin_with_court_oversight"
    proceedings_concluded = "proceedings_concluded"


# Working Together: the first review within 3 months of the initial conference, then at most every 6 months.
FIRST_REVIEW_MONTHS = 3
REVIEW_INTERVAL_MONTHS = 6
FIRST_REVIEW_TOO_LATE = (
    "Working Together: the first CP review must be within 3 months of the initial conference ({since}): "
    "no later than {limit}"
)
REVIEW_TOO_LATE = (
    "Working Together: CP reviews are at most 6 months apart: after the review of {since} the next is due "
    "no later than {limit}"
)
REVIEW_NOT_AFTER = "the next CP review ({review}) must be after {since}"
PROCEEDINGS_EXTENSION_WEEKS = 8  # each court extension of the 26-week limit is at most 8 weeks (s.32(5))
PROCEEDINGS_EXTENSION_TOO_LONG = "a court extension of proceedings is at most 8 weeks at a time: no later than {limit}"
PROCEEDINGS_EXTENSION_NOT_LATER = "the new 26-week date {new} must be later than the current one {current}"
NO_ISSUE_DATE = "this case has no issue date, so no 26-week date to extend (record it with inform_cpc issued=...)"
SO_CHILD_TOO_OLD_PUBLIC = "a Supervision Order cannot be made for a child aged 17 or over (CA89 s.31(3))"
SO_CHILD_TOO_OLD = "a Supervision Order cannot be made for a child aged 17 or over (CA89 s.31(3)): aged {age} on {on}"
ISSUE_DATE_REQUIRED = (
    "inform_cpc: the court timetable's issue date is required (issued=YYYY-MM-DD), so the 26-week date is tracked"
)
ISSUE_DATE_DIFFERS = (
    "inform_cpc: the issue date is already recorded as {recorded}; a different one ({given}) is a correction, "
    "not a new timetable"
)
ISSUE_DATE_AFTER_ISO = "inform_cpc: issue date {issued} is after the ISO date {iso}"
NO_SINGLE_ASSESSMENT = (
    "the CP plan cannot end before the single assessment is completed (complete_single_assessment): none since "
    "the step-down was proposed on {since}"
)


def review_limit(case: CaseFile) -> tuple[date, str]:
    """The latest date the next CP review may fall on, and the message refusing a later one."""
    last = case.dates.get("last_review")
    if last is not None:
        limit = add_months(last, REVIEW_INTERVAL_MONTHS)
        return limit, REVIEW_TOO_LATE.format(since=last, limit=limit)
    icpc = case.dates["icpc"]
    limit = add_months(icpc, FIRST_REVIEW_MONTHS)
    return limit, FIRST_REVIEW_TOO_LATE.format(since=icpc, limit=limit)


_ = States.from_enum(
    CpIsoState,
    initial=CpIsoState.iso_granted,
    final=[CpIsoState.proceedings_concluded],
    use_enum_instance=True,
)
_LIVE = [s for s in _ if not s.final]
# While the ISO is in force and the CP plan runs, CP reviews are held: the Children's Guardian is invited to each.
_REVIEWS_HELD = [_.iso_granted, _.discussion_pending, _.step_down_proposed, _.concurrent]


class CpIsoMachine(StateMachine):
    """CP plan + ISO: coordination with the CPC, midway checks and reviews around the court timetable."""

    states = _

    inform_cpc = _.iso_granted.to(_.discussion_pending, validators="timetable_known")
    hold_three_way_discussion = _.discussion_pending.to(
        _.step_down_proposed, cond="decided_step_down", validators="moved_review_within_limit"
    ) | _.discussion_pending.to(_.concurrent, unless="decided_step_down", validators="moved_review_within_limit")
    complete_single_assessment = _.step_down_proposed.to.itself(internal=True)
    hold_midway_discussion = _.concurrent.to(_.step_down_proposed, cond="decided_step_down") | _.concurrent.to.itself(
        internal=True, unless="decided_step_down"
    )
    # The single assessment is considered at the review that ends the plan (§3, rev.); a plan ended from concurrent
    # is not gated (PROCEDURES does not ask it: README decision D7).
    hold_cp_review = (
        _.step_down_proposed.to(_.cin_with_court_oversight, cond="plan_ended", validators="single_assessment_done")
        | _.step_down_proposed.to(_.concurrent, unless="plan_ended", validators="next_review_within_limit")
        | _.concurrent.to(_.cin_with_court_oversight, cond="plan_ended")
        | _.concurrent.to.itself(unless="plan_ended", validators="next_review_within_limit")
    )
    invite_guardian = _.iso_granted.to.itself(internal=True)
    for _state in _REVIEWS_HELD[1:]:
        invite_guardian |= _state.to.itself(internal=True)

    record_final_hearing = _.iso_granted.to(_.proceedings_concluded, validators="order_can_be_made")
    extend_proceedings = _.iso_granted.to.itself(internal=True, validators="proceedings_extension_allowed")
    raise_disagreement = _.iso_granted.to.itself(internal=True)
    record_guardian_contact = _.iso_granted.to.itself(internal=True)
    change_social_worker = _.iso_granted.to.itself(internal=True)  # a leaver's cases are handed over
    for _state in _LIVE[1:]:
        change_social_worker |= _state.to.itself(internal=True)
        record_final_hearing |= _state.to(_.proceedings_concluded, validators="order_can_be_made")
        extend_proceedings |= _state.to.itself(internal=True, validators="proceedings_extension_allowed")
        raise_disagreement |= _state.to.itself(internal=True)
        record_guardian_contact |= _state.to.itself(internal=True)
    del _state

    def after_transition(self, transition: Any) -> None:
        self.model.internal = transition.internal

    # -- guards -------------------------------------------------------------------------------------------------

    def decided_step_down(self, fields: dict[str, Any]) -> bool:
        return fields.get("decision") == "step_down"

    def plan_ended(self, fields: dict[str, Any]) -> bool:
        return fields.get("outcome") == "end_plan"

    # -- validators ---------------------------------------------------------------------------------------------

    def timetable_known(self, case: CaseFile, fields: dict[str, Any]) -> None:
        """The CPC is made aware of the court timetable: the issue date, unless already recorded (§3, rev.)."""
        given: date | None = fields.get("issued")
        recorded = case.dates.get("issued")
        if given is None and recorded is None:
            raise Refused(ISSUE_DATE_REQUIRED)
        if given is not None and recorded is not None and given != recorded:
            raise Refused(ISSUE_DATE_DIFFERS.format(recorded=recorded, given=given))
        if given is not None and given > case.dates["iso_date"]:
            raise Refused(ISSUE_DATE_AFTER_ISO.format(issued=given, iso=case.dates["iso_date"]))

    def moved_review_within_limit(self, case: CaseFile, fields: dict[str, Any], on: date) -> None:
        moved: date | None = fields.get("move_review_to")
        if moved is None:
            return
        if moved <= on:
            raise Refused(REVIEW_NOT_AFTER.format(review=moved, since=on))
        limit, message = review_limit(case)
        if moved > limit:
            raise Refused(message)

    def next_review_within_limit(self, fields: dict[str, Any], on: date) -> None:
        nxt: date | None = fields.get("next_review")
        if nxt is None:
            raise Refused("hold_cp_review with outcome continue_plan needs next_review (the next review date)")
        if nxt <= on:
            raise Refused(REVIEW_NOT_AFTER.format(review=nxt, since=on))
        limit = add_months(on, REVIEW_INTERVAL_MONTHS)
        if nxt > limit:
            raise Refused(REVIEW_TOO_LATE.format(since=on, limit=limit))

    def single_assessment_done(self, case: CaseFile) -> None:
        since = case.dates.get("step_down_proposed_on")
        done = case.dates.get("single_assessment_on")
        if since is not None and (done is None or done < since):
            raise Refused(NO_SINGLE_ASSESSMENT.format(since=since))

    def order_can_be_made(self, case: CaseFile, fields: dict[str, Any], on: date) -> None:
        if fields.get("outcome") == "supervision_order" and case.dob is not None:
            age = age_on(case.dob, on)
            if age >= SO_MAX_AGE_AT_ORDER:
                raise Refused(SO_CHILD_TOO_OLD.format(age=age, on=on), public=SO_CHILD_TOO_OLD_PUBLIC)

    def proceedings_extension_allowed(self, case: CaseFile, fields: dict[str, Any]) -> None:
        current = case.dates.get("twenty_six_weeks")
        if current is None:
            raise Refused(NO_ISSUE_DATE)
        new: date = fields["new_date"]
        if new <= current:
            raise Refused(PROCEEDINGS_EXTENSION_NOT_LATER.format(new=new, current=current))
        limit = current + timedelta(weeks=PROCEEDINGS_EXTENSION_WEEKS)
        if new > limit:
            raise Refused(PROCEEDINGS_EXTENSION_TOO_LONG.format(limit=limit))
