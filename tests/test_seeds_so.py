"""Issue 12, items 4 and 6–9 (PROCEDURES §2, rows marked rev.): the notification deadline, the quality check's named
criteria, the 'advise, assist and befriend' plan as tasks and the support plan, the Head of Service deciding with the
Team Manager, and the Safeguarding Unit manager. Through the CLI, on both databases, dates worked out by hand.

SO-1 as in tests/test_refusals.py: made Thu 2026-01-15, notified Fri 2026-01-16, sw1 (tm1, hos1), iro1 (irom1), su1
(sum1). Bank holidays met: Fri 2026-04-03 and Mon 2026-04-06 (Easter), Fri 2026-12-25, Mon 2026-12-28 (substitute),
Fri 2027-01-01, Mon 2027-12-27 and Tue 2027-12-28 (substitutes for Christmas and Boxing Day on a weekend).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from storage.casebook import Casebook
from storage.db import make_engine
from tests.conftest import FIXED_NOW, Cli
from tests.test_refusals import ALL_CRITERIA, ANSWERS, SO, assert_refused, build_cp, build_so, fire
from tests.test_scenarios_so import case, deadline, escalations, ok, open_kinds

TODAY = "2029-12-31"


@pytest.fixture(autouse=True)
def _pinned_today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERWATCH_TODAY", TODAY)


def register(ref: str, order: str, notified: str, actor: str = "sw1", *extra: str) -> tuple[str, ...]:
    return ("so", "register", "--case", ref, "--child", f"C-{ref}", "--order-date", order, "--notified-on", notified,
            "--actor", actor, *extra)  # fmt: skip


def first_entry(cli: Cli, ref: str) -> dict[str, Any]:
    return ok(cli, "history", ref)[0]  # type: ignore[no-any-return]


def esc_deadlines(cli: Cli, ref: str, reason: str) -> dict[str, str]:
    (esc,) = [e for e in escalations(cli) if e["case"] == ref and e["reason"] == reason]
    return {d["kind"]: d["due_on"] for d in case(cli, ref)["deadlines"] if d.get("escalation") == esc["id"]}


# -- item 4: the Safeguarding Unit told "upon the issuing" of the order -----------------------------------------------


@pytest.mark.parametrize(
    ("order", "notified", "due", "met"),
    [
        pytest.param("2026-01-15", "2026-01-16", "2026-01-16", True, id="next-working-day"),
        pytest.param("2026-04-02", "2026-04-07", "2026-04-07", True, id="over-easter"),  # Fri 3, Mon 6 bank holidays
        pytest.param("2026-12-24", "2026-12-29", "2026-12-29", True, id="christmas-2026"),  # 25, 28 bank holidays
        pytest.param("2027-12-24", "2027-12-30", "2027-12-29", False, id="christmas-2027"),  # 27, 28 substitutes
        pytest.param("2026-03-27", "2026-03-30", "2026-03-30", True, id="clocks-forward"),  # BST from Sun 03-29
        pytest.param("2028-02-29", "2028-03-01", "2028-03-01", True, id="leap-day"),
    ],
)
def test_the_notification_is_due_one_working_day_after_the_order(
    cli: Cli, order: str, notified: str, due: str, met: bool
) -> None:
    ok(cli, *register("SO-N", order, notified))
    opened = first_entry(cli, "SO-N")["consequences"]
    assert ["notification", due] in opened["armed"]
    assert ("notification" in opened.get("met", [])) is met
    assert ("notification" in opened.get("missed", [])) is not met
    assert [e["reason"] for e in escalations(cli)] == ([] if met else ["missed:notification"])


def test_a_late_registration_opens_with_the_notification_missed_and_escalated(cli: Cli) -> None:
    ok(cli, *register(SO, "2026-01-15", "2026-01-19"))  # due Fri 01-16, notified Mon 01-19
    (esc,) = escalations(cli)
    assert (esc["reason"], esc["raised_to"], esc["raised_on"]) == ("missed:notification", "team_manager", "2026-01-19")
    # its own deadlines: acknowledge 2 WD (Tue 20, Wed 21), resolve 10 WD (20-23, 26-30, Mon 02-02)
    assert esc_deadlines(cli, SO, "missed:notification") == {
        "escalation_acknowledgement": "2026-01-21", "escalation_resolution": "2026-02-02"}  # fmt: skip
    # the rest counts from the notification: IRO allocation 5 WD (Mon 01-26), case summary 10 WD (Mon 02-02)
    assert (open_kinds(cli)["iro_allocation"], open_kinds(cli)["case_summary"]) == ("2026-01-26", "2026-02-02")
    assert deadline(cli, "notification")["status"] == "missed"
    # the team manager is told (the outbox, written with the registration)
    (notice,) = [n for n in ok(cli, "notifications", "--recipient", "tm1")]
    assert notice["kind"] == "escalation" and notice["reason"] == "missed:notification"


def test_over_easter_a_late_notification_escalates_with_its_dates(cli: Cli) -> None:
    ok(cli, *register(SO, "2026-04-02", "2026-04-08"))  # due Tue 04-07
    # acknowledge: Thu 9, Fri 10; resolve: 9, 10 (2), 13-17 (7), 20, 21, 22 (10)
    assert esc_deadlines(cli, SO, "missed:notification") == {
        "escalation_acknowledgement": "2026-04-10", "escalation_resolution": "2026-04-22"}  # fmt: skip


def test_across_the_clocks_going_forward_the_early_deadlines_keep_their_dates(cli: Cli) -> None:
    # order Fri 2026-03-27, notified Mon 03-30 (BST began Sun 03-29): IRO 5 WD -> Wed 04-08 (Good Friday and Easter
    # Monday skipped), summary 10 WD -> Wed 04-15; the first CIN meeting 15 WD after the order -> Tue 04-21
    ok(cli, *register(SO, "2026-03-27", "2026-03-30"))
    assert (open_kinds(cli)["iro_allocation"], open_kinds(cli)["case_summary"]) == ("2026-04-08", "2026-04-15")
    ok(cli, *fire(SO, "allocate_iro", "su1", "2026-04-08", "iro=iro1"))
    assert open_kinds(cli)["first_cin_meeting"] == "2026-04-21"


def test_the_notification_timescale_is_the_local_policys(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text("notification_wd = 0\n")  # "upon the issuing": the same day
    monkeypatch.setenv("ORDERWATCH_POLICY", str(policy))
    ok(cli, *register(SO, "2026-01-15", "2026-01-16"))
    assert deadline(cli, "notification") == {"kind": "notification", "due_on": "2026-01-15", "status": "missed"}


def test_an_order_opened_by_a_final_hearing_is_notified_on_time(cli: Cli) -> None:
    build_cp("concurrent")(cli)
    ok(cli, *fire("CP-1", "record_final_hearing", "legal1", "2026-08-27", "outcome=supervision_order"))
    assert deadline(cli, "notification", "CP-1-SO") == {"kind": "notification", "due_on": "2026-08-28",
                                                        "status": "met"}  # fmt: skip


# -- item 6: the quality check's named criteria -------------------------------------------------------------------------


def test_a_pass_confirms_every_criterion(cli: Cli, db_url: str) -> None:
    build_so("quality_check_due")(cli)
    assert_refused(cli, db_url, fire(SO, "pass_quality_check", "iro1", "2026-02-10",
                                     "criteria_met=started_timely,plan_smart,la_commitment"),
                   ["every criterion must be confirmed",
                    "missing family_life_impact (the impact on family life has been considered)"])  # fmt: skip
    assert_refused(cli, db_url, fire(SO, "pass_quality_check", "iro1", "2026-02-10", "criteria_met=vibes"),
                   ["criteria_met: unknown item 'vibes'", "started_timely"])  # fmt: skip
    assert ok(cli, *fire(SO, "pass_quality_check", "iro1", "2026-02-10", ALL_CRITERIA))["to"] == "plan_in_progress"
    (entry,) = [h for h in ok(cli, "history", SO) if h["event"] == "pass_quality_check"]
    assert entry["payload"]["criteria_met"] == ["started_timely", "plan_smart", "family_life_impact", "la_commitment"]


def test_a_fail_names_the_criteria_not_met_and_the_findings(cli: Cli, db_url: str) -> None:
    build_so("quality_check_due")(cli)
    assert_refused(cli, db_url, fire(SO, "fail_quality_check", "iro1", "2026-02-10", "findings=drift"),
                   ["fail_quality_check: criteria_not_met is required"])  # fmt: skip
    moved = ok(cli, *fire(SO, "fail_quality_check", "iro1", "2026-02-10", "criteria_not_met=started_timely,plan_smart",
                          "findings=no visits for three weeks"))  # fmt: skip
    assert moved["to"] == "quality_escalated"
    # escalation 1 is the case summary missed on the way (due Fri 01-30); 2 is this one, to the team manager
    assert moved["consequences"]["raised"] == [[2, "quality_check_failed", "team_manager"]]
    assert open_kinds(cli)["management_response"] == "2026-02-17"  # 5 WD after Tue 02-10: 11, 12, 13, 16, 17


# -- item 7: the plan as tasks with owners; the support plan -----------------------------------------------------------


def test_the_plan_is_tasks_each_with_an_owner(cli: Cli, db_url: str) -> None:
    build_so("registered")(cli)
    summary = ("other_orders=none", "court_wording=support contact")
    assert_refused(cli, db_url, fire(SO, "record_case_summary", "sw1", "2026-01-20", *summary,
                                     "plan=sw1: weekly visits; parenting course"),
                   ["record_case_summary: plan: task 2 must be 'owner: task'"])  # fmt: skip
    ok(cli, *fire(SO, "record_case_summary", "sw1", "2026-01-20", *summary,
                  "plan=sw1: weekly home visits; Family Hub: parenting course"))  # fmt: skip
    (entry,) = [h for h in ok(cli, "history", SO) if h["event"] == "record_case_summary"]
    assert entry["payload"]["plan"] == [{"owner": "sw1", "task": "weekly home visits"},
                                        {"owner": "Family Hub", "task": "parenting course"}]  # fmt: skip
    ok(cli, *fire(SO, "allocate_iro", "su1", "2026-01-20", "iro=iro1"))
    ok(cli, *fire(SO, "record_first_cin_meeting", "sw1", "2026-02-03"))
    assert "support_plan" not in open_kinds(cli)  # the plan is known: nothing to follow


def test_a_plan_to_follow_is_due_after_the_first_cin_meeting(cli: Cli) -> None:
    build_so("awaiting_first_cin")(cli)
    ok(cli, *fire(SO, "record_case_summary", "sw1", "2026-01-30", "other_orders=none", "court_wording=as sealed",
                  "plan=to_follow"))  # fmt: skip
    assert "support_plan" not in open_kinds(cli)
    ok(cli, *fire(SO, "record_first_cin_meeting", "sw1", "2026-02-03"))
    # 10 WD after Tue 02-03: 4, 5, 6 (3), 9-13 (8), 16, 17 (10)
    assert open_kinds(cli)["support_plan"] == "2026-02-17"
    done = ok(cli, *fire(SO, "record_support_plan", "sw1", "2026-02-17", "plan=sw1: weekly visits"))
    assert done["to"] == "quality_check_due" and done["consequences"]["met"] == ["support_plan"]


def test_a_missed_support_plan_escalates_to_the_team_manager(cli: Cli) -> None:
    build_so("awaiting_first_cin")(cli)
    ok(cli, *fire(SO, "record_case_summary", "sw1", "2026-01-30", "other_orders=none", "court_wording=as sealed",
                  "plan=to_follow"))  # fmt: skip
    ok(cli, *fire(SO, "record_first_cin_meeting", "sw1", "2026-02-03"))
    ok(cli, "sweep", "--as-of", "2026-02-18")
    (esc,) = [e for e in escalations(cli) if e["reason"] == "missed:support_plan"]
    assert (esc["raised_to"], esc["raised_on"]) == ("team_manager", "2026-02-18")
    # acknowledge: Thu 19, Fri 20; resolve: 19, 20 (2), 23-27 (7), 03-02, 03, 04 (10)
    assert esc_deadlines(cli, SO, "missed:support_plan") == {
        "escalation_acknowledgement": "2026-02-20", "escalation_resolution": "2026-03-04"}  # fmt: skip


def test_a_summary_written_after_the_first_cin_meeting_arms_the_support_plan_already_due(cli: Cli) -> None:
    build_so("quality_check_due")(cli)  # first CIN meeting Tue 02-03
    ok(cli, *fire(SO, "record_case_summary", "sw1", "2026-02-20", "other_orders=none", "court_wording=as sealed",
                  "plan=to_follow"))  # fmt: skip
    assert open_kinds(cli)["support_plan"] == "2026-02-17"  # already past: the lateness is real
    ok(cli, "sweep", "--as-of", "2026-02-21")
    (esc,) = [e for e in escalations(cli) if e["reason"] == "missed:support_plan"]
    assert esc["raised_on"] == "2026-02-20"  # missed on the day it was armed: the log stays in date order


# -- item 8: the Head of Service decides with the Team Manager -----------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "answers"),
    [("decide_step_down", ()), ("decide_seek_extension", tuple(f"{k}={v}" for k, v in ANSWERS.items()))],
)
def test_the_head_of_service_names_the_team_manager_who_took_part(
    cli: Cli, db_url: str, event: str, answers: tuple[str, ...]
) -> None:
    build_so("hos_decision_pending")(cli)  # minutes issued Mon 10-05: decision due Mon 10-19
    assert_refused(cli, db_url, fire(SO, event, "hos1", "2026-10-19", *answers),
                   [f"{event}: team_manager is required"])  # fmt: skip
    assert_refused(cli, db_url, fire(SO, event, "hos1", "2026-10-19", "team_manager=sw1", *answers),
                   [f"{event}: sw1 is a social_worker, not a team_manager"])  # fmt: skip
    # any team manager may sit in (D6): tm2 is not the case's own and is accepted, and recorded
    ok(cli, *fire(SO, event, "hos1", "2026-10-19", "team_manager=tm2", *answers))
    assert deadline(cli, "hos_decision")["status"] == "met"
    (entry,) = [h for h in ok(cli, "history", SO) if h["event"] == event]
    assert entry["payload"]["team_manager"] == "tm2"


# -- item 9: the Safeguarding Unit manager -------------------------------------------------------------------------------


def test_the_safeguarding_unit_manager_hears_of_a_missed_allocation_and_may_allocate(cli: Cli) -> None:
    build_so("registered")(cli)
    ok(cli, "sweep", "--as-of", "2026-01-24")  # due Fri 01-23
    (esc,) = escalations(cli)
    assert (esc["raised_to"], esc["raised_on"]) == ("safeguarding_unit_manager", "2026-01-24")
    assert [(n["kind"], n["recipient"]) for n in ok(cli, "notifications", "--recipient", "sum1")] == [
        ("escalation", "sum1")]  # fmt: skip
    assert ok(cli, *fire(SO, "allocate_iro", "sum1", "2026-01-26", "iro=iro1"))["to"] == "awaiting_first_cin"
    assert ("sum1", "safeguarding_unit_manager", "hos1") in [(p["user"], p["role"], p["manager"])
                                                             for p in ok(cli, "people", "list")]  # fmt: skip


# -- the summary's record, and the procedure version ----------------------------------------------------------------


def test_the_case_summary_carries_the_order_date_and_expiry(cli: Cli, db_url: str) -> None:
    build_so("registered")(cli)
    ok(cli, *fire(SO, "record_case_summary", "sw1", "2026-01-20", "other_orders=SGO", "court_wording=contact",
                  "plan=sw1: weekly visits"))  # fmt: skip
    engine = make_engine(db_url)
    summary = Casebook(engine, clock=lambda: FIXED_NOW).load(SO).details["case_summary"]
    engine.dispose()
    # seed: "The date the Order was made and its planned expiry date" (copied from the case, not typed again)
    assert (summary["order_date"], summary["expiry"], summary["other_orders"]) == ("2026-01-15", "2027-01-14", "SGO")


def test_every_case_records_the_procedure_version(cli: Cli) -> None:
    build_so("registered")(cli)
    assert case(cli)["version"] == "wirral-so-2022.03"  # "This chapter was added in March 2022"
    build_cp("iso_granted")(cli)
    assert case(cli, "CP-1")["version"] == "bradford-cp-iso-1"
