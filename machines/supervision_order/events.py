"""The Supervision Order's events: their fields, who may fire them, what they write, raise, flag and tell."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from machines.calendar import end_of_month, extension_review_shape, month_of
from machines.effects import hand_over, stamp
from machines.model import CaseFile, Directory, Person, Role
from machines.policy import Policy
from machines.spec import (
    Effect,
    Raised,
    Tell,
    choice,
    date_field,
    event,
    flag,
    items,
    note,
    people,
    person,
    tasks,
    text,
)
from machines.supervision_order.machine import FIVE_QUESTIONS, QUALITY_CRITERIA, minuted_meeting
from machines.supervision_order.opening import set_review_shape

__all__ = ["EVENTS"]

TO_FOLLOW = "to_follow"  # the 'advise, assist and befriend' plan follows the first CIN meeting (seed §2)
NOT_ON_THE_AGENDA = "minutes do not cover the IRO Agenda"


def _allocate_iro(case: CaseFile, fields: dict[str, Any], on: date, policy: Policy) -> None:
    case.people["iro"] = fields["iro"]
    case.dates["iro_allocated_on"] = on


def _tell_the_social_worker(case: CaseFile, fields: dict[str, Any], actor: Person, people: Directory) -> list[Tell]:
    """Seed: "The name of the IRO will be made available to the Social Worker"; with none on record, the registering
    person's team manager (README decision D5)."""
    about = (("iro", fields["iro"]), ("on", case.dates["iro_allocated_on"].isoformat()), ("by", actor.user))
    sw = case.people.get("social_worker")
    if sw:
        return [Tell("iro_allocated", user=sw, about=about)]
    registrant = people.get(str(case.details.get("registered_by", "")))
    if registrant is not None and registrant.role is Role.TEAM_MANAGER:
        return [Tell("iro_allocated", user=registrant.user, about=about)]
    manager = people.get(registrant.manager) if registrant is not None and registrant.manager else None
    if manager is not None and manager.role is Role.TEAM_MANAGER:
        return [Tell("iro_allocated", user=manager.user, about=about)]
    return [Tell("iro_allocated", role=Role.TEAM_MANAGER, about=about)]


def _support_plan_from(case: CaseFile) -> None:
    """A plan marked to follow the first CIN meeting is due after that meeting, once both are known (and once)."""
    summary = case.details.get("case_summary", {})
    first = case.dates.get("first_cin_meeting_on")
    if summary.get("plan") == TO_FOLLOW and first and not {"support_plan_from", "support_plan_on"} & set(case.dates):
        case.dates["support_plan_from"] = first


def _case_summary(case: CaseFile, fields: dict[str, Any], on: date, policy: Policy) -> None:
    case.dates["case_summary_on"] = on
    # seed: the summary includes "the date the Order was made and its planned expiry date"
    case.details["case_summary"] = {**fields, "order_date": case.dates["order_date"].isoformat(),
                                    "expiry": case.dates["expiry"].isoformat()}  # fmt: skip
    _support_plan_from(case)


def _first_cin(case: CaseFile, fields: dict[str, Any], on: date, policy: Policy) -> None:
    case.dates["first_cin_meeting_on"] = on
    _support_plan_from(case)


def _support_plan(case: CaseFile, fields: dict[str, Any], on: date, policy: Policy) -> None:
    case.dates["support_plan_on"] = on
    case.details["support_plan"] = fields["plan"]


def _quality_check(result: str, key: str) -> Effect:
    def effect(case: CaseFile, fields: dict[str, Any], on: date, policy: Policy) -> None:
        case.dates["quality_checked_on" if result == "passed" else "quality_failed_on"] = on
        case.details["quality_check"] = {"on": on.isoformat(), "result": result, key: list(fields[key])}
        if "findings" in fields:
            case.details["findings"] = fields["findings"]

    return effect


def _schedule_review(case: CaseFile, fields: dict[str, Any], on: date, policy: Policy) -> None:
    case.dates["review_on"] = fields["review_on"]


def _meeting(key: str, kind: str) -> Effect:
    def effect(case: CaseFile, fields: dict[str, Any], on: date, policy: Policy) -> None:
        case.dates[key] = case.dates["last_meeting_on"] = on
        case.details[f"{key}_outcome"] = fields["outcome"]
        case.details.setdefault("meetings", []).append({"on": on.isoformat(), "kind": kind})
        if "hos_attended" in fields:
            case.details["hos_attended"] = fields["hos_attended"]
        due = case.dates.get("review_due")
        if kind == "review" and fields["outcome"] == "inconclusive" and due is not None and on > due:
            # A late inconclusive review reconvenes by the end of the order month after the one it fell in,
            # never on or after the expiry (README decision D1).
            start = case.dates.get("period_start", case.dates["order_date"])
            by = end_of_month(start, month_of(start, on) + 1)
            case.dates["reconvene_by"] = min(by, case.dates["expiry"] - timedelta(days=1))

    return effect


