"""A child on a Child Protection plan who is also under an Interim Supervision Order (PROCEDURES §3; Bradford guide),
declared once: states and machine, events, deadline rules, how a case opens.

>>> from machines.supervision_order import CaseState
>>> sm = CpIsoMachine(model=CaseState(CpIsoState.discussion_pending))
>>> sm.send("hold_three_way_discussion", fields={"decision": "concurrent"}, case=None, on=None)
>>> sm.model.state
<CpIsoState.concurrent: 'concurrent'>
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Any, ClassVar

from statemachine import StateMachine
from statemachine.states import States

from machines.calendar import SO_MAX_AGE_AT_ORDER, add_months, age_on, midway, twenty_six_weeks_date
from machines.errors import Refused
from machines.model import CaseFile, CaseKind, Person, Role
from machines.policy import Policy
from machines.spec import (
    Effect,
    Raised,
    Registration,
    choice,
    date_field,
    deadline,
    declare,
    event,
    note,
    on_date,
    text,
    working_days_after,
    working_days_before,
)
from machines.supervision_order import SORegistration

__all__ = ["PROCEDURE", "CpIsoMachine", "CpIsoRegistration", "CpIsoState", "review_limit"]


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
NO_ISSUE_DATE = "this case has no issue date, so no 26-week date to extend (register it with --issued)"
SO_CHILD_TOO_OLD_PUBLIC = "a Supervision Order cannot be made for a child aged 17 or over (CA89 s.31(3))"
SO_CHILD_TOO_OLD = "a Supervision Order cannot be made for a child aged 17 or over (CA89 s.31(3)): aged {age} on {on}"


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


class CpIsoMachine(StateMachine):
    """CP plan + ISO: coordination with the CPC, midway checks and reviews around the court timetable."""

    states = _

    inform_cpc = _.iso_granted.to(_.discussion_pending)
    hold_three_way_discussion = _.discussion_pending.to(
        _.step_down_proposed, cond="decided_step_down", validators="moved_review_within_limit"
    ) | _.discussion_pending.to(_.concurrent, unless="decided_step_down", validators="moved_review_within_limit")
    complete_single_assessment = _.step_down_proposed.to.itself(internal=True)
    hold_midway_discussion = _.concurrent.to(_.step_down_proposed, cond="decided_step_down") | _.concurrent.to.itself(
        internal=True, unless="decided_step_down"
    )
    hold_cp_review = (
        _.step_down_proposed.to(_.cin_with_court_oversight, cond="plan_ended")
        | _.step_down_proposed.to(_.concurrent, unless="plan_ended", validators="next_review_within_limit")
        | _.concurrent.to(_.cin_with_court_oversight, cond="plan_ended")
        | _.concurrent.to.itself(unless="plan_ended", validators="next_review_within_limit")
    )
    invite_guardian = _.concurrent.to.itself(internal=True) | _.step_down_proposed.to.itself(internal=True)

    record_final_hearing = _.iso_granted.to(_.proceedings_concluded, validators="order_can_be_made")
    extend_proceedings = _.iso_granted.to.itself(internal=True, validators="proceedings_extension_allowed")
    raise_disagreement = _.iso_granted.to.itself(internal=True)
    for _state in _LIVE[1:]:
        record_final_hearing |= _state.to(_.proceedings_concluded, validators="order_can_be_made")
        extend_proceedings |= _state.to.itself(internal=True, validators="proceedings_extension_allowed")
        raise_disagreement |= _state.to.itself(internal=True)
    del _state

    def after_transition(self, transition: Any) -> None:
        self.model.internal = transition.internal

    # -- guards -------------------------------------------------------------------------------------------------

    def decided_step_down(self, fields: dict[str, Any]) -> bool:
        return fields.get("decision") == "step_down"

    def plan_ended(self, fields: dict[str, Any]) -> bool:
        return fields.get("outcome") == "end_plan"

    # -- validators ---------------------------------------------------------------------------------------------

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


# -- opening a case ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CpIsoRegistration(Registration):
    """A child on a CP plan for whom an Interim Supervision Order has been granted, with the court timetable."""

    kind: ClassVar[CaseKind] = CaseKind.CP_ISO
    event: ClassVar[str] = "register_cp_iso"

    ref: str
    child_id: str
    iso_date: date
    next_review: date
    last_review: date | None = None
    icpc: date | None = None
    issued: date | None = None
    cmh: date | None = None
    irh: date | None = None
    final_hearing: date | None = None
    dob: date | None = None
    social_worker: str | None = None


_TIMETABLE = ("last_review", "icpc", "issued", "cmh", "irh", "final_hearing")


def open_case(reg: CpIsoRegistration, on: date, social_worker: str | None) -> tuple[CaseFile, dict[str, Any]]:
    """Check a registration against §3 and Working Together, and make the case."""
    if reg.iso_date > on:
        raise Refused(f"ISO date {reg.iso_date} is in the future (registered on {on})")
    start = reg.last_review or reg.icpc
    if start is None:
        raise Refused("one of last_review or icpc is required: the Working Together limit on the next review needs it")
    for name in ("last_review", "icpc"):
        value = getattr(reg, name)
        if value is not None and value > reg.iso_date:
            raise Refused(f"{name} {value} is after the ISO date {reg.iso_date}")
    if reg.issued is not None and reg.issued > reg.iso_date:
        raise Refused(f"issue date {reg.issued} is after the ISO date {reg.iso_date}")
    if reg.dob is not None and reg.dob > reg.iso_date:
        raise Refused(
            f"date of birth {reg.dob} is after the ISO date {reg.iso_date}",
            public="the date of birth is after the ISO date",
        )
    dates: dict[str, date] = {"iso_date": reg.iso_date, "next_review": reg.next_review}
    for name in _TIMETABLE:
        value = getattr(reg, name)
        if value is not None:
            dates[name] = value
    if reg.issued is not None:
        dates["twenty_six_weeks"] = twenty_six_weeks_date(reg.issued)
    dates["cycle_start"] = start
    case = CaseFile(
        ref=reg.ref,
        kind=CaseKind.CP_ISO,
        state=CpIsoState.iso_granted,
        child_id=reg.child_id,
        procedure_version=PROCEDURE_VERSION,
        dob=reg.dob,
        dates=dates,
        people={"social_worker": social_worker} if social_worker else {},
    )
    if reg.next_review <= start:
        raise Refused(f"the next CP review {reg.next_review} must be after {start}")
    limit, message = review_limit(case)
    if reg.next_review > limit:
        raise Refused(message)
    payload: dict[str, Any] = {name: getattr(reg, name) for name in CpIsoRegistration.__dataclass_fields__}
    payload["social_worker"] = social_worker
    return case, payload


# -- what each event writes on the case ----------------------------------------------------------------------------


def _stamp(key: str) -> Effect:
    def effect(case: CaseFile, fields: dict[str, Any], on: date, policy: Policy) -> None:
        case.dates[key] = on

    return effect


def _three_way(case: CaseFile, fields: dict[str, Any], on: date, policy: Policy) -> None:
    case.dates["three_way_discussion_on"] = on
    case.details["three_way_decision"] = fields["decision"]
    case.details["case_note"] = fields["case_note"]
    if "move_review_to" in fields:
        case.dates["next_review"] = fields["move_review_to"]


def _cp_review(case: CaseFile, fields: dict[str, Any], on: date, policy: Policy) -> None:
    case.dates["last_review"] = case.dates["cycle_start"] = on
    case.details["last_review_outcome"] = fields["outcome"]
    if fields["outcome"] == "continue_plan":
        case.dates["next_review"] = fields["next_review"]
    else:
        case.dates.pop("next_review", None)


def _final_hearing(case: CaseFile, fields: dict[str, Any], on: date, policy: Policy) -> None:
    case.dates["final_hearing"] = on
    case.details["final_outcome"] = fields["outcome"]


def _extend_proceedings(case: CaseFile, fields: dict[str, Any], on: date, policy: Policy) -> None:
    case.dates["twenty_six_weeks"] = fields["new_date"]
    case.details.setdefault("proceedings_extensions", []).append(fields["new_date"].isoformat())


def _linked_so(case: CaseFile, fields: dict[str, Any], on: date) -> SORegistration | None:
    """A final Supervision Order opens an SO case for the same child, linked, with the hearing date as order date."""
    if fields["outcome"] != "supervision_order":
        return None
    return SORegistration(ref=fields.get("so_case") or f"{case.ref}-SO", child_id=case.child_id, order_date=on,
                          dob=case.dob, notified_on=on, social_worker=case.people.get("social_worker"),
                          opened_from=case.ref)  # fmt: skip


def _disagreement(case: CaseFile, fields: dict[str, Any], actor: Person) -> Raised:
    # Bradford: the SW's Team Manager and the CPC Team Manager discuss it first
    social_work_side = actor.role in (Role.SOCIAL_WORKER, Role.TEAM_MANAGER)
    return Raised("disagreement", Role.CPC_TEAM_MANAGER if social_work_side else Role.TEAM_MANAGER, fields["note"])


# -- the events ----------------------------------------------------------------------------------------------------

SW = (Role.SOCIAL_WORKER, Role.TEAM_MANAGER)
CPC = (Role.CPC, Role.CPC_TEAM_MANAGER)
COURT = (Role.LEGAL, Role.TEAM_MANAGER)  # court outcomes may also be recorded by a team manager

EVENTS = [
    event("inform_cpc", "Make the CPC aware of the ISO and the court timetable", SW, owner="social_worker",
          meets={"inform_cpc"}, effect=_stamp("cpc_informed_on")),
    event("hold_three_way_discussion", "Record the 3-way discussion", CPC,
          fields={"decision": choice("Decision", "step_down", "concurrent"),
                  "case_note": text("Case note reference"),
                  "move_review_to": date_field("Move the next CP review to", required=False)},
          meets={"three_way_discussion"}, effect=_three_way),
    event("complete_single_assessment", "Record the single assessment as complete", SW, owner="social_worker",
          meets={"single_assessment"}, effect=_stamp("single_assessment_on")),
    event("hold_midway_discussion", "Record the midway discussion", CPC,
          fields={"decision": choice("Decision", "continue", "step_down"), "note": note()},
          meets={"midway_discussion"}, effect=_stamp("midway_discussion_on")),
    event("hold_cp_review", "Record the CP review conference", CPC,
          fields={"outcome": choice("Outcome", "end_plan", "continue_plan"),
                  "next_review": date_field("Next review date", required=False,
                                            hint="with continue_plan: no more than 6 months away")},
          meets={"cp_review"}, effect=_cp_review, confirm=True),
    event("invite_guardian", "Invite the Children's Guardian to the review", CPC, meets={"guardian_invitation"},
          effect=_stamp("guardian_invited_on")),
    event("record_final_hearing", "Record the final hearing", COURT,
          fields={"outcome": choice("Outcome", "supervision_order", "care_order", "no_order", "other"),
                  "so_case": text("Reference for the new Supervision Order case", required=False)},
          meets={"twenty_six_weeks"}, effect=_final_hearing, opens=_linked_so, confirm=True),
    event("extend_proceedings", "Record a court extension of proceedings", COURT,
          fields={"new_date": date_field("The new 26-week date")}, effect=_extend_proceedings),
    event("raise_disagreement", "Raise a disagreement about the CP plan", (*SW, *CPC),
          fields={"note": text("What the disagreement is")}, raises=_disagreement),
]  # fmt: skip

# -- the deadlines -------------------------------------------------------------------------------------------------

C = CpIsoState
LIVE = frozenset(s.value for s in _LIVE)


def _midway(case: CaseFile, policy: Policy) -> date | None:
    """Midway between the last review (or conference) and the next, rounded down."""
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
    deadline("guardian_invitation", "invite the Children's Guardian to the review", owner=Role.CPC,
             escalate_to=Role.CPC_TEAM_MANAGER, armed_in=C.concurrent,
             due=working_days_before("next_review", "guardian_invitation_wd_before_review"), skip_if_past=True),
    deadline("twenty_six_weeks", "conclude proceedings within 26 weeks", owner=Role.LEGAL,
             escalate_to=Role.HEAD_OF_SERVICE, armed_in=LIVE, due=on_date("twenty_six_weeks"), tracks_date=True),
]  # fmt: skip

PROCEDURE_VERSION = "bradford-cp-iso-1"

PROCEDURE = declare(
    kind=CaseKind.CP_ISO,
    version=PROCEDURE_VERSION,
    title="CP plan + Interim Supervision Order",
    states=CpIsoState,
    machine=CpIsoMachine,
    events=EVENTS,
    deadlines=DEADLINES,
    register_roles=(*CPC, *SW),
    registration=CpIsoRegistration,
    open=open_case,
)
