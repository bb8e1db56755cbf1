"""The Supervision Order case (PROCEDURES §2; Wirral, *Supervision Orders and the Role of the IRO*), declared once:
its states and machine, its events (fields, roles, effects, escalations), its deadline rules, how a case opens.

States are a ``StrEnum`` shared with the database column; events are verbs. Validators raise ``Refused``
with a message that names the rule; guards choose between transitions of one event.

>>> sm = SupervisionOrderMachine(model=CaseState(SOState.review_scheduled))
>>> sm.send("hold_review", fields={"outcome": "inconclusive"})
>>> sm.model.state
<SOState.urgent_review: 'urgent_review'>
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Any, ClassVar

from statemachine import StateMachine
from statemachine.states import States

from machines.calendar import (
    SO_MAX_AGE_AT_ORDER,
    SO_MONTHS,
    add_months,
    age_on,
    end_of_month,
    extension_limit,
    so_expiry,
    start_of_month,
    two_weeks_after,
)
from machines.errors import Refused
from machines.model import CaseFile, CaseKind, Directory, Person, Role
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
    flag,
    on_date,
    people,
    person,
    text,
    working_days_after,
    working_days_before,
)

__all__ = ["FIVE_QUESTIONS", "PROCEDURE", "CaseState", "SORegistration", "SOState", "SupervisionOrderMachine"]


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
SO_CHILD_TOO_OLD = "a Supervision Order cannot be made for a child aged 17 or over (CA89 s.31(3)): aged {age} on {on}"
SO_CHILD_TOO_OLD_PUBLIC = "a Supervision Order cannot be made for a child aged 17 or over (CA89 s.31(3))"
SO_EXPIRY_TOO_LATE = "a supervision order runs at most one year (CA89 Sch 3 para 6(1)): expiry no later than {limit}"

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

    def after_transition(self, transition: Any) -> None:
        # the casework needs to know: an internal transition keeps the state's deadlines as they are
        self.model.internal = transition.internal

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
            raise Refused(EXTENSION_PAST_LIMIT.format(limit=limit), public=EXTENSION_PAST_LIMIT_PUBLIC)


# -- opening a case ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SORegistration(Registration):
    """What the social worker notifies when the court makes a final Supervision Order."""

    kind: ClassVar[CaseKind] = CaseKind.SUPERVISION_ORDER
    event: ClassVar[str] = "register_so"

    ref: str
    child_id: str
    order_date: date
    expiry: date | None = None  # as stated on the sealed order, when it states one
    dob: date | None = None
    notified_on: date | None = None
    social_worker: str | None = None
    opened_from: str | None = None  # the CP+ISO case whose final hearing made the order


def open_case(reg: SORegistration, on: date, social_worker: str | None) -> tuple[CaseFile, dict[str, Any]]:
    """Check a registration against §1–§2 and make the case (its deadlines are armed by the casework)."""
    if reg.order_date > on:
        raise Refused(f"order date {reg.order_date} is in the future (registered on {on})")
    if reg.dob is not None:
        if reg.dob > reg.order_date:
            raise Refused(
                f"date of birth {reg.dob} is after the order date {reg.order_date}",
                public="the date of birth is after the order date",
            )
        age = age_on(reg.dob, reg.order_date)
        if age >= SO_MAX_AGE_AT_ORDER:
            raise Refused(SO_CHILD_TOO_OLD.format(age=age, on=reg.order_date), public=SO_CHILD_TOO_OLD_PUBLIC)
    year_end = end_of_month(reg.order_date, SO_MONTHS)
    if reg.expiry is not None:
        if reg.expiry <= reg.order_date:
            raise Refused(f"expiry {reg.expiry} must be after the order date {reg.order_date}")
        if reg.expiry > year_end:
            raise Refused(SO_EXPIRY_TOO_LATE.format(limit=year_end))
    notified = reg.notified_on or on
    if notified < reg.order_date:
        raise Refused(f"notified on {notified} is before the order date {reg.order_date}")
    if notified > on:
        raise Refused(f"notified on {notified} is in the future (registered on {on})")
    expiry = so_expiry(reg.order_date, reg.expiry, reg.dob)
    if expiry < notified:
        raise Refused(
            f"the order expired on {expiry}, before it was notified ({notified})",
            public="the order expired before it was notified",
        )
    case = CaseFile(
        ref=reg.ref,
        kind=CaseKind.SUPERVISION_ORDER,
        state=SOState.registered,
        child_id=reg.child_id,
        procedure_version=PROCEDURE_VERSION,
        dob=reg.dob,
        dates={
            "order_date": reg.order_date,
            "expiry": expiry,
            "extension_limit": extension_limit(reg.order_date, reg.dob),
            "notified_on": notified,
            "review_due": end_of_month(reg.order_date, 9),  # seed: "no later than the end of month 9"
            "reconvene_by": end_of_month(reg.order_date, 10),  # seed: "by the end of month 10"
        },
        people={"social_worker": social_worker} if social_worker else {},
        links=[reg.opened_from] if reg.opened_from else [],
    )
    payload = {
        "ref": reg.ref,
        "child_id": reg.child_id,
        "order_date": reg.order_date,
        "expiry": reg.expiry,
        "dob": reg.dob,
        "notified_on": notified,
        "social_worker": social_worker,
        "opened_from": reg.opened_from,
    }
    return case, payload


# -- what each event writes on the case (dates the deadlines hang from; decisions and free text) ------------------


def _stamp(key: str, *detail_keys: str) -> Effect:
    def effect(case: CaseFile, fields: dict[str, Any], on: date, policy: Policy) -> None:
        case.dates[key] = on
        for k in detail_keys:
            if k in fields:
                case.details[k] = fields[k]

    return effect


def _allocate_iro(case: CaseFile, fields: dict[str, Any], on: date, policy: Policy) -> None:
    case.people["iro"] = fields["iro"]
    case.dates["iro_allocated_on"] = on


def _case_summary(case: CaseFile, fields: dict[str, Any], on: date, policy: Policy) -> None:
    case.dates["case_summary_on"] = on
    case.details["case_summary"] = dict(fields)


def _schedule_review(case: CaseFile, fields: dict[str, Any], on: date, policy: Policy) -> None:
    case.dates["review_on"] = fields["review_on"]


def _meeting(key: str) -> Effect:
    def effect(case: CaseFile, fields: dict[str, Any], on: date, policy: Policy) -> None:
        case.dates[key] = case.dates["last_meeting_on"] = on
        case.details[f"{key}_outcome"] = fields["outcome"]
        if "hos_attended" in fields:
            case.details["hos_attended"] = fields["hos_attended"]

    return effect


def _seek_extension(case: CaseFile, fields: dict[str, Any], on: date, policy: Policy) -> None:
    case.dates["extension_sought_on"] = on
    case.details["extension_case"] = dict(fields)


def _court_extends(case: CaseFile, fields: dict[str, Any], on: date, policy: Policy) -> None:
    start = case.dates["expiry"] + timedelta(days=1)
    new: date = fields["new_expiry"]
    case.dates["expiry"] = new
    case.details.setdefault("extensions", []).append({"from": start.isoformat(), "to": new.isoformat()})
    # The next review at the start of the last quarter of the extended period (default, by analogy with month 9).
    months = max(1, _whole_months(start, new + timedelta(days=1)))
    review_month = months - months // policy.extension_review_quarter + 1
    case.dates["review_due"] = start_of_month(start, review_month) if review_month > 1 else start
    case.dates["reconvene_by"] = end_of_month(start, review_month)


def _whole_months(start: date, end: date) -> int:
    months = (end.year - start.year) * 12 + end.month - start.month
    return months - (1 if end.day < start.day else 0)


def _quality_check_failed(case: CaseFile, fields: dict[str, Any], actor: Person) -> Raised:
    # "an immediate escalation should be raised with management to ensure agreed actions are fully applied"
    return Raised("quality_check_failed", Role.TEAM_MANAGER, fields["findings"])


def _urgent_review(case: CaseFile, fields: dict[str, Any], actor: Person) -> Raised | None:
    # "an immediate escalation should be raised for an urgent review"
    return Raised("urgent_review", Role.TEAM_MANAGER) if fields["outcome"] == "inconclusive" else None


# -- the events ----------------------------------------------------------------------------------------------------

SW = (Role.SOCIAL_WORKER, Role.TEAM_MANAGER)
IRO = (Role.IRO, Role.IRO_MANAGER)
LEGAL = (Role.LEGAL,)
COURT = (Role.LEGAL, Role.TEAM_MANAGER)  # court outcomes may also be recorded by a team manager
SYSTEM = (Role.SYSTEM,)

EVENTS = [
    event("allocate_iro", "Allocate a named IRO", (Role.SAFEGUARDING_UNIT, Role.IRO_MANAGER),
          fields={"iro": person("The IRO", Role.IRO)}, meets={"iro_allocation"}, effect=_allocate_iro),
    event("record_case_summary", "Record the rewritten case summary", SW, owner="social_worker",
          fields={"other_orders": text("Other orders (SGO, CAO …)"),
                  "court_wording": text("Specific wording in the court order"),
                  "plan": text("The plan to advise, assist and befriend", hint="'to_follow' if it follows the first CIN meeting")},
          meets={"case_summary"}, effect=_case_summary),
    event("record_first_cin_meeting", "Record the first Child-in-Need meeting", SW, owner="social_worker",
          meets={"first_cin_meeting"}, effect=_stamp("first_cin_meeting_on")),
    event("pass_quality_check", "Record that the quality check passed", IRO, owner="iro",
          meets={"quality_check"}, effect=_stamp("quality_checked_on")),
    event("fail_quality_check", "Record that the quality check failed", IRO, owner="iro",
          fields={"findings": text("Findings")}, meets={"quality_check"},
          effect=_stamp("quality_failed_on", "findings"), raises=_quality_check_failed),
    event("confirm_remedial_action", "Confirm the agreed actions are applied", (Role.TEAM_MANAGER, Role.HEAD_OF_SERVICE),
          fields={"note": text("What was done")}, meets={"management_response"},
          effect=_stamp("remedial_action_on", "note")),
    event("schedule_review", "Schedule the month-9 review", IRO, owner="iro",
          fields={"review_on": date_field("Review date")}, effect=_schedule_review),
    event("hold_review", "Record the review meeting", IRO, owner="iro",
          fields={"outcome": choice("Outcome", "step_down", "extend", "inconclusive")}, meets={"month9_review"},
          effect=_meeting("review_held_on"), raises=_urgent_review, confirm=True),
    event("record_progress", "Record progress after the urgent review", SW, owner="social_worker",
          meets={"progress_check"}, effect=_stamp("progress_on")),
    event("progress_check", "No progress two weeks after the meeting", SYSTEM, timer=True),
    event("hold_reconvened_review", "Record the reconvened meeting", IRO, owner="iro",
          fields={"outcome": choice("Outcome", "step_down", "extend"),
                  "hos_attended": flag("The Head of Service attended")},
          meets={"reconvene"}, effect=_meeting("reconvened_on"), confirm=True),
    event("issue_minutes", "Issue the minutes", IRO, owner="iro",
          fields={"distribution": people("Distribution", hint="the participants, the Team Manager and the Head of Service")},
          meets={"minutes"}, effect=_stamp("minutes_issued_on", "distribution")),
    event("decide_step_down", "Decide to step down", (Role.HEAD_OF_SERVICE,),
          meets={"hos_decision"}, effect=_stamp("stepped_down_on"), confirm=True),
    event("decide_seek_extension", "Decide to seek an extension", (Role.HEAD_OF_SERVICE,),
          fields={key: text(question[0].upper() + question[1:]) for key, question in FIVE_QUESTIONS.items()},
          meets={"hos_decision"}, effect=_seek_extension, confirm=True),
    event("approve_application", "Legal Gateway approves the application", LEGAL,
          meets={"legal_gateway"}, effect=_stamp("application_approved_on")),
    event("decline_application", "Legal Gateway declines the application", LEGAL,
          meets={"legal_gateway"}, effect=_stamp("application_declined_on")),
    event("file_application", "File the application to extend", LEGAL,
          meets={"application_filing"}, effect=_stamp("application_filed_on")),
    event("court_extends", "The court extends the order", COURT, fields={"new_expiry": date_field("New expiry")},
          effect=_court_extends, confirm=True),
    event("court_refuses", "The court refuses the extension", COURT, effect=_stamp("extension_refused_on"),
          confirm=True),
    event("order_expiry", "The order expires", SYSTEM, timer=True),
    event("discharge", "The court discharges the order", COURT, effect=_stamp("discharged_on"), confirm=True),
]  # fmt: skip

# -- the deadlines -------------------------------------------------------------------------------------------------

S = SOState
LIVE = frozenset(s.value for s in _LIVE)
# States in which an extension is being sought: expiry there is an escalation too (§2).
EXTENSION_SOUGHT = frozenset({S.legal_gateway, S.extension_application, S.extension_pending})


def _review_shown_from(case: CaseFile, policy: Policy) -> date | None:
    # "the worklist shows it from the start of month 8": two months before the day after the due date.
    due = case.dates.get("review_due")
    return None if due is None else add_months(due + timedelta(days=1), -2)


def _two_weeks_after_meeting(case: CaseFile, policy: Policy) -> date | None:
    """Two weeks (14 days) after the meeting."""
    meeting = case.dates.get("last_meeting_on")
    return None if meeting is None else two_weeks_after(meeting)


def _expired_seeking_extension(case: CaseFile) -> Raised | None:
    # "An expiry with an extension still pending is also an escalation" (§2)
    if case.state in EXTENSION_SOUGHT:
        return Raised("expired_with_extension_pending", Role.HEAD_OF_SERVICE)
    return None


DEADLINES = [
    deadline("iro_allocation", "allocate a named IRO", owner=Role.SAFEGUARDING_UNIT,
             escalate_to=Role.SAFEGUARDING_UNIT, armed_in=S.registered,
             due=working_days_after("notified_on", "iro_allocation_wd")),
    deadline("case_summary", "rewrite the case summary", owner=Role.SOCIAL_WORKER, escalate_to=Role.TEAM_MANAGER,
             armed_in=S.registered, alive_in=LIVE, due=working_days_after("notified_on", "case_summary_wd")),
    deadline("first_cin_meeting", "hold the first Child-in-Need meeting", owner=Role.SOCIAL_WORKER,
             escalate_to=Role.TEAM_MANAGER, armed_in=S.awaiting_first_cin,
             due=working_days_after("order_date", "first_cin_meeting_wd")),
    deadline("quality_check", "quality-check the plan and the first CIN meeting", owner=Role.IRO,
             escalate_to=Role.IRO_MANAGER, armed_in=S.quality_check_due,
             due=working_days_after("first_cin_meeting_on", "quality_check_wd")),
    deadline("management_response", "confirm the agreed actions are fully applied", owner=Role.TEAM_MANAGER,
             escalate_to=Role.HEAD_OF_SERVICE, armed_in=S.quality_escalated,
             due=working_days_after("quality_failed_on", "management_response_wd")),
    deadline("month9_review", "hold the formal review of the Support Plan", owner=Role.IRO,
             escalate_to=Role.IRO_MANAGER, armed_in=S.plan_in_progress,
             alive_in={S.plan_in_progress, S.review_scheduled}, due=on_date("review_due"),
             shown_from=_review_shown_from),
    deadline("minutes", "issue the minutes of the review", owner=Role.IRO, escalate_to=Role.IRO_MANAGER,
             armed_in={S.urgent_review, S.minutes_pending},
             alive_in={S.urgent_review, S.escalated_to_hos, S.reconvene_pending, S.minutes_pending},
             due=working_days_after("last_meeting_on", 10)),  # seed: "within 10 working days" (not a default)
    deadline("progress_check", "show progress two weeks after the review", owner=Role.SOCIAL_WORKER,
             escalate_to=Role.HEAD_OF_SERVICE, armed_in=S.urgent_review, due=_two_weeks_after_meeting,
             timer="progress_check"),
    deadline("reconvene", "reconvene and conclude the review", owner=Role.IRO, escalate_to=Role.HEAD_OF_SERVICE,
             armed_in=S.urgent_review, alive_in={S.urgent_review, S.escalated_to_hos, S.reconvene_pending},
             due=on_date("reconvene_by")),
    deadline("hos_decision", "decide: step down or seek an extension", owner=Role.HEAD_OF_SERVICE,
             escalate_to=Role.HEAD_OF_SERVICE, armed_in=S.hos_decision_pending,
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

PROCEDURE_VERSION = "wirral-so-2022.03"

PROCEDURE = declare(
    kind=CaseKind.SUPERVISION_ORDER,
    version=PROCEDURE_VERSION,
    title="Supervision Order",
    states=SOState,
    machine=SupervisionOrderMachine,
    events=EVENTS,
    deadlines=DEADLINES,
    register_roles=SW,
    registration=SORegistration,
    open=open_case,
)