def _minutes(case: CaseFile, fields: dict[str, Any], on: date, policy: Policy) -> None:
    meeting = minuted_meeting(case, fields)
    if meeting is None:  # the validator refused this first
        return
    meeting["minuted_on"] = on.isoformat()
    covered = list(fields.get("agenda", policy.review_agenda))
    case.details.setdefault("minutes", []).append({
        "meeting_on": meeting["on"], "meeting": meeting["kind"], "issued_on": on.isoformat(),
        "distribution": list(fields["distribution"]), "agenda_covered": covered,
        "agenda_not_covered": [i for i in policy.review_agenda if i not in covered],
    })  # fmt: skip
    if meeting["on"] == case.dates["last_meeting_on"].isoformat():
        case.dates["minutes_issued_on"] = on  # the concluding meeting's minutes: the Head of Service decides next


def _minutes_meet(case: CaseFile, fields: dict[str, Any]) -> frozenset[str]:
    """The minutes meet the deadline of the meeting they minute, and only the latest meeting of its kind has one."""
    meeting = minuted_meeting(case, fields)
    if meeting is None:
        return frozenset()
    key, kind = (
        ("review_held_on", "minutes") if meeting["kind"] == "review" else ("reconvened_on", "reconvened_minutes")
    )
    held = case.dates.get(key)
    return frozenset({kind}) if held is not None and held.isoformat() == meeting["on"] else frozenset()


def _minutes_flags(
    case: CaseFile, fields: dict[str, Any], actor: Person, people: Directory, policy: Policy
) -> list[tuple[str, str]]:
    """Minutes that leave out items of the IRO Agenda are accepted, and say so (seed: the agenda "should be added")."""
    agenda = fields.get("agenda")
    missing = [i for i in policy.review_agenda if agenda is not None and i not in agenda]
    return [(NOT_ON_THE_AGENDA, f"not covered: {', '.join(missing)}")] if missing else []


def _hos_decision(decision: str) -> Effect:
    def effect(case: CaseFile, fields: dict[str, Any], on: date, policy: Policy) -> None:
        # "The Head of Service will review with the Team Manager": who took part is kept with the decision
        case.details["hos_decision"] = {"on": on.isoformat(), "decision": decision,
                                        "team_manager": fields["team_manager"]}  # fmt: skip
        if decision == "step_down":
            case.dates["stepped_down_on"] = on
        else:
            case.dates["extension_sought_on"] = on
            case.details["extension_case"] = {k: fields[k] for k in FIVE_QUESTIONS}

    return effect


def _court_extends(case: CaseFile, fields: dict[str, Any], on: date, policy: Policy) -> None:
    start = case.dates["expiry"] + timedelta(days=1)
    new: date = fields["new_expiry"]
    case.dates["expiry"] = new
    case.details.setdefault("extensions", []).append({"from": start.isoformat(), "to": new.isoformat()})
    # The next review at the start of the last quarter of the extended period (default, by analogy with month 9),
    # no date on or after the new expiry (D3); a period under one whole month has none (D2).
    set_review_shape(case, start, extension_review_shape(start, new, policy.extension_review_quarter))


def _quality_check_failed(case: CaseFile, fields: dict[str, Any], actor: Person) -> Raised:
    # "an immediate escalation should be raised with management to ensure agreed actions are fully applied"
    return Raised("quality_check_failed", Role.TEAM_MANAGER, fields["findings"])


def _urgent_review(case: CaseFile, fields: dict[str, Any], actor: Person) -> Raised | None:
    # "an immediate escalation should be raised for an urgent review"
    return Raised("urgent_review", Role.TEAM_MANAGER) if fields["outcome"] == "inconclusive" else None


SW = (Role.SOCIAL_WORKER, Role.TEAM_MANAGER)
IRO = (Role.IRO, Role.IRO_MANAGER)
LEGAL = (Role.LEGAL,)
COURT = (Role.LEGAL, Role.TEAM_MANAGER)  # court outcomes may also be recorded by a team manager
SYSTEM = (Role.SYSTEM,)
CRITERIA = tuple(QUALITY_CRITERIA)
TEAM_MANAGER = person("The Team Manager who took part", Role.TEAM_MANAGER)
PLAN_HINT = "owner: task; owner: task (who is responsible for each task)"

