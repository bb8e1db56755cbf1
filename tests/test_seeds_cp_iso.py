"""Issue 12, items 10–15 (PROCEDURES §3, rows marked rev.): the court timetable on ``inform_cpc``, the 3-way
discussion's participants, the single assessment before the plan ends, the Guardian invited to every review, the
concurrency decision minuted, and the CPC's contacts with the Guardian. Through the CLI, on both databases.

CP-1 (tests/test_refusals.py): ISO granted Mon 2026-06-01 for a child whose last CP review was Wed 2026-05-20, the
next Thu 2026-08-20 (Working Together: no later than 2026-11-20); registered by sw1 (tm1) without the issue date.
Bank holidays met: Mon 2026-08-31 (summer), Fri 2026-12-25, Mon 2026-12-28, Fri 2027-01-01.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Cli
from tests.test_refusals import CP, ISSUED, PARTICIPANTS, assert_refused, build_cp, cp_register, fire
from tests.test_scenarios_so import case, deadline, escalations, ok, open_kinds

TODAY = "2029-12-31"
STEP_DOWN = ("decision=step_down", "case_note=CN-1", PARTICIPANTS)
CONCURRENT = ("decision=concurrent", "case_note=CN-1", PARTICIPANTS)


@pytest.fixture(autouse=True)
def _pinned_today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERWATCH_TODAY", TODAY)


def statuses(cli: Cli, kind: str, ref: str = CP) -> list[tuple[str, str]]:
    return [(d["due_on"], d["status"]) for d in case(cli, ref)["deadlines"] if d["kind"] == kind]


def history(cli: Cli, event: str, ref: str = CP) -> list[dict[str, Any]]:
    return [h for h in ok(cli, "history", ref) if h["event"] == event]


# -- item 10: the court timetable on inform_cpc ---------------------------------------------------------------------


def test_inform_cpc_carries_the_issue_date_so_the_26_week_date_is_tracked(cli: Cli, db_url: str) -> None:
    build_cp("iso_granted")(cli)  # registered without --issued
    assert "twenty_six_weeks" not in open_kinds(cli, CP)
    assert_refused(cli, db_url, fire(CP, "inform_cpc", "sw1", "2026-06-02"),
                   ["inform_cpc: the court timetable's issue date is required"])  # fmt: skip
    assert_refused(cli, db_url, fire(CP, "inform_cpc", "sw1", "2026-06-02", "issued=2026-06-02"),
                   ["issue date 2026-06-02 is after the ISO date 2026-06-01"])  # fmt: skip
    moved = ok(cli, *fire(CP, "inform_cpc", "sw1", "2026-06-02", ISSUED))
    # issued Mon 2026-03-02: 26 weeks "beginning with the day" of issue -> Sun 2026-08-30
    assert ["twenty_six_weeks", "2026-08-30"] in moved["consequences"]["armed"]
    assert case(cli, CP)["dates"]["issued"] == "2026-03-02"
    ok(cli, *fire(CP, "hold_three_way_discussion", "cpc1", "2026-06-05", *CONCURRENT))
    ok(cli, "sweep", "--as-of", "2026-08-30")
    assert deadline(cli, "twenty_six_weeks", CP)["status"] == "open"
    ok(cli, "sweep", "--as-of", "2026-08-31")  # the day after is a bank holiday: still the day after
    (esc,) = [e for e in escalations(cli) if e["reason"] == "missed:twenty_six_weeks"]
    assert (esc["raised_to"], esc["raised_on"]) == ("head_of_service", "2026-08-31")
    own = {d["kind"]: d["due_on"] for d in case(cli, CP)["deadlines"] if d.get("escalation") == esc["id"]}
    # acknowledge: Tue 09-01, Wed 09-02; resolve: 1-4 (4), 7-11 (9), Mon 14 (10)
    assert own == {"escalation_acknowledgement": "2026-09-02", "escalation_resolution": "2026-09-14"}
    ok(cli, *fire(CP, "extend_proceedings", "legal1", "2026-09-01", "new_date=2026-10-25"))  # now possible


def test_a_recorded_issue_date_need_not_be_repeated_and_cannot_be_changed(cli: Cli, db_url: str) -> None:
    ok(cli, *cp_register(CP, "--issued", "2026-03-02"))
    assert_refused(cli, db_url, fire(CP, "inform_cpc", "sw1", "2026-06-02", "issued=2026-03-03"),
                   ["the issue date is already recorded as 2026-03-02"])  # fmt: skip
    assert ok(cli, *fire(CP, "inform_cpc", "sw1", "2026-06-02"))["to"] == "discussion_pending"


def test_the_hearings_told_on_inform_cpc_flag_a_review_near_one(cli: Cli) -> None:
    build_cp("iso_granted")(cli)
    ok(cli, *fire(CP, "inform_cpc", "sw1", "2026-06-02", ISSUED, "cmh=2026-06-15", "final_hearing=2026-08-27"))
    ok(cli, *fire(CP, "hold_three_way_discussion", "cpc1", "2026-06-05", *CONCURRENT))
    # the review Thu 08-20 is 5 WD before the final hearing Thu 08-27
    (item,) = [i for i in ok(cli, "worklist", "--as-of", "2026-08-14") if i["deadline"] == "cp_review"]
    assert item["flags"] == ["consider moving the review to fit the court timetable"]


@pytest.mark.parametrize(
    ("iso", "last_review", "next_review", "issued", "weeks_26"),
    [
        pytest.param("2026-06-01", "2026-05-20", "2026-08-20", "2026-02-27", "2026-08-27", id="month-end"),
        pytest.param("2027-09-10", "2027-08-01", "2027-11-01", "2027-09-01", "2028-02-29", id="leap-day"),
    ],
)
def test_the_26_week_date_from_an_issue_date_told_on_inform_cpc(
    cli: Cli, iso: str, last_review: str, next_review: str, issued: str, weeks_26: str
) -> None:
    ok(cli, "cp-iso", "register", "--case", "CP-9", "--child", "C-9", "--iso-date", iso, "--last-review", last_review,
       "--next-review", next_review, "--actor", "sw1")  # fmt: skip
    ok(cli, *fire("CP-9", "inform_cpc", "sw1", iso, f"issued={issued}"))
    assert open_kinds(cli, "CP-9")["twenty_six_weeks"] == weeks_26


# -- item 11: the 3-way discussion's participants --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("participants", "flag"),
    [
        pytest.param("sw1,tm1", None, id="sw-tm-cpc"),
        pytest.param("sw1", "not a 3-way discussion: without tm1 (team_manager)", id="no-team-manager"),
        pytest.param("sw1,tm2", "not a 3-way discussion: without tm1 (team_manager)", id="another-team-manager"),
        pytest.param("tm1", "not a 3-way discussion: without sw1 (social_worker)", id="no-social-worker"),
    ],
)
def test_the_three_way_discussion_records_who_took_part(cli: Cli, participants: str, flag: str | None) -> None:
    build_cp("discussion_pending")(cli)
    moved = ok(cli, *fire(CP, "hold_three_way_discussion", "cpc1", "2026-06-05", "decision=concurrent",
                          "case_note=CN-1", f"participants={participants}"))  # fmt: skip
    assert moved["to"] == "concurrent"  # accepted either way
    assert moved["consequences"].get("flagged") == ([flag] if flag else None)
    (entry,) = history(cli, "hold_three_way_discussion")
    assert entry["payload"]["participants"] == participants.split(",")
    assert entry["consequences"].get("flagged") == ([flag] if flag else None)  # the history shows it
    assert [f["flag"] for f in case(cli, CP)["flags"]] == (["not a 3-way discussion"] if flag else [])


def test_the_participants_must_be_known(cli: Cli, db_url: str) -> None:
    build_cp("discussion_pending")(cli)
    assert_refused(cli, db_url, fire(CP, "hold_three_way_discussion", "cpc1", "2026-06-05", "decision=concurrent",
                                     "case_note=CN-1", "participants=sw1,ghost"),
                   ["unknown person 'ghost'"])  # fmt: skip
    assert_refused(cli, db_url, fire(CP, "hold_three_way_discussion", "cpc1", "2026-06-05", "decision=concurrent",
                                     "case_note=CN-1"),
                   ["hold_three_way_discussion: participants is required"])  # fmt: skip


# -- item 12: the plan does not end before the single assessment ----------------------------------------------------


def test_the_plan_ends_only_after_the_single_assessment(cli: Cli, db_url: str) -> None:
    build_cp("step_down_proposed")(cli)  # the 3-way discussion Fri 06-05 proposed the step-down
    # single assessment: 5 WD before the review Thu 08-20: 19, 18, 17, 14, 13 -> Thu 08-13
    assert open_kinds(cli, CP)["single_assessment"] == "2026-08-13"
    assert_refused(cli, db_url, fire(CP, "hold_cp_review", "cpc1", "2026-08-20", "outcome=end_plan"),
                   ["the CP plan cannot end before the single assessment is completed",
                    "since the step-down was proposed on 2026-06-05"])  # fmt: skip
    ok(cli, *fire(CP, "complete_single_assessment", "sw1", "2026-08-20"))  # late (missed 08-14), but done
    assert ok(cli, *fire(CP, "hold_cp_review", "cpc1", "2026-08-20", "outcome=end_plan"))["to"] == (
        "cin_with_court_oversight"
    )


def test_an_assessment_before_the_latest_step_down_does_not_count(cli: Cli, db_url: str) -> None:
    build_cp("step_down_proposed")(cli)
    ok(cli, *fire(CP, "complete_single_assessment", "sw1", "2026-08-13"))
    # the review continues the plan (not gated), next within 6 months: Thu 2027-02-18
    ok(cli, *fire(CP, "hold_cp_review", "cpc1", "2026-08-20", "outcome=continue_plan", "next_review=2027-02-18"))
    # midway between Thu 08-20 and 2027-02-18 (182 days): 08-20 + 91 = Thu 11-19: a step-down proposed again
    assert open_kinds(cli, CP)["midway_discussion"] == "2026-11-19"
    ok(cli, *fire(CP, "hold_midway_discussion", "cpc1", "2026-11-19", "decision=step_down"))
    # the new assessment: 5 WD before Thu 2027-02-18: 17, 16, 15, 12, 11 -> Thu 2027-02-11
    assert open_kinds(cli, CP)["single_assessment"] == "2027-02-11"
    assert_refused(cli, db_url, fire(CP, "hold_cp_review", "cpc1", "2027-02-18", "outcome=end_plan"),
                   ["since the step-down was proposed on 2026-11-19"])  # fmt: skip
    ok(cli, *fire(CP, "complete_single_assessment", "sw1", "2027-02-11"))
    assert ok(cli, *fire(CP, "hold_cp_review", "cpc1", "2027-02-18", "outcome=end_plan"))["to"] == (
        "cin_with_court_oversight"
    )


# -- item 13: the Guardian invited to every CP review while the ISO is in force -------------------------------------


def test_the_guardian_is_invited_to_the_review_that_decides_a_step_down(cli: Cli) -> None:
    build_cp("iso_granted")(cli)
    # armed on registration: 5 WD before Thu 08-20 -> Thu 08-13
    assert open_kinds(cli, CP)["guardian_invitation"] == "2026-08-13"
    ok(cli, *fire(CP, "inform_cpc", "sw1", "2026-06-02", ISSUED))
    ok(cli, *fire(CP, "hold_three_way_discussion", "cpc1", "2026-06-05", *STEP_DOWN))
    assert statuses(cli, "guardian_invitation") == [("2026-08-13", "open")]  # one invitation, kept across states
    done = ok(cli, *fire(CP, "invite_guardian", "cpc1", "2026-08-13"))
    assert done["to"] == "step_down_proposed" and done["consequences"]["met"] == ["guardian_invitation"]


def test_a_missed_invitation_escalates_to_the_cpc_team_manager(cli: Cli) -> None:
    build_cp("step_down_proposed")(cli)
    ok(cli, "sweep", "--as-of", "2026-08-14")
    (esc,) = [e for e in escalations(cli) if e["reason"] == "missed:guardian_invitation"]
    assert (esc["raised_to"], esc["raised_on"]) == ("cpc_team_manager", "2026-08-14")


def test_the_invitation_follows_the_review_when_it_moves(cli: Cli) -> None:
    build_cp("discussion_pending")(cli)
    ok(cli, *fire(CP, "hold_three_way_discussion", "cpc1", "2026-06-05", *STEP_DOWN, "move_review_to=2026-11-20"))
    # Fri 11-20: 5 WD before -> Fri 11-13; the invitation for 08-20 is cancelled
    assert statuses(cli, "guardian_invitation") == [("2026-08-13", "cancelled"), ("2026-11-13", "open")]


def test_an_invitation_over_christmas(cli: Cli) -> None:
    # review Tue 2027-01-05: 5 WD before: Mon 01-04, Thu 12-31, Wed 12-30, Tue 12-29, Thu 12-24 (1 Jan, 28 and 25 Dec
    # are bank holidays)
    ok(cli, "cp-iso", "register", "--case", "CP-X", "--child", "C-X", "--iso-date", "2026-07-20", "--last-review",
       "2026-07-10", "--next-review", "2027-01-05", "--actor", "sw1")  # fmt: skip
    assert open_kinds(cli, "CP-X")["guardian_invitation"] == "2026-12-24"


def test_an_invitation_whose_date_has_passed_is_due_the_day_it_is_armed(cli: Cli) -> None:
    # ISO Mon 2026-08-17, review Thu 08-20: 5 WD before is Thu 08-13, already past: due Mon 08-17 (D8), not skipped
    ok(cli, "cp-iso", "register", "--case", "CP-L", "--child", "C-L", "--iso-date", "2026-08-17", "--last-review",
       "2026-05-20", "--next-review", "2026-08-20", "--actor", "sw1")  # fmt: skip
    assert open_kinds(cli, "CP-L")["guardian_invitation"] == "2026-08-17"
    ok(cli, "sweep", "--as-of", "2026-08-17")
    assert statuses(cli, "guardian_invitation", "CP-L") == [("2026-08-17", "open")]
    ok(cli, "sweep", "--as-of", "2026-08-18")
    assert statuses(cli, "guardian_invitation", "CP-L") == [("2026-08-17", "missed")]


def test_the_guardian_is_invited_in_every_state_a_review_is_held_in(cli: Cli, db_url: str) -> None:
    build_cp("iso_granted")(cli)
    ok(cli, *fire(CP, "invite_guardian", "cpc1", "2026-06-01"))  # iso_granted
    ok(cli, *fire(CP, "inform_cpc", "sw1", "2026-06-02", ISSUED))
    ok(cli, *fire(CP, "invite_guardian", "cpc1", "2026-06-03"))  # discussion_pending
    ok(cli, *fire(CP, "hold_three_way_discussion", "cpc1", "2026-06-05", *CONCURRENT))
    ok(cli, *fire(CP, "hold_cp_review", "cpc1", "2026-08-20", "outcome=end_plan", "concurrency_minuted=true"))
    assert_refused(cli, db_url, fire(CP, "invite_guardian", "cpc1", "2026-08-21"),
                   ["invite_guardian is not allowed when case CP-1 is cin_with_court_oversight"])  # fmt: skip


# -- item 14: the concurrency decision minuted at the next CP review ------------------------------------------------


@pytest.mark.parametrize("minuted", [True, False])
def test_the_first_review_after_a_concurrent_decision_confirms_it_was_minuted(cli: Cli, minuted: bool) -> None:
    build_cp("concurrent")(cli)  # the 3-way discussion of Fri 06-05 decided: concurrently
    confirmed = ("concurrency_minuted=true",) if minuted else ()
    first = ok(cli, *fire(CP, "hold_cp_review", "cpc1", "2026-08-20", "outcome=continue_plan",
                          "next_review=2027-02-18", *confirmed))  # fmt: skip
    flag = "concurrency decision not confirmed as minuted: decided at the 3-way discussion of 2026-06-05"
    assert first["consequences"].get("flagged") == (None if minuted else [flag])
    (entry,) = history(cli, "hold_cp_review")
    assert entry["consequences"].get("flagged") == (None if minuted else [flag])
    # only the first review is asked
    second = ok(cli, *fire(CP, "hold_cp_review", "cpc1", "2027-02-18", "outcome=continue_plan",
                           "next_review=2027-08-17"))  # fmt: skip
    assert "flagged" not in second["consequences"]


def test_after_a_step_down_decision_the_question_never_arises(cli: Cli) -> None:
    build_cp("step_down_proposed")(cli)
    ok(cli, *fire(CP, "complete_single_assessment", "sw1", "2026-08-13"))
    review = ok(cli, *fire(CP, "hold_cp_review", "cpc1", "2026-08-20", "outcome=end_plan"))
    assert "flagged" not in review["consequences"]


# -- item 15: the CPC and the Guardian keep in touch -----------------------------------------------------------------


def test_guardian_contacts_are_recorded_in_every_live_state(cli: Cli, db_url: str) -> None:
    build_cp("iso_granted")(cli)
    ok(cli, *fire(CP, "record_guardian_contact", "cpc1", "2026-06-01", "note=introduced"))
    assert_refused(cli, db_url, fire(CP, "record_guardian_contact", "sw1", "2026-06-02"),
                   ["sw1 (social_worker) may not record_guardian_contact", "cpc, cpc_team_manager"])  # fmt: skip
    ok(cli, *fire(CP, "inform_cpc", "sw1", "2026-06-02", ISSUED))
    ok(cli, *fire(CP, "record_guardian_contact", "cpctm1", "2026-06-03"))
    ok(cli, *fire(CP, "hold_three_way_discussion", "cpc1", "2026-06-05", *CONCURRENT))
    ok(cli, *fire(CP, "record_guardian_contact", "cpc1", "2026-06-10"))
    ok(cli, *fire(CP, "hold_cp_review", "cpc1", "2026-08-20", "outcome=end_plan", "concurrency_minuted=true"))
    ok(cli, *fire(CP, "record_guardian_contact", "cpc1", "2026-08-21"))  # cin_with_court_oversight
    ok(cli, *fire(CP, "record_final_hearing", "legal1", "2026-08-27", "outcome=care_order"))
    assert_refused(cli, db_url, fire(CP, "record_guardian_contact", "cpc1", "2026-08-28"),
                   ["record_guardian_contact is not allowed when case CP-1 is proceedings_concluded"])  # fmt: skip
    assert len(history(cli, "record_guardian_contact")) == 4


def test_show_gives_the_days_since_the_last_guardian_contact(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    build_cp("iso_granted")(cli)
    monkeypatch.setenv("ORDERWATCH_TODAY", "2026-07-01")
    # no contact yet: counted from the ISO, Mon 06-01 -> 30 days
    assert case(cli, CP)["guardian_contact"] == {"last": None, "days_since": 30, "counted_from": "iso_date"}
    ok(cli, *fire(CP, "record_guardian_contact", "cpc1", "2026-06-10"))
    # Wed 06-10 to Wed 07-01: 21 days
    assert case(cli, CP)["guardian_contact"] == {"last": "2026-06-10", "days_since": 21, "counted_from": "contact"}
