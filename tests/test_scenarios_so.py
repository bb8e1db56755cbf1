"""One scenario per row of PROCEDURES §2 (the Supervision Order table) and per rule below it, through the CLI.

Every due date is worked out by hand here, to the day, from the one order the tests share:

    order Thu 2026-01-15, notified Fri 2026-01-16: end of month 8 2026-09-14, so the review shows from 2026-08-15;
    end of month 9 2026-10-14; end of month 10 2026-11-14; expiry 2027-01-14; end of month 36 2029-01-14.

Bank holidays in range: Fri 2026-12-25, Mon 2026-12-28 (Boxing Day's substitute), Fri 2027-01-01.
A deadline is met by its event on or before its day; a sweep for as_of D leaves a deadline due on D open and calls
one due before D missed (PROCEDURES §1).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Cli
from tests.test_refusals import ALL_CRITERIA, ANSWERS, FULL_DISTRIBUTION, SO, WITH_TM, build_so, fire

TODAY = "2027-12-31"  # late enough that every date below is in the past


@pytest.fixture(autouse=True)
def _pinned_today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERWATCH_TODAY", TODAY)


def ok(cli: Cli, *args: str) -> Any:
    ran = cli(*args)
    assert ran.rc == 0, f"orderwatch {' '.join(args)}: {ran.err}"
    return ran.json


def case(cli: Cli, ref: str = SO) -> dict[str, Any]:
    return ok(cli, "show", ref)  # type: ignore[no-any-return]


def deadline(cli: Cli, kind: str, ref: str = SO) -> dict[str, Any]:
    """The case's latest deadline of ``kind`` (not an escalation's)."""
    found = [d for d in case(cli, ref)["deadlines"] if d["kind"] == kind and "escalation" not in d]
    assert found, f"no {kind} deadline on {ref}"
    return found[-1]  # type: ignore[no-any-return]


def open_kinds(cli: Cli, ref: str = SO) -> dict[str, str]:
    return {
        d["kind"]: d["due_on"] for d in case(cli, ref)["deadlines"] if d["status"] == "open" and "escalation" not in d
    }


def escalations(cli: Cli) -> list[dict[str, Any]]:
    return ok(cli, "escalations")  # type: ignore[no-any-return]


def assert_armed(cli: Cli, state: str, armed: dict[str, str]) -> None:
    shown = case(cli)
    assert shown["state"] == state
    opened = open_kinds(cli)
    for kind, due in armed.items():
        assert opened.get(kind) == due, f"{kind}: armed {opened.get(kind)}, PROCEDURES says {due}"


def assert_open_on_its_day_then_missed(cli: Cli, kind: str, due: str, day_after: str, escalate_to: str) -> None:
    """A sweep for the due date leaves it open; the next day's sweep calls it missed and raises its escalation."""
    ok(cli, "sweep", "--as-of", due)
    assert deadline(cli, kind)["status"] == "open"
    ok(cli, "sweep", "--as-of", day_after)
    assert deadline(cli, kind)["status"] == "missed"
    raised = [e for e in escalations(cli) if e["reason"] == f"missed:{kind}"]
    assert len(raised) == 1 and raised[0]["raised_to"] == escalate_to and raised[0]["raised_on"] == day_after


# -- the table, row by row ----------------------------------------------------------------------------------------------


def test_registered_arms_iro_allocation_case_summary_and_expiry(cli: Cli) -> None:
    build_so("registered")(cli)
    # iro_allocation: 5 WD after Fri 01-16 -> Fri 01-23; case_summary: 10 WD -> Fri 01-30; expiry = end of month 12
    assert_armed(cli, "registered",
                 {"iro_allocation": "2026-01-23", "case_summary": "2026-01-30", "order_expiry": "2027-01-14"})  # fmt: skip
    shown = case(cli)
    assert shown["dates"]["expiry"] == "2027-01-14" and shown["dates"]["extension_limit"] == "2029-01-14"
    moved = ok(cli, *fire(SO, "allocate_iro", "su1", "2026-01-23", "iro=iro1"))  # on the due day: met
    assert moved["to"] == "awaiting_first_cin"
    assert deadline(cli, "iro_allocation")["status"] == "met"
    assert case(cli)["people"]["iro"] == "iro1"
    # the case summary is recorded in any state (here the next one), without moving the case; on its day: met
    # (rev.) the plan is tasks with owners, or to_follow (it follows the first CIN meeting)
    ok(cli, *fire(SO, "record_case_summary", "sw1", "2026-01-30", "other_orders=none", "court_wording=as sealed",
                  "plan=to_follow"))  # fmt: skip
    assert deadline(cli, "case_summary")["status"] == "met"
    assert case(cli)["state"] == "awaiting_first_cin"