EVENTS = [
    event("allocate_iro", "Allocate a named IRO",
          (Role.SAFEGUARDING_UNIT, Role.SAFEGUARDING_UNIT_MANAGER, Role.IRO_MANAGER),
          fields={"iro": person("The IRO", Role.IRO)}, meets={"iro_allocation"}, effect=_allocate_iro,
          tells=_tell_the_social_worker),
    # a leaver's cases (PROCEDURES §5, rev.): the named IRO or social worker handed to another
    # (the IRO's manager, the social worker's team manager: the leaver's own manager, who reads their cases)
    event("change_iro", "Hand the case to another IRO", (Role.IRO_MANAGER,), owner="iro",
          fields={"iro": person("The new IRO", Role.IRO)}, effect=hand_over("iro")),
    event("change_social_worker", "Hand the case to another social worker", (Role.TEAM_MANAGER,),
          owner="social_worker", fields={"social_worker": person("The new social worker", Role.SOCIAL_WORKER)},
          effect=hand_over("social_worker")),
    event("record_case_summary", "Record the rewritten case summary", SW, owner="social_worker",
          fields={"other_orders": text("Other orders (SGO, CAO …)"),
                  "court_wording": text("Specific wording in the court order"),
                  "plan": tasks("The plan to advise, assist and befriend", marker=TO_FOLLOW,
                                hint=f"{PLAN_HINT}; or {TO_FOLLOW} if it follows the first CIN meeting")},
          meets={"case_summary"}, effect=_case_summary),
    event("record_first_cin_meeting", "Record the first Child-in-Need meeting", SW, owner="social_worker",
          meets={"first_cin_meeting"}, effect=_first_cin),
    event("record_support_plan", "Record the plan to advise, assist and befriend", SW, owner="social_worker",
          fields={"plan": tasks("The plan's tasks and who is responsible for each", hint=PLAN_HINT)},
          meets={"support_plan"}, effect=_support_plan),
    event("pass_quality_check", "Record that the quality check passed", IRO, owner="iro",
          fields={"criteria_met": items("Every criterion, confirmed", *CRITERIA), "note": note()},
          meets={"quality_check"}, effect=_quality_check("passed", "criteria_met")),
    event("fail_quality_check", "Record that the quality check failed", IRO, owner="iro",
          fields={"criteria_not_met": items("The criteria not met", *CRITERIA), "findings": text("Findings")},
          meets={"quality_check"}, effect=_quality_check("failed", "criteria_not_met"), raises=_quality_check_failed),
    event("confirm_remedial_action", "Confirm the agreed actions are applied", (Role.TEAM_MANAGER, Role.HEAD_OF_SERVICE),
          fields={"note": text("What was done")}, meets={"management_response"},
          effect=stamp("remedial_action_on", "note")),
    event("schedule_review", "Schedule the month-9 review", IRO, owner="iro",
          fields={"review_on": date_field("Review date")}, effect=_schedule_review),
    event("hold_review", "Record the review meeting", IRO, owner="iro",
          fields={"outcome": choice("Outcome", "step_down", "extend", "inconclusive")}, meets={"month9_review"},
          effect=_meeting("review_held_on", "review"), raises=_urgent_review, confirm=True),
    event("record_progress", "Record progress after the urgent review", SW, owner="social_worker",
          meets={"progress_check"}, effect=stamp("progress_on")),
    event("progress_check", "No progress two weeks after the meeting", SYSTEM, timer=True),
    event("hold_reconvened_review", "Record the reconvened meeting", IRO, owner="iro",
          fields={"outcome": choice("Outcome", "step_down", "extend"),
                  "hos_attended": flag("The Head of Service attended")},
          meets={"reconvene"}, effect=_meeting("reconvened_on", "reconvened"), confirm=True),
    event("issue_minutes", "Issue the minutes", IRO, owner="iro",
          fields={"distribution": people("Distribution", hint="the participants, the Team Manager and the Head of Service"),
                  "meeting_on": date_field("The meeting minuted", required=False,
                                           hint="default: the latest meeting whose minutes are outstanding"),
                  "agenda": items("The IRO Agenda items covered", required=False,
                                  hint="default: every item of the local policy's review_agenda")},
          meets={"minutes", "reconvened_minutes"}, meets_only=_minutes_meet, effect=_minutes,
          flags=_minutes_flags),
    event("decide_step_down", "Decide to step down", (Role.HEAD_OF_SERVICE,),
          fields={"team_manager": TEAM_MANAGER, "note": note()},
          meets={"hos_decision"}, effect=_hos_decision("step_down"), confirm=True),
    event("decide_seek_extension", "Decide to seek an extension", (Role.HEAD_OF_SERVICE,),
          fields={"team_manager": TEAM_MANAGER,
                  **{key: text(question[0].upper() + question[1:]) for key, question in FIVE_QUESTIONS.items()}},
          meets={"hos_decision"}, effect=_hos_decision("seek_extension"), confirm=True),
    event("approve_application", "Legal Gateway approves the application", LEGAL,
          meets={"legal_gateway"}, effect=stamp("application_approved_on")),
    event("decline_application", "Legal Gateway declines the application", LEGAL,
          meets={"legal_gateway"}, effect=stamp("application_declined_on")),
    event("file_application", "File the application to extend", LEGAL,
          meets={"application_filing"}, effect=stamp("application_filed_on")),
    event("court_extends", "The court extends the order", COURT, fields={"new_expiry": date_field("New expiry")},
          effect=_court_extends, confirm=True),
    event("court_refuses", "The court refuses the extension", COURT, effect=stamp("extension_refused_on"),
          confirm=True),
    event("order_expiry", "The order expires", SYSTEM, timer=True),
    event("discharge", "The court discharges the order", COURT, effect=stamp("discharged_on"), confirm=True),
]  # fmt: skip
