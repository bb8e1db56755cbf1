"""One scenario per row of PROCEDURES §3 (the CP plan + ISO table) and per rule below it, through the CLI.

The dates the tests share, with every due date worked out by hand:

    ISO granted Mon 2026-06-01; last CP review Wed 2026-05-20, next review Thu 2026-08-20 (WT limit: 6 months after
    the last review, 2026-11-20); proceedings issued Mon 2026-03-02, so the 26-week date is 2026-08-30.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Cli
from tests.test_refusals import CP, CP_STEPS, ISSUED, PARTICIPANTS, _build, cp_register, fire
from tests.test_scenarios_so import deadline, escalations, ok, open_kinds

TODAY = "2027-12-31"


@pytest.fixture(autouse=True)
def _pinned_today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERWATCH_TODAY", TODAY)


def build(cli: Cli, state: str, *extra: str, first_review: bool = False) -> None:
    """CP-1 (sw1), with proceedings issued 2026-03-02, brought to ``state``."""
    _build(cli, CP, cp_register(CP, "--issued", "2026-03-02", *extra, first_review=first_review), CP_STEPS, state)


def shown(cli: Cli, ref: str = CP) -> dict[str, Any]:
    return ok(cli, "show", ref)  # type: ignore[no-any-return]


def status(cli: Cli, kind: str, due_on: str) -> str:
    """The status of the case's deadline of ``kind`` due on ``due_on``."""
    found = [d["status"] for d in shown(cli)["deadlines"] if d["kind"] == kind and d["due_on"] == due_on]
    assert len(found) == 1, (kind, due_on, found)
    return found[0]


def assert_armed(cli: Cli, state: str, armed: dict[str, str]) -> None:
    assert shown(cli)["state"] == state
    opened = open_kinds(cli, CP)
    for kind, due in armed.items():
        assert opened.get(kind) == due, f"{kind}: armed {opened.get(kind)}, PROCEDURES says {due}"


# -- the table, row by row ----------------------------------------------------------------------------------------------


def test_iso_granted_arms_inform_cpc_and_the_26_week_date(cli: Cli) -> None:
    build(cli, "iso_granted")
    # inform_cpc: 1 WD after Mon 06-01; 26 weeks: 2026-03-02 + 182 days - 1 = 2026-08-30
    assert_armed(cli, "iso_granted", {"inform_cpc": "2026-06-02", "twenty_six_weeks": "2026-08-30"})
    assert shown(cli)["dates"]["twenty_six_weeks"] == "2026-08-30"
    assert ok(cli, *fire(CP, "inform_cpc", "sw1", "2026-06-02"))["to"] == "discussion_pending"
    assert deadline(cli, "inform_cpc", CP)["status"] == "met"


@pytest.mark.parametrize(("decision", "to"), [("concurrent", "concurrent"), ("step_down", "step_down_proposed")])
def test_discussion_pending_arms_the_three_way_discussion(cli: Cli, decision: str, to: str) -> None:
    build(cli, "discussion_pending")  # CPC informed Tue 06-02
    # 5 WD after Tue 06-02: 3, 4, 5, 8, 9
    assert_armed(cli, "discussion_pending", {"three_way_discussion": "2026-06-09"})
    refused = cli(*fire(CP, "hold_three_way_discussion", "cpc1", "2026-06-09", f"decision={decision}",
                        PARTICIPANTS))  # fmt: skip
    assert refused.rc == 2 and "case_note" in refused.err  # a case note reference is required
    moved = ok(cli, *fire(CP, "hold_three_way_discussion", "cpc1", "2026-06-09", f"decision={decision}",
                          "case_note=CN-7", PARTICIPANTS))  # fmt: skip
    assert moved["to"] == to and deadline(cli, "three_way_discussion", CP)["status"] == "met"


def test_concurrent_arms_midway_review_and_guardian_invitation(cli: Cli) -> None:
    build(cli, "concurrent")  # 3-way discussion Fri 06-05
    # midway between 05-20 and 08-20 (92 days): 05-20 + 46 = 07-05; guardian: 5 WD before Thu 08-20 = Thu 08-13
    assert_armed(cli, "concurrent",
                 {"midway_discussion": "2026-07-05", "cp_review": "2026-08-20", "guardian_invitation": "2026-08-13"})  # fmt: skip
    ok(cli, *fire(CP, "hold_midway_discussion", "cpc1", "2026-07-03", "decision=continue"))
    assert shown(cli)["state"] == "concurrent" and deadline(cli, "midway_discussion", CP)["status"] == "met"
    ok(cli, *fire(CP, "invite_guardian", "cpc1", "2026-08-13"))
    assert deadline(cli, "guardian_invitation", CP)["status"] == "met"
    # the review continues the plan and sets the next, within 6 months of this one (limit 2027-02-20)
    moved = ok(cli, *fire(CP, "hold_cp_review", "cpc1", "2026-08-20", "outcome=continue_plan",
                          "next_review=2027-02-18"))  # fmt: skip
    assert moved["to"] == "concurrent" and status(cli, "cp_review", "2026-08-20") == "met"
    # the next cycle: midway between 08-20 and 2027-02-18 (182 days) = 08-20 + 91 = 11-19;
    # guardian: 5 WD before Thu 2027-02-18 = 17, 16, 15, 12, 11 -> Thu 2027-02-11
    assert_armed(cli, "concurrent",
                 {"midway_discussion": "2026-11-19", "cp_review": "2027-02-18", "guardian_invitation": "2027-02-11"})  # fmt: skip