def test_awaiting_first_cin_arms_the_first_cin_meeting(cli: Cli) -> None:
    build_so("awaiting_first_cin")(cli)
    # 15 WD after Thu 01-15: Fri 16 (1), 19-23 (6), 26-30 (11), Mon 02-02 .. Thu 02-05 (15)
    assert_armed(cli, "awaiting_first_cin", {"first_cin_meeting": "2026-02-05"})
    assert ok(cli, *fire(SO, "record_first_cin_meeting", "sw1", "2026-02-05"))["to"] == "quality_check_due"
    assert deadline(cli, "first_cin_meeting")["status"] == "met"


def test_quality_check_due_arms_the_quality_check_and_passes(cli: Cli) -> None:
    build_so("quality_check_due")(cli)  # first CIN meeting Tue 02-03
    # 10 WD after Tue 02-03: Wed 4, Thu 5, Fri 6 (3), 9-13 (8), Mon 16 (9), Tue 17 (10)
    assert_armed(cli, "quality_check_due", {"quality_check": "2026-02-17"})
    assert ok(cli, *fire(SO, "pass_quality_check", "iro1", "2026-02-17", ALL_CRITERIA))["to"] == "plan_in_progress"
    assert deadline(cli, "quality_check")["status"] == "met"


def test_a_failed_quality_check_escalates_at_once(cli: Cli) -> None:
    build_so("quality_check_due")(cli)
    refused = cli(*fire(SO, "fail_quality_check", "iro1", "2026-02-10", "criteria_not_met=plan_smart"))
    assert refused.rc == 2 and "findings" in refused.err  # findings required
    assert ok(cli, *fire(SO, "fail_quality_check", "iro1", "2026-02-10", "criteria_not_met=plan_smart",
                         "findings=plan not SMART"))["to"] == "quality_escalated"  # fmt: skip
    raised = [e for e in escalations(cli) if e["reason"] == "quality_check_failed"]
    assert len(raised) == 1 and raised[0]["raised_on"] == "2026-02-10" and raised[0]["state"] == "raised"


def test_quality_escalated_arms_the_management_response(cli: Cli) -> None:
    build_so("quality_escalated")(cli)  # failed Tue 02-10
    # 5 WD after Tue 02-10: 11, 12, 13, 16, 17
    assert_armed(cli, "quality_escalated", {"management_response": "2026-02-17"})
    moved = ok(cli, *fire(SO, "confirm_remedial_action", "tm1", "2026-02-16", "note=actions re-agreed"))
    assert moved["to"] == "plan_in_progress"
    assert deadline(cli, "management_response")["status"] == "met"


def test_plan_in_progress_arms_the_month_9_review_shown_from_month_8(cli: Cli) -> None:
    build_so("plan_in_progress")(cli)
    assert_armed(cli, "plan_in_progress", {"month9_review": "2026-10-14"})  # end of month 9

    def on_worklist(as_of: str) -> bool:
        items = ok(cli, "worklist", "--as-of", as_of, "--within", "0")
        return any(i["case"] == SO and i["deadline"] == "month9_review" for i in items)

    assert not on_worklist("2026-08-14") and on_worklist("2026-08-15")  # start of month 8
    moved = ok(cli, *fire(SO, "schedule_review", "iro1", "2026-09-01", "review_on=2026-10-14"))  # the limit itself
    assert moved["to"] == "review_scheduled"


