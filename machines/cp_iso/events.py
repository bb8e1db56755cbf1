"""The CP plan + ISO case's events: their fields, who may fire them, what they write, raise, flag and open."""

from __future__ import annotations

from datetime import date
from typing import Any

from machines.calendar import twenty_six_weeks_date
from machines.effects import hand_over, stamp
from machines.model import CaseFile, Directory, Person, Role
from machines.policy import Policy
from machines.spec import Raised, choice, date_field, event, flag, note, people, person, text
from machines.supervision_order import SORegistration

__all__ = ["CPC", "EVENTS", "NOT_MINUTED", "NOT_THREE_WAY", "SW"]

NOT_THREE_WAY = "not a 3-way discussion"
NOT_MINUTED = "concurrency decision not confirmed as minuted"
_TIMETABLE = ("issued", "cmh", "irh", "final_hearing")


def _inform_cpc(case: CaseFile, fields: dict[str, Any], on: date, policy: Policy) -> None:
    """The CPC is made aware of the ISO and of the court timetable as known that day (§3, rev.)."""
    case.dates["cpc_informed_on"] = on
    if "issued" in fields and "issued" not in case.dates:
        case.dates["twenty_six_weeks"] = twenty_six_weeks_date(fields["issued"])
    for key in _TIMETABLE:
        if key in fields:
            case.dates[key] = fields[key]


def _three_way(case: CaseFile, fields: dict[str, Any], on: date, policy: Policy) -> None:
    case.dates["three_way_discussion_on"] = on
    case.details["three_way_decision"] = fields["decision"]
    case.details["case_note"] = fields["case_note"]
    case.details["three_way_participants"] = list(fields["participants"])
    if "move_review_to" in fields:
        case.dates["next_review"] = fields["move_review_to"]
    if fields["decision"] == "step_down":
        case.dates["step_down_proposed_on"] = on
    else:  # "this should be case noted on the child's file and in the minutes from the next CP review"
        case.dates["concurrency_decided_on"] = on


def _three_way_flags(
    case: CaseFile, fields: dict[str, Any], actor: Person, people: Directory, policy: Policy
) -> list[tuple[str, str]]:
    """Seed: "a 3-way discussion with social worker, their team manager and the CPC": accepted without one of them,
    and flagged. The actor (a CPC or CPC team manager) is the CPC; "their team manager" is the social worker's own."""
    present = {*fields["participants"], actor.user}
    roles = {p.role for p in (people.get(u) for u in present) if p is not None}
    absent = []
    sw_user = case.people.get("social_worker")
    sw = people.get(sw_user) if sw_user else None
    if sw_user is not None and sw_user not in present:
        absent.append(f"{sw_user} (social_worker)")
    elif sw_user is None and Role.SOCIAL_WORKER not in roles:
        absent.append("a social_worker")
    tm = people.get(sw.manager) if sw is not None and sw.manager else None
    if tm is not None and tm.role is Role.TEAM_MANAGER:
        if tm.user not in present:
            absent.append(f"{tm.user} (team_manager)")
    elif Role.TEAM_MANAGER not in roles:
        absent.append("a team_manager")
    return [(NOT_THREE_WAY, "without " + ", ".join(absent))] if absent else []


def _midway(case: CaseFile, fields: dict[str, Any], on: date, policy: Policy) -> None:
    case.dates["midway_discussion_on"] = on
    if fields["decision"] == "step_down":
        case.dates["step_down_proposed_on"] = on


def _cp_review(case: CaseFile, fields: dict[str, Any], on: date, policy: Policy) -> None:
    case.dates["last_review"] = case.dates["cycle_start"] = on
    case.details["last_review_outcome"] = fields["outcome"]
    decided = case.dates.pop("concurrency_decided_on", None)
    if decided is not None:
        case.details.setdefault("concurrency_minuted", []).append(
            {"decided_on": decided.isoformat(), "review_on": on.isoformat(),
             "confirmed": fields.get("concurrency_minuted") is True})  # fmt: skip
    if fields["outcome"] == "continue_plan":
        case.dates["next_review"] = fields["next_review"]
    else:
        case.dates.pop("next_review", None)