def test_concurrent_midway_discussion_may_step_down(cli: Cli) -> None:
    build(cli, "concurrent")
    moved = ok(cli, *fire(CP, "hold_midway_discussion", "cpc1", "2026-07-03", "decision=step_down"))
    assert moved["to"] == "step_down_proposed"
    # single assessment: 5 WD before Thu 08-20 = Thu 08-13; the review stays where it was
    assert_armed(cli, "step_down_proposed", {"single_assessment": "2026-08-13", "cp_review": "2026-08-20"})


def test_concurrent_review_may_end_the_plan(cli: Cli) -> None:
    build(cli, "concurrent")
    moved = ok(cli, *fire(CP, "hold_cp_review", "cpc1", "2026-08-20", "outcome=end_plan"))
    assert moved["to"] == "cin_with_court_oversight"
    assert set(open_kinds(cli, CP)) == {"twenty_six_weeks"}  # the court's timetable still runs


@pytest.mark.parametrize(("outcome", "to"), [("end_plan", "cin_with_court_oversight"), ("continue_plan", "concurrent")])
def test_step_down_proposed_arms_single_assessment_and_review(cli: Cli, outcome: str, to: str) -> None:
    build(cli, "step_down_proposed")  # 3-way discussion Fri 06-05 decided step down
    assert_armed(cli, "step_down_proposed", {"single_assessment": "2026-08-13", "cp_review": "2026-08-20"})
    ok(cli, *fire(CP, "complete_single_assessment", "sw1", "2026-08-13"))
    assert shown(cli)["state"] == "step_down_proposed"
    assert deadline(cli, "single_assessment", CP)["status"] == "met"
    fields = ("next_review=2027-02-18",) if outcome == "continue_plan" else ()
    moved = ok(cli, *fire(CP, "hold_cp_review", "cpc1", "2026-08-20", f"outcome={outcome}", *fields))
    assert moved["to"] == to and status(cli, "cp_review", "2026-08-20") == "met"


def test_cin_with_court_oversight_waits_for_the_final_hearing(cli: Cli) -> None:
    build(cli, "concurrent")
    ok(cli, *fire(CP, "hold_cp_review", "cpc1", "2026-08-20", "outcome=end_plan"))
    moved = ok(cli, *fire(CP, "record_final_hearing", "legal1", "2026-08-27", "outcome=no_order"))
    assert moved["to"] == "proceedings_concluded"
    assert deadline(cli, "twenty_six_weeks", CP)["status"] == "met"


def test_proceedings_concluded_is_final(cli: Cli) -> None:
    build(cli, "proceedings_concluded")
    assert [d for d in shown(cli)["deadlines"] if d["status"] == "open"] == []
    refused = cli(*fire(CP, "inform_cpc", "sw1", "2026-06-11"))
    assert refused.rc == 2 and "proceedings_concluded" in refused.err


# -- the rules below the table -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["iso_granted", "discussion_pending", "concurrent", "step_down_proposed"])
def test_the_final_hearing_concludes_from_every_live_state(cli: Cli, state: str) -> None:
    build(cli, state)
    assert ok(cli, *fire(CP, "record_final_hearing", "tm1", "2026-07-01", "outcome=care_order"))["to"] == (
        "proceedings_concluded"
    )  # court outcomes may also be recorded by the team manager


def test_a_final_supervision_order_opens_the_linked_so_case(cli: Cli) -> None:
    build(cli, "concurrent")
    moved = ok(cli, *fire(CP, "record_final_hearing", "legal1", "2026-08-27", "outcome=supervision_order",
                          "so_case=SO-9"))  # fmt: skip
    assert moved["to"] == "proceedings_concluded" and moved["opened"] == ["SO-9"]
    so = shown(cli, "SO-9")
    assert so["kind"] == "so" and so["state"] == "registered" and so["links"] == [CP]
    assert so["child"] == shown(cli)["child"] and CP in so["links"] and "SO-9" in shown(cli)["links"]
    # the hearing date is the order date: expiry = end of month 12 = 2027-08-26; iro_allocation 5 WD after
    # Thu 08-27 (the order notified that day; Mon 08-31 is the summer bank holiday): 28, 1, 2, 3, 4 -> Fri 09-04
    assert so["dates"]["order_date"] == "2026-08-27" and so["dates"]["expiry"] == "2027-08-26"
    assert open_kinds(cli, "SO-9")["iro_allocation"] == "2026-09-04"