@pytest.mark.parametrize(
    ("outcome", "to"), [("step_down", "minutes_pending"), ("extend", "minutes_pending"),
                        ("inconclusive", "urgent_review")],
)  # fmt: skip
def test_review_scheduled_keeps_the_month_9_review_and_the_outcome_decides(cli: Cli, outcome: str, to: str) -> None:
    build_so("review_scheduled")(cli)  # scheduled for Thu 10-01
    assert_armed(cli, "review_scheduled", {"month9_review": "2026-10-14"})
    assert ok(cli, *fire(SO, "hold_review", "iro1", "2026-10-01", f"outcome={outcome}"))["to"] == to
    assert deadline(cli, "month9_review")["status"] == "met"
    # minutes: 10 WD after Thu 10-01: Fri 2 (1), 5-9 (6), 12-15 (10)
    assert open_kinds(cli)["minutes"] == "2026-10-15"


def test_urgent_review_arms_minutes_progress_check_and_reconvene(cli: Cli) -> None:
    build_so("urgent_review")(cli)  # inconclusive meeting Thu 10-01
    # minutes 10 WD -> Thu 10-15; progress check: two weeks -> Thu 10-15; reconvene: end of month 10
    assert_armed(cli, "urgent_review",
                 {"minutes": "2026-10-15", "progress_check": "2026-10-15", "reconvene": "2026-11-14"})  # fmt: skip
    raised = [e for e in escalations(cli) if e["reason"] == "urgent_review"]
    assert len(raised) == 1  # "an immediate escalation … for an urgent review"
    # issue_minutes records this meeting's minutes without moving the case
    ok(cli, *fire(SO, "issue_minutes", "iro1", "2026-10-08", FULL_DISTRIBUTION))
    assert case(cli)["state"] == "urgent_review" and deadline(cli, "minutes")["status"] == "met"
    assert ok(cli, *fire(SO, "record_progress", "sw1", "2026-10-15"))["to"] == "reconvene_pending"
    assert deadline(cli, "progress_check")["status"] == "met"  # progress came within the two weeks


def test_no_progress_two_weeks_after_the_meeting_escalates_to_the_head_of_service(cli: Cli) -> None:
    build_so("urgent_review")(cli)
    ok(cli, "sweep", "--as-of", "2026-10-15")  # due that day: still open
    assert case(cli)["state"] == "urgent_review"
    ok(cli, "sweep", "--as-of", "2026-10-16")
    assert case(cli)["state"] == "escalated_to_hos"
    assert deadline(cli, "progress_check")["status"] == "missed"
    raised = [e for e in escalations(cli) if e["reason"] == "missed:progress_check"]
    assert len(raised) == 1 and raised[0]["raised_to"] == "head_of_service" and raised[0]["raised_on"] == "2026-10-16"


def test_escalated_to_hos_keeps_minutes_and_reconvene_and_needs_the_hos(cli: Cli) -> None:
    build_so("escalated_to_hos")(cli)  # swept as of 10-20: the minutes (due 10-15) were missed on the way
    assert_armed(cli, "escalated_to_hos", {"reconvene": "2026-11-14"})
    assert deadline(cli, "minutes")["status"] == "missed"
    refused = cli(*fire(SO, "hold_reconvened_review", "iro1", "2026-10-28", "outcome=step_down"))
    assert refused.rc == 2 and "Head of Service must attend" in refused.err
    moved = ok(cli, *fire(SO, "hold_reconvened_review", "iro1", "2026-10-28", "outcome=step_down",
                          "hos_attended=true"))  # fmt: skip
    assert moved["to"] == "minutes_pending"
    assert deadline(cli, "reconvene")["status"] == "met"
    # (rev.) each meeting its own minutes: the reconvened meeting's, Wed 10-28: 29, 30 (2), 11-02..06 (7), 9, 10, 11
    assert open_kinds(cli)["reconvened_minutes"] == "2026-11-11"


def test_reconvene_pending_keeps_minutes_and_reconvene(cli: Cli) -> None:
    build_so("reconvene_pending")(cli)  # progress recorded Sat 10-10
    assert_armed(cli, "reconvene_pending", {"minutes": "2026-10-15", "reconvene": "2026-11-14"})
    moved = ok(cli, *fire(SO, "hold_reconvened_review", "iro1", "2026-11-14", "outcome=extend"))  # on the limit
    assert moved["to"] == "minutes_pending" and deadline(cli, "reconvene")["status"] == "met"
    # (rev.) the reconvened meeting's own minutes: 10 WD after Sat 11-14: 16-20 (5), 23-27 (10)
    assert open_kinds(cli)["reconvened_minutes"] == "2026-11-27"


