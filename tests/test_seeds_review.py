"""Issue 12, items 1–3 (PROCEDURES §2, rows marked rev.): the month-9 review held *during* month 9 and never a dead
end, shown from the start of month 8; shorter orders and extensions scaled and clipped to the day before expiry; each
meeting's own minutes, the meeting they minute, the author as a recipient, the IRO Agenda. Through the CLI, on both
databases, every date worked out by hand.

The shared order SO-1 (tests/test_refusals.py): made Thu 2026-01-15, notified Fri 2026-01-16, sw1 (tm1, hos1), iro1
(irom1). §1's month ends: month 8 starts Sat 2026-08-15; month 9 runs Tue 2026-09-15 – Wed 2026-10-14; month 10 ends
Sat 2026-11-14; expiry (end of month 12) Thu 2027-01-14. Bank holidays met: Fri 2026-04-03, Mon 2026-04-06 (Easter),
Mon 2026-05-04, Mon 2026-05-25, Fri 2026-12-25, Mon 2026-12-28 (Boxing Day's substitute), Fri 2027-01-01.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cli
from tests.test_refusals import (
    ALL_CRITERIA,
    ANSWERS,
    FULL_DISTRIBUTION,
    SO,
    WITH_TM,
    assert_refused,
    build_so,
    fire,
)
from tests.test_scenarios_so import case, deadline, escalations, ok, open_kinds

TODAY = "2029-12-31"  # every date below is in its past


@pytest.fixture(autouse=True)
def _pinned_today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERWATCH_TODAY", TODAY)


def register(ref: str, order: str, notified: str, *extra: str) -> tuple[str, ...]:
    return ("so", "register", "--case", ref, "--child", f"C-{ref}", "--order-date", order, "--notified-on", notified,
            "--social-worker", "sw1", "--actor", "sw1", *extra)  # fmt: skip


def to_plan_in_progress(cli: Cli, ref: str, allocated: str, first_cin: str, checked: str) -> None:
    """IRO allocated, first CIN meeting held, quality check passed: the review deadline is armed."""
    ok(cli, *fire(ref, "allocate_iro", "su1", allocated, "iro=iro1"))
    ok(cli, *fire(ref, "record_first_cin_meeting", "sw1", first_cin))
    assert ok(cli, *fire(ref, "pass_quality_check", "iro1", checked, ALL_CRITERIA))["to"] == "plan_in_progress"


def on_worklist(cli: Cli, ref: str, kind: str, as_of: str) -> bool:
    items = ok(cli, "worklist", "--as-of", as_of, "--within", "0")
    return any(i["case"] == ref and i["deadline"] == kind for i in items)


def history(cli: Cli, ref: str = SO) -> list[dict[str, Any]]:
    return ok(cli, "history", ref)  # type: ignore[no-any-return]


# -- item 1: the month-9 review -----------------------------------------------------------------------------------------


def test_the_review_is_scheduled_during_month_9(cli: Cli, db_url: str) -> None:
    build_so("plan_in_progress")(cli)
    window = "during month 9 of the order: from 2026-09-15 to 2026-10-14"
    # Tue 2026-09-01: the day before month 9 starts is refused, and so is the day after it ends (still in time)
    for too_early_or_late in ("2026-09-14", "2026-10-15"):
        assert_refused(cli, db_url, fire(SO, "schedule_review", "iro1", "2026-09-01", f"review_on={too_early_or_late}"),
                       [window])  # fmt: skip
    moved = ok(cli, *fire(SO, "schedule_review", "iro1", "2026-09-01", "review_on=2026-09-15"))  # its first day
    assert moved["to"] == "review_scheduled"


def test_a_missed_review_is_still_held_late_never_a_dead_end(cli: Cli, db_url: str) -> None:
    build_so("plan_in_progress")(cli)
    # Wed 2026-10-14, the due day: the review is still due in month 9, so a later date is refused
    assert_refused(cli, db_url, fire(SO, "schedule_review", "iro1", "2026-10-14", "review_on=2026-10-20"),
                   ["during month 9", "no later than 2026-10-14"])  # fmt: skip
    ok(cli, "sweep", "--as-of", "2026-10-14")
    assert deadline(cli, "month9_review")["status"] == "open"
    ok(cli, "sweep", "--as-of", "2026-10-15")  # missed the day after: escalated to the IRO's manager that day
    assert deadline(cli, "month9_review")["status"] == "missed"
    (raised,) = [e for e in escalations(cli) if e["reason"] == "missed:month9_review"]
    assert (raised["raised_to"], raised["raised_on"]) == ("iro_manager", "2026-10-15")
    # Tue 2026-10-20: a late review, up to the day before the order expires (Thu 2027-01-14)
    assert_refused(
        cli,
        db_url,
        fire(SO, "schedule_review", "iro1", "2026-10-20", "review_on=2027-01-14"),
        ["a late review must be held before the order expires on 2027-01-14", "no later than 2027-01-13"],
    )
    ok(cli, *fire(SO, "schedule_review", "iro1", "2026-10-20", "review_on=2026-10-28"))
    assert ok(cli, *fire(SO, "hold_review", "iro1", "2026-10-28", "outcome=extend"))["to"] == "minutes_pending"
    # minutes 10 WD after Wed 10-28: 29, 30 (2), 11-02..06 (7), 9, 10, 11 (10)
    assert open_kinds(cli)["minutes"] == "2026-11-11"
    ok(cli, *fire(SO, "issue_minutes", "iro1", "2026-11-02", FULL_DISTRIBUTION))
    # the Head of Service's decision: 10 WD after Mon 11-02: 3-6 (4), 9-13 (9), 16 (10)
    assert open_kinds(cli)["hos_decision"] == "2026-11-16"
    ok(
        cli,
        *fire(SO, "decide_seek_extension", "hos1", "2026-11-05", WITH_TM, *(f"{k}={v}" for k, v in ANSWERS.items())),
    )
    # Legal Gateway 10 WD after Thu 11-05: 6 (1), 9-13 (6), 16-19 (10)
    assert open_kinds(cli)["legal_gateway"] == "2026-11-19"
    ok(cli, *fire(SO, "approve_application", "legal1", "2026-11-10"))
    ok(cli, *fire(SO, "file_application", "legal1", "2026-11-20"))
    moved = ok(cli, *fire(SO, "court_extends", "legal1", "2026-12-01", "new_expiry=2028-01-14"))
    assert moved["to"] == "plan_in_progress"  # reached the Head of Service, Legal Gateway and the court after all
    assert open_kinds(cli)["month9_review"] == "2027-10-15"  # the extended period's review (D3)


def test_a_late_inconclusive_review_reconvenes_by_the_end_of_the_next_order_month(cli: Cli) -> None:
    build_so("plan_in_progress")(cli)
    ok(cli, "sweep", "--as-of", "2026-10-15")  # the review was missed
    ok(cli, *fire(SO, "schedule_review", "iro1", "2026-10-20", "review_on=2026-10-28"))
    ok(cli, *fire(SO, "hold_review", "iro1", "2026-10-28", "outcome=inconclusive"))
    # Wed 10-28 falls in month 10 (2026-10-15 – 2026-11-14): reconvene by the end of month 11, Mon 2026-12-14 (D1);
    # progress check two weeks on (Wed 11-11); minutes 10 WD on (Wed 11-11)
    assert {k: v for k, v in open_kinds(cli).items() if k in ("reconvene", "progress_check", "minutes")} == {
        "reconvene": "2026-12-14", "progress_check": "2026-11-11", "minutes": "2026-11-11"}  # fmt: skip


@pytest.mark.parametrize(
    ("order", "shown_from", "window"),
    [
        pytest.param("2026-05-29", "2026-12-29", ("2027-01-29", "2027-02-28"), id="29-may"),  # m8 from Tue
        pytest.param("2026-05-31", "2026-12-31", ("2027-01-31", "2027-02-28"), id="31-may"),  # no 31 Feb 2027
        pytest.param("2026-07-29", "2027-03-01", ("2027-03-29", "2027-04-28"), id="29-jul"),  # no 29 Feb 2027
        pytest.param("2026-12-31", "2027-07-31", ("2027-08-31", "2027-09-30"), id="31-dec"),
        pytest.param("2027-07-29", "2028-02-29", ("2028-03-29", "2028-04-28"), id="29-jul-leap"),  # 2028 is leap
        pytest.param("2028-02-29", "2028-09-29", ("2028-10-29", "2028-11-28"), id="29-feb-2028"),
    ],
)
def test_the_review_shows_from_the_start_of_month_8_for_month_end_orders(
    cli: Cli, order: str, shown_from: str, window: tuple[str, str]
) -> None:
    # §1: end of month k = the day before the date k months on, or that month's last day where the date is missing
    ok(cli, *register("SO-M", order, order))
    day = date.fromisoformat(order)
    after = [(day + timedelta(days=n)).isoformat() for n in (1, 14, 20)]
    to_plan_in_progress(cli, "SO-M", *after)
    assert open_kinds(cli, "SO-M")["month9_review"] == window[1]  # due at the end of month 9
    dates = case(cli, "SO-M")["dates"]
    assert (dates["review_window_start"], dates["review_due"], dates["review_shown_from"]) == (*window, shown_from)
    before = (date.fromisoformat(shown_from) - timedelta(days=1)).isoformat()
    assert not on_worklist(cli, "SO-M", "month9_review", before) and on_worklist(
        cli, "SO-M", "month9_review", shown_from
    )


# -- item 2: orders shorter than 12 months, and extensions ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("order", "expiry", "month", "shown", "start", "due", "reconvene"),
    [
        # order Thu 2026-01-15: m = whole months, review in month ⌊¾m⌋, reconvene by the end of the next month
        pytest.param("2026-01-15", "2026-07-14", 4, "2026-03-15", "2026-04-15", "2026-05-14", "2026-06-14", id="6"),
        pytest.param("2026-01-15", "2026-07-20", 4, "2026-03-15", "2026-04-15", "2026-05-14", "2026-06-14",
                     id="6-and-a-part-month"),  # R4: a part month does not count
        pytest.param("2026-01-15", "2026-10-14", 6, "2026-05-15", "2026-06-15", "2026-07-14", "2026-08-14", id="9"),
        pytest.param("2026-01-15", "2026-12-14", 8, "2026-07-15", "2026-08-15", "2026-09-14", "2026-10-14", id="11"),
        # the end of month 3 is the expiry itself: pulled back to the day before (R3: on or after the expiry)
        pytest.param("2026-01-15", "2026-04-14", 2, "2026-01-15", "2026-02-15", "2026-03-14", "2026-04-13", id="3"),
        pytest.param("2026-01-15", "2026-02-14", 1, "2026-01-15", "2026-01-15", "2026-02-13", "2026-02-13", id="1"),
        # month ends: order Tue 2026-03-31 (no 31 Jun, Sep); leap: order Tue 2028-02-29
        pytest.param("2026-03-31", "2026-09-30", 4, "2026-05-31", "2026-07-01", "2026-07-30", "2026-08-30",
                     id="6-from-31-march"),
        pytest.param("2028-02-29", "2028-08-28", 4, "2028-04-29", "2028-05-29", "2028-06-28", "2028-07-28",
                     id="6-from-29-february"),
    ],
)  # fmt: skip
def test_a_shorter_order_is_reviewed_in_its_last_quarter(
    cli: Cli, order: str, expiry: str, month: int, shown: str, start: str, due: str, reconvene: str
) -> None:
    shown_case = ok(cli, *register("SO-S", order, order, "--expiry", expiry))
    d = shown_case["dates"]
    assert (d["expiry"], d["review_shown_from"], d["review_window_start"], d["review_due"], d["reconvene_by"]) == (
        expiry, shown, start, due, reconvene)  # fmt: skip
    assert all(v < expiry for k, v in d.items() if k.startswith("review") or k == "reconvene_by")


def test_a_six_month_order_end_to_end_with_no_deadline_past_its_expiry(cli: Cli, db_url: str) -> None:
    ok(cli, *register(SO, "2026-01-15", "2026-01-16", "--expiry", "2026-07-14"))
    to_plan_in_progress(cli, SO, "2026-01-20", "2026-02-03", "2026-02-10")
    assert open_kinds(cli)["month9_review"] == "2026-05-14"  # the end of month 4
    assert_refused(cli, db_url, fire(SO, "schedule_review", "iro1", "2026-04-01", "review_on=2026-04-14"),
                   ["during month 4 of the order: from 2026-04-15 to 2026-05-14"])  # fmt: skip
    ok(cli, *fire(SO, "schedule_review", "iro1", "2026-04-01", "review_on=2026-05-07"))
    ok(cli, *fire(SO, "hold_review", "iro1", "2026-05-07", "outcome=inconclusive"))
    # minutes: 10 WD after Thu 05-07: Fri 8 (1), 11-15 (6), 18-21 (10); progress: two weeks; reconvene: end of month 5
    assert {k: v for k, v in open_kinds(cli).items() if k in ("minutes", "progress_check", "reconvene")} == {
        "minutes": "2026-05-21", "progress_check": "2026-05-21", "reconvene": "2026-06-14"}  # fmt: skip
    ok(cli, "sweep", "--as-of", "2026-05-22")  # no progress: to the Head of Service (and the minutes missed)
    assert case(cli)["state"] == "escalated_to_hos"
    ok(cli, *fire(SO, "hold_reconvened_review", "iro1", "2026-06-10", "outcome=extend", "hos_attended=true"))
    # the reconvened meeting's own minutes: 10 WD after Wed 06-10: 11, 12 (2), 15-19 (7), 22, 23, 24 (10)
    assert open_kinds(cli)["reconvened_minutes"] == "2026-06-24"
    ok(cli, *fire(SO, "issue_minutes", "iro1", "2026-06-11", FULL_DISTRIBUTION))
    assert open_kinds(cli)["hos_decision"] == "2026-06-25"  # 12 (1), 15-19 (6), 22-25 (10)
    ok(
        cli,
        *fire(SO, "decide_seek_extension", "hos1", "2026-06-12", WITH_TM, *(f"{k}={v}" for k, v in ANSWERS.items())),
    )
    ok(cli, *fire(SO, "approve_application", "legal1", "2026-06-15"))
    # 20 WD before Tue 07-14: 13, 10-6 (6), 3-06-29 (11), 26-22 (16), 19-16 (20)
    assert open_kinds(cli)["application_filing"] == "2026-06-16"
    assert all(d["due_on"] < "2026-07-14" for d in case(cli)["deadlines"] if d["kind"] != "order_expiry")


def test_a_deadline_past_a_one_month_order_is_pulled_back_to_the_day_before_expiry(cli: Cli) -> None:
    ok(cli, *register(SO, "2026-01-15", "2026-01-16", "--expiry", "2026-02-14"))
    ok(cli, *fire(SO, "allocate_iro", "su1", "2026-01-20", "iro=iro1"))
    # first CIN Thu 02-05; the quality check 10 WD on would be Thu 02-19: after the expiry, so Fri 02-13
    ok(cli, *fire(SO, "record_first_cin_meeting", "sw1", "2026-02-05"))
    assert open_kinds(cli)["quality_check"] == "2026-02-13"
    assert open_kinds(cli)["order_expiry"] == "2026-02-14"  # the expiry itself is not a deadline to meet


@pytest.mark.parametrize(
    ("new_expiry", "due", "reconvene", "shown"),
    [
        # the extended period starts Fri 2027-01-15: the review at the start of its last quarter (D3), clipped
        pytest.param("2028-01-14", "2027-10-15", "2027-11-14", "2027-08-15", id="12-months"),
        pytest.param("2027-07-14", "2027-06-15", "2027-07-13", "2027-04-15", id="6-months"),
        pytest.param("2027-04-14", "2027-04-13", "2027-04-13", "2027-02-15", id="3-months"),
    ],
)
def test_after_an_extension_the_review_is_in_its_last_quarter_and_before_its_expiry(
    cli: Cli, new_expiry: str, due: str, reconvene: str, shown: str
) -> None:
    build_so("extension_pending")(cli)
    ok(cli, *fire(SO, "court_extends", "legal1", "2027-01-05", f"new_expiry={new_expiry}"))
    dates = case(cli)["dates"]
    assert (dates["period_start"], dates["review_due"], dates["reconvene_by"], dates["review_shown_from"]) == (
        "2027-01-15", due, reconvene, shown)  # fmt: skip
    assert "review_window_start" not in dates and open_kinds(cli)["month9_review"] == due


def test_near_the_17th_birthday_and_an_extension_of_one_day_arms_no_review(cli: Cli, db_url: str) -> None:
    # born 2009-01-20: 16 on Mon 2026-01-19, 17 the next day; 18 on 2027-01-20, so every order ends by 2027-01-19
    assert_refused(cli, db_url, register("SO-17", "2026-01-20", "2026-01-20", "--dob", "2009-01-20"),
                   ["aged 17 or over"])  # fmt: skip
    shown = ok(cli, *register(SO, "2026-01-19", "2026-01-19", "--dob", "2009-01-20"))
    assert (shown["dates"]["expiry"], shown["dates"]["extension_limit"]) == ("2027-01-18", "2027-01-19")
    # month 9: Sat 2026-09-19 – Sun 2026-10-18
    assert (shown["dates"]["review_window_start"], shown["dates"]["review_due"]) == ("2026-09-19", "2026-10-18")
    to_plan_in_progress(cli, SO, "2026-01-20", "2026-02-03", "2026-02-10")
    ok(cli, *fire(SO, "schedule_review", "iro1", "2026-09-01", "review_on=2026-10-01"))
    ok(cli, *fire(SO, "hold_review", "iro1", "2026-10-01", "outcome=extend"))
    ok(cli, *fire(SO, "issue_minutes", "iro1", "2026-10-05", FULL_DISTRIBUTION))
    ok(
        cli,
        *fire(SO, "decide_seek_extension", "hos1", "2026-10-08", WITH_TM, *(f"{k}={v}" for k, v in ANSWERS.items())),
    )
    ok(cli, *fire(SO, "approve_application", "legal1", "2026-10-12"))
    # 20 WD before Mon 2027-01-18: 15-11 (5), 8-4 (10), 12-31, 30, 29 (13), 24-21 (17), 18, 17, 16 (20)
    assert open_kinds(cli)["application_filing"] == "2026-12-16"
    ok(cli, *fire(SO, "file_application", "legal1", "2026-12-10"))
    assert_refused(cli, db_url, fire(SO, "court_extends", "legal1", "2026-12-20", "new_expiry=2027-01-20"),
                   ["may not run past 2027-01-19", "18th birthday"])  # fmt: skip
    ok(cli, *fire(SO, "court_extends", "legal1", "2026-12-20", "new_expiry=2027-01-19"))
    # a one-day period: under one whole month, no review (D2)
    assert "review_due" not in case(cli)["dates"] and "month9_review" not in open_kinds(cli)
    assert_refused(cli, db_url, fire(SO, "schedule_review", "iro1", "2026-12-21", "review_on=2027-01-10"),
                   ["no review is due in this period"])  # fmt: skip


# -- item 3: minutes per meeting ----------------------------------------------------------------------------------------


def test_each_meeting_has_its_own_minutes_and_they_name_the_meeting(cli: Cli) -> None:
    build_so("urgent_review")(cli)  # the review Thu 10-01 was inconclusive
    ok(cli, *fire(SO, "record_progress", "sw1", "2026-10-05"))
    ok(cli, *fire(SO, "hold_reconvened_review", "iro1", "2026-10-12", "outcome=extend"))
    # review minutes: 10 WD after Thu 10-01 -> Thu 10-15; reconvened: after Mon 10-12: 13-16, 19-23, 26 -> Mon 10-26
    assert {k: v for k, v in open_kinds(cli).items() if "minutes" in k} == {
        "minutes": "2026-10-15", "reconvened_minutes": "2026-10-26"}  # fmt: skip
    moved = ok(cli, *fire(SO, "issue_minutes", "iro1", "2026-10-14", FULL_DISTRIBUTION, "meeting_on=2026-10-01"))
    assert moved["to"] == "minutes_pending" and moved["consequences"]["met"] == ["minutes"]
    moved = ok(cli, *fire(SO, "issue_minutes", "iro1", "2026-10-26", FULL_DISTRIBUTION))  # default: the latest
    assert moved["to"] == "hos_decision_pending" and moved["consequences"]["met"] == ["reconvened_minutes"]
    assert open_kinds(cli)["hos_decision"] == "2026-11-09"  # 10 WD after Mon 10-26: 27-30, 11-02..06, 09
    assert ok(cli, "replay", SO)["reproduced"] is True


def test_a_meetings_minutes_stay_owed_until_issued_even_late(cli: Cli) -> None:
    build_so("escalated_to_hos")(cli)  # swept as of 10-20: the review's minutes (due 10-15) were missed
    assert deadline(cli, "minutes")["status"] == "missed"
    ok(cli, *fire(SO, "hold_reconvened_review", "iro1", "2026-10-28", "outcome=step_down", "hos_attended=true"))
    late = ok(cli, *fire(SO, "issue_minutes", "iro1", "2026-10-29", FULL_DISTRIBUTION, "meeting_on=2026-10-01"))
    assert late["to"] == "minutes_pending" and "met" not in late["consequences"]  # recorded; the miss stands
    assert ok(cli, *fire(SO, "issue_minutes", "iro1", "2026-11-02", FULL_DISTRIBUTION))["to"] == "hos_decision_pending"
    # the other way round: the concluding minutes first, the review's still owed in the next state
    ok(cli, "so", "register", "--case", "SO-2", "--child", "C-2", "--order-date", "2026-01-15", "--notified-on",
       "2026-01-16", "--actor", "sw1")  # fmt: skip
    to_plan_in_progress(cli, "SO-2", "2026-01-20", "2026-02-03", "2026-02-10")
    ok(cli, *fire("SO-2", "schedule_review", "iro1", "2026-09-01", "review_on=2026-10-01"))
    ok(cli, *fire("SO-2", "hold_review", "iro1", "2026-10-01", "outcome=inconclusive"))
    ok(cli, *fire("SO-2", "record_progress", "sw1", "2026-10-05"))
    ok(cli, *fire("SO-2", "hold_reconvened_review", "iro1", "2026-10-12", "outcome=step_down"))
    ok(cli, *fire("SO-2", "issue_minutes", "iro1", "2026-10-14", FULL_DISTRIBUTION))  # the reconvened meeting's
    assert case(cli, "SO-2")["state"] == "hos_decision_pending"
    assert open_kinds(cli, "SO-2")["minutes"] == "2026-10-15"  # the review's: alive in every live state
    done = ok(cli, *fire("SO-2", "issue_minutes", "iro1", "2026-10-15", FULL_DISTRIBUTION))
    assert done["to"] == "hos_decision_pending" and done["consequences"]["met"] == ["minutes"]


def test_minutes_for_no_outstanding_meeting_are_refused(cli: Cli, db_url: str) -> None:
    build_so("minutes_pending")(cli)  # review Thu 10-01, outcome extend
    assert_refused(cli, db_url, fire(SO, "issue_minutes", "iro1", "2026-10-05", FULL_DISTRIBUTION,
                                     "meeting_on=2026-10-02"),
                   ["no minutes are outstanding for a meeting on 2026-10-02", "outstanding: 2026-10-01"])  # fmt: skip
    ok(cli, *fire(SO, "issue_minutes", "iro1", "2026-10-05", FULL_DISTRIBUTION))
    ok(cli, *fire(SO, "decide_step_down", "hos1", "2026-10-06", WITH_TM))
    assert_refused(cli, db_url, fire(SO, "issue_minutes", "iro1", "2026-10-07", FULL_DISTRIBUTION,
                                     "meeting_on=2026-10-01"),
                   ["no minutes are outstanding for a meeting on 2026-10-01", "outstanding: none"])  # fmt: skip
    assert_refused(cli, db_url, fire(SO, "issue_minutes", "iro1", "2026-10-07", FULL_DISTRIBUTION),
                   ["no meeting's minutes are outstanding"])  # fmt: skip


def test_the_minutes_author_counts_as_a_recipient(cli: Cli, db_url: str) -> None:
    build_so("minutes_pending")(cli)
    # the IRO manager issuing for the IRO must list the IRO; the IRO, as author, need not list themselves
    assert_refused(cli, db_url, fire(SO, "issue_minutes", "irom1", "2026-10-05", "distribution=tm1,hos1,sw1"),
                   ["minutes distribution must include", "iro1 (iro)"])  # fmt: skip
    assert ok(cli, *fire(SO, "issue_minutes", "iro1", "2026-10-05", "distribution=tm1,hos1,sw1"))["to"] == (
        "hos_decision_pending"
    )


def test_the_minutes_record_the_iro_agenda_covered(cli: Cli, db_url: str) -> None:
    build_so("minutes_pending")(cli)
    assert_refused(cli, db_url, fire(SO, "issue_minutes", "iro1", "2026-10-05", FULL_DISTRIBUTION,
                                     "agenda=threshold_remains,budget"),
                   ["'budget' is not an item of the IRO Agenda",
                    "support_plan_progress, threshold_remains, seek_extension"])  # fmt: skip
    moved = ok(cli, *fire(SO, "issue_minutes", "iro1", "2026-10-05", FULL_DISTRIBUTION, "agenda=threshold_remains"))
    # accepted, and flagged: the agenda "should be added in the CIN Meeting minutes"
    assert moved["consequences"]["flagged"] == [
        "minutes do not cover the IRO Agenda: not covered: support_plan_progress, seek_extension"]  # fmt: skip
    assert [f["flag"] for f in case(cli)["flags"]] == ["minutes do not cover the IRO Agenda"]


def test_the_agenda_is_the_local_policys(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text('review_agenda = ["support_plan_progress", "threshold_remains", "seek_extension", "voice"]\n')
    monkeypatch.setenv("ORDERWATCH_POLICY", str(policy))
    build_so("minutes_pending")(cli)
    moved = ok(cli, *fire(SO, "issue_minutes", "iro1", "2026-10-05", FULL_DISTRIBUTION,
                          "agenda=support_plan_progress,threshold_remains,seek_extension"))  # fmt: skip
    assert moved["consequences"]["flagged"] == ["minutes do not cover the IRO Agenda: not covered: voice"]


# -- a DST weekend: dates do not move ----------------------------------------------------------------------------------


def test_a_review_across_the_clocks_going_back_keeps_its_dates(cli: Cli) -> None:
    # British Summer Time ends Sun 2026-10-25. A review on Fri 10-23: minutes 10 WD on (26-30, 11-02..06: Fri 11-06)
    # and the progress check two weeks on (Fri 11-06): the same day, open on it, missed the day after
    build_so("review_scheduled")(cli)
    ok(cli, *fire(SO, "hold_review", "iro1", "2026-10-23", "outcome=inconclusive"))
    assert {k: v for k, v in open_kinds(cli).items() if k in ("minutes", "progress_check")} == {
        "minutes": "2026-11-06", "progress_check": "2026-11-06"}  # fmt: skip
    ok(cli, "sweep", "--as-of", "2026-11-06")
    assert case(cli)["state"] == "urgent_review"
    ok(cli, "sweep", "--as-of", "2026-11-07")
    assert case(cli)["state"] == "escalated_to_hos"
    raised = {e["reason"]: e["raised_on"] for e in escalations(cli)}
    assert (raised["missed:minutes"], raised["missed:progress_check"]) == ("2026-11-07", "2026-11-07")