def test_moving_the_next_review_within_the_working_together_limit(cli: Cli) -> None:
    build(cli, "discussion_pending")
    ok(cli, *fire(CP, "hold_three_way_discussion", "cpc1", "2026-06-05", "decision=concurrent", "case_note=CN-1",
                  PARTICIPANTS, "move_review_to=2026-11-20"))  # fmt: skip  # the limit itself: 6 months after 05-20
    # guardian: 5 WD before Fri 11-20 = Fri 11-13; midway between 05-20 and 11-20 (184 days) = 05-20 + 92 = 08-20
    assert_armed(cli, "concurrent",
                 {"cp_review": "2026-11-20", "guardian_invitation": "2026-11-13", "midway_discussion": "2026-08-20"})  # fmt: skip


@pytest.mark.parametrize(
    ("first_review", "too_late", "limit"),
    [(False, "2026-11-21", "2026-11-20"),  # 6 months after the last review (2026-05-20)
     (True, "2026-08-11", "2026-08-10")],  # the first review: 3 months after the initial conference (2026-05-10)
)  # fmt: skip
def test_moving_the_next_review_past_the_limit_is_refused(
    cli: Cli, first_review: bool, too_late: str, limit: str
) -> None:
    build(cli, "discussion_pending", first_review=first_review)
    refused = cli(*fire(CP, "hold_three_way_discussion", "cpc1", "2026-06-05", "decision=concurrent",
                        "case_note=CN-1", PARTICIPANTS, f"move_review_to={too_late}"))  # fmt: skip
    assert refused.rc == 2 and limit in refused.err
    assert shown(cli)["state"] == "discussion_pending"


def test_a_review_within_10_working_days_of_a_hearing_is_flagged(cli: Cli) -> None:
    # final hearing Thu 08-27 is 5 WD after the review on Thu 08-20: flagged; another case without hearings is not
    _build(cli, CP, cp_register(CP, "--final-hearing", "2026-08-27"), CP_STEPS, "concurrent")
    ok(cli, *cp_register("CP-2"))
    ok(cli, *fire("CP-2", "inform_cpc", "sw1", "2026-06-02", ISSUED))
    ok(cli, *fire("CP-2", "hold_three_way_discussion", "cpc1", "2026-06-05", "decision=concurrent", "case_note=CN-2",
                  PARTICIPANTS))  # fmt: skip
    items = ok(cli, "worklist", "--as-of", "2026-08-14", "--within", "7")
    flags = {(i["case"], i["deadline"]): i["flags"] for i in items}
    assert flags[(CP, "cp_review")] == ["consider moving the review to fit the court timetable"]
    assert flags[("CP-2", "cp_review")] == []


def test_the_26_week_date_passing_without_a_final_hearing_escalates(cli: Cli) -> None:
    build(cli, "concurrent")
    ok(cli, "sweep", "--as-of", "2026-08-30")
    assert deadline(cli, "twenty_six_weeks", CP)["status"] == "open"
    ok(cli, "sweep", "--as-of", "2026-08-31")
    assert deadline(cli, "twenty_six_weeks", CP)["status"] == "missed"
    raised = [e for e in escalations(cli) if e["reason"] == "missed:twenty_six_weeks"]
    assert len(raised) == 1 and raised[0]["raised_to"] == "head_of_service" and raised[0]["raised_on"] == "2026-08-31"


def test_a_court_extension_of_proceedings_moves_the_26_week_date_up_to_8_weeks(cli: Cli) -> None:
    build(cli, "concurrent")
    refused = cli(*fire(CP, "extend_proceedings", "legal1", "2026-08-25", "new_date=2026-10-26"))  # 8 weeks + 1 day
    assert refused.rc == 2 and "8 weeks" in refused.err
    ok(cli, *fire(CP, "extend_proceedings", "legal1", "2026-08-25", "new_date=2026-10-25"))  # 08-30 + 56 days
    assert open_kinds(cli, CP)["twenty_six_weeks"] == "2026-10-25"
    ok(cli, "sweep", "--as-of", "2026-09-01")
    assert not [e for e in escalations(cli) if e["reason"] == "missed:twenty_six_weeks"]


@pytest.mark.parametrize(("state", "by", "to"), [("iso_granted", "sw1", "cpc_team_manager"),
                                                 ("concurrent", "cpc1", "team_manager"),
                                                 ("step_down_proposed", "tm1", "cpc_team_manager")])  # fmt: skip
def test_a_disagreement_is_raised_in_any_live_state_without_moving_the_case(
    cli: Cli, state: str, by: str, to: str
) -> None:
    build(cli, state)
    ok(cli, *fire(CP, "raise_disagreement", by, "2026-06-06", "note=the plan should remain"))
    assert shown(cli)["state"] == state
    raised = [e for e in escalations(cli) if e["reason"] == "disagreement"]
    assert len(raised) == 1 and raised[0]["raised_to"] == to and raised[0]["state"] == "raised"