def test_minutes_pending_arms_the_minutes_and_their_distribution(cli: Cli) -> None:
    build_so("minutes_pending")(cli)  # review held Thu 10-01, outcome extend
    assert_armed(cli, "minutes_pending", {"minutes": "2026-10-15"})
    refused = cli(*fire(SO, "issue_minutes", "iro1", "2026-10-05", "distribution=tm1,sw1,iro1"))
    assert refused.rc == 2 and "Head of Service" in refused.err
    moved = ok(cli, *fire(SO, "issue_minutes", "iro1", "2026-10-05", FULL_DISTRIBUTION))
    assert moved["to"] == "hos_decision_pending" and deadline(cli, "minutes")["status"] == "met"


@pytest.mark.parametrize(
    ("decision", "fields", "to"),
    [("decide_step_down", (WITH_TM,), "stepping_down"),
     ("decide_seek_extension", (WITH_TM, *(f"{k}={v}" for k, v in ANSWERS.items())), "legal_gateway")],
)  # fmt: skip
def test_hos_decision_pending_arms_the_decision(cli: Cli, decision: str, fields: tuple[str, ...], to: str) -> None:
    build_so("hos_decision_pending")(cli)  # minutes issued Mon 10-05
    # 10 WD after Mon 10-05: 6-9 (4), 12-16 (9), Mon 19 (10)
    assert_armed(cli, "hos_decision_pending", {"hos_decision": "2026-10-19"})
    assert ok(cli, *fire(SO, decision, "hos1", "2026-10-19", *fields))["to"] == to
    assert deadline(cli, "hos_decision")["status"] == "met"


def test_the_five_answers_are_kept_with_the_decision(cli: Cli) -> None:
    build_so("legal_gateway")(cli)
    logged = [e for e in ok(cli, "history", SO) if e["event"] == "decide_seek_extension"]
    assert len(logged) == 1 and logged[0]["payload"] == {"team_manager": "tm1", **ANSWERS}


@pytest.mark.parametrize(("event", "to"), [("approve_application", "extension_application"),
                                           ("decline_application", "stepping_down")])  # fmt: skip
def test_legal_gateway_arms_its_deadline(cli: Cli, event: str, to: str) -> None:
    build_so("legal_gateway")(cli)  # decided Thu 10-08
    # 10 WD after Thu 10-08: Fri 9 (1), 12-16 (6), 19-22 (10)
    assert_armed(cli, "legal_gateway", {"legal_gateway": "2026-10-22"})
    assert ok(cli, *fire(SO, event, "legal1", "2026-10-20"))["to"] == to
    assert deadline(cli, "legal_gateway")["status"] == "met"


def test_extension_application_is_filed_20_working_days_before_expiry(cli: Cli) -> None:
    build_so("extension_application")(cli)
    # 20 WD before Thu 2027-01-14: 13, 12, 11, 8, 7, 6, 5, 4 (8); 1 Jan, 28 and 25 Dec are bank holidays;
    # 31, 30, 29 (11), 24, 23, 22, 21 (15), 18, 17, 16, 15, 14 (20)
    assert_armed(cli, "extension_application", {"application_filing": "2026-12-14"})
    assert ok(cli, *fire(SO, "file_application", "legal1", "2026-12-14"))["to"] == "extension_pending"
    assert deadline(cli, "application_filing")["status"] == "met"


def test_extension_pending_court_extends_and_the_cycle_repeats(cli: Cli) -> None:
    build_so("extension_pending")(cli)
    assert {k for k in open_kinds(cli) if k not in ("order_expiry", "case_summary", "minutes")} == set()
    moved = ok(cli, *fire(SO, "court_extends", "legal1", "2027-01-05", "new_expiry=2028-01-14"))
    assert moved["to"] == "plan_in_progress"
    shown = case(cli)
    assert shown["dates"]["expiry"] == "2028-01-14"
    # the extended period runs 2027-01-15 .. 2028-01-14 (12 months): the review is due at the start of its last
    # quarter, the start of month 10 of the extension = 2027-10-15; the order now expires on the new date
    assert open_kinds(cli)["month9_review"] == "2027-10-15"
    assert open_kinds(cli)["order_expiry"] == "2028-01-14"