def _cp_review_flags(
    case: CaseFile, fields: dict[str, Any], actor: Person, people: Directory, policy: Policy
) -> list[tuple[str, str]]:
    """The first CP review after a decision to run concurrently confirms it was minuted (§3, rev.; decision D4)."""
    decided = case.dates.get("concurrency_decided_on")
    if decided is None or fields.get("concurrency_minuted") is True:
        return []
    return [(NOT_MINUTED, f"decided at the 3-way discussion of {decided.isoformat()}")]


def _guardian_contact(case: CaseFile, fields: dict[str, Any], on: date, policy: Policy) -> None:
    case.dates["last_guardian_contact"] = on
    case.details["guardian_contacts"] = int(case.details.get("guardian_contacts", 0)) + 1


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


SW = (Role.SOCIAL_WORKER, Role.TEAM_MANAGER)
CPC = (Role.CPC, Role.CPC_TEAM_MANAGER)
COURT = (Role.LEGAL, Role.TEAM_MANAGER)  # court outcomes may also be recorded by a team manager
AS_KNOWN = "as known today"

EVENTS = [
    event("inform_cpc", "Make the CPC aware of the ISO and the court timetable", SW, owner="social_worker",
          fields={"issued": date_field("Proceedings issued on", required=False,
                                       hint="required unless already recorded: the 26-week date runs from it"),
                  "cmh": date_field("Case management hearing", required=False, hint=AS_KNOWN),
                  "irh": date_field("Issues resolution hearing", required=False, hint=AS_KNOWN),
                  "final_hearing": date_field("Final hearing", required=False, hint=AS_KNOWN),
                  "note": note()},
          meets={"inform_cpc"}, effect=_inform_cpc),
    event("hold_three_way_discussion", "Record the 3-way discussion", CPC,
          fields={"decision": choice("Decision", "step_down", "concurrent"),
                  "case_note": text("Case note reference"),
                  "participants": people("Who took part", hint="the social worker, their team manager, the CPC"),
                  "move_review_to": date_field("Move the next CP review to", required=False)},
          meets={"three_way_discussion"}, effect=_three_way, flags=_three_way_flags),
    event("complete_single_assessment", "Record the single assessment as complete", SW, owner="social_worker",
          meets={"single_assessment"}, effect=stamp("single_assessment_on")),
    event("hold_midway_discussion", "Record the midway discussion", CPC,
          fields={"decision": choice("Decision", "continue", "step_down"), "note": note()},
          meets={"midway_discussion"}, effect=_midway),
    event("hold_cp_review", "Record the CP review conference", CPC,
          fields={"outcome": choice("Outcome", "end_plan", "continue_plan"),
                  "next_review": date_field("Next review date", required=False,
                                            hint="with continue_plan: no more than 6 months away"),
                  "concurrency_minuted": flag("The decision to run concurrently is in this review's minutes",
                                              hint="the first review after a 3-way discussion decided 'concurrent'")},
          meets={"cp_review"}, effect=_cp_review, flags=_cp_review_flags, confirm=True),
    event("invite_guardian", "Invite the Children's Guardian to the review", CPC, meets={"guardian_invitation"},
          effect=stamp("guardian_invited_on")),
    event("change_social_worker", "Hand the case to another social worker", (Role.TEAM_MANAGER,),
          owner="social_worker", fields={"social_worker": person("The new social worker", Role.SOCIAL_WORKER)},
          effect=hand_over("social_worker")),
    event("record_guardian_contact", "Record a contact with the Children's Guardian", CPC,
          effect=_guardian_contact),
    event("record_final_hearing", "Record the final hearing", COURT,
          fields={"outcome": choice("Outcome", "supervision_order", "care_order", "no_order", "other"),
                  "so_case": text("Reference for the new Supervision Order case", required=False)},
          meets={"twenty_six_weeks"}, effect=_final_hearing, opens=_linked_so, confirm=True),
    event("extend_proceedings", "Record a court extension of proceedings", COURT,
          fields={"new_date": date_field("The new 26-week date")}, effect=_extend_proceedings),
    event("raise_disagreement", "Raise a disagreement about the CP plan", (*SW, *CPC),
          fields={"note": text("What the disagreement is")}, raises=_disagreement),
]  # fmt: skip