def test_extension_pending_court_refuses(cli: Cli) -> None:
    build_so("extension_pending")(cli)
    assert ok(cli, *fire(SO, "court_refuses", "legal1", "2027-01-05"))["to"] == "stepping_down"


def test_stepping_down_ends_at_expiry_without_an_escalation(cli: Cli) -> None:
    build_so("legal_gateway")(cli)
    ok(cli, *fire(SO, "decline_application", "legal1", "2026-10-20"))
    ok(cli, "sweep", "--as-of", "2027-01-14")  # the expiry day itself: the order still runs
    assert case(cli)["state"] == "stepping_down"
    before = {e["id"] for e in escalations(cli)}
    ok(cli, "sweep", "--as-of", "2027-01-15")
    shown = case(cli)
    assert shown["state"] == "expired" and deadline(cli, "order_expiry")["status"] == "met"
    assert not [e for e in escalations(cli) if e["id"] not in before]  # the order ran its course
    assert [d for d in shown["deadlines"] if d["status"] == "open"] == []  # final: nothing left open


@pytest.mark.parametrize("state", ["registered", "plan_in_progress", "urgent_review", "hos_decision_pending"])
def test_discharge_from_any_live_state_is_final(cli: Cli, state: str) -> None:
    build_so(state)(cli)
    assert ok(cli, *fire(SO, "discharge", "legal1", "2026-11-01"))["to"] == "discharged"
    shown = case(cli)
    assert [d for d in shown["deadlines"] if d["status"] == "open"] == []
    refused = cli(*fire(SO, "allocate_iro", "su1", "2026-11-02", "iro=iro1"))
    assert refused.rc == 2 and "discharged" in refused.err


@pytest.mark.parametrize("state", ["registered", "plan_in_progress", "review_scheduled", "minutes_pending"])
def test_order_expiry_from_any_live_state(cli: Cli, state: str) -> None:
    build_so(state)(cli)
    ok(cli, "sweep", "--as-of", "2027-01-15")
    assert case(cli)["state"] == "expired"
    assert not [e for e in escalations(cli) if e["reason"] == "expired_with_extension_pending"]


@pytest.mark.parametrize("state", ["legal_gateway", "extension_application", "extension_pending"])
def test_expiry_with_an_extension_pending_is_an_escalation(cli: Cli, state: str) -> None:
    build_so(state)(cli)
    ok(cli, "sweep", "--as-of", "2027-01-15")
    assert case(cli)["state"] == "expired"
    raised = [e for e in escalations(cli) if e["reason"] == "expired_with_extension_pending"]
    assert len(raised) == 1 and raised[0]["raised_to"] == "head_of_service" and raised[0]["raised_on"] == "2027-01-15"


# -- every missed deadline raises an escalation to the role named for it ---------------------------------------------


@pytest.mark.parametrize(
    ("state", "kind", "due", "day_after", "escalate_to"),
    [
        # (rev.) to the Safeguarding Unit manager, never back to the unit that missed it
        ("registered", "iro_allocation", "2026-01-23", "2026-01-24", "safeguarding_unit_manager"),
        ("quality_check_due", "quality_check", "2026-02-17", "2026-02-18", "iro_manager"),
        ("plan_in_progress", "month9_review", "2026-10-14", "2026-10-15", "iro_manager"),
        ("minutes_pending", "minutes", "2026-10-15", "2026-10-16", "iro_manager"),
        ("urgent_review", "progress_check", "2026-10-15", "2026-10-16", "head_of_service"),
        ("reconvene_pending", "reconvene", "2026-11-14", "2026-11-15", "head_of_service"),
        ("hos_decision_pending", "hos_decision", "2026-10-19", "2026-10-20", "head_of_service"),
    ],
)
def test_a_missed_deadline_escalates_to_its_role(
    cli: Cli, state: str, kind: str, due: str, day_after: str, escalate_to: str
) -> None:
    build_so(state)(cli)
    assert_open_on_its_day_then_missed(cli, kind, due, day_after, escalate_to)
