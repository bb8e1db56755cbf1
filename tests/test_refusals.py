"""Refusals through the CLI (DESIGN.md contract; PROCEDURES.md rules).

Every refusal: exit 2, exactly one line on stderr that names the rule, ``{"error": <that line>}`` on stdout with
``--json`` (nothing on stdout without it), and not one row of the database changed. Cases are built to the state a
refusal needs through the CLI itself (``build_so`` / ``build_cp``); "today" is pinned so dates are deterministic.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from tests.conftest import Cli, Ran, snapshot

TODAY = "2026-11-20"  # pinned through ORDERWATCH_TODAY (flows/clock.py)
SO = "SO-1"  # order 2026-01-15: end of month 9 2026-10-14, expiry 2027-01-14, end of month 36 2029-01-14
CP = "CP-1"  # ISO 2026-06-01, last review 2026-05-20 (next review no later than 2026-11-20)

Builder = Callable[[Cli], None]

ANSWERS = {
    "why_unsuccessful": "concerns persist",
    "ongoing_concerns": "neglect at threshold",
    "proposed_plans": "intensive family support",
    "service_commitments": "weekly visits",
    "expected_outcomes": "sustained change",
}
FULL_DISTRIBUTION = "distribution=tm1,hos1,sw1,iro1"
# The quality check's four criteria (PROCEDURES §2, rev.): a pass confirms each of them.
ALL_CRITERIA = "criteria_met=started_timely,plan_smart,family_life_impact,la_commitment"
WITH_TM = "team_manager=tm1"  # the Head of Service decides with the Team Manager (rev.)
ISSUED = "issued=2026-03-02"  # the court timetable on inform_cpc (rev.): proceedings issued Mon 2026-03-02
PARTICIPANTS = "participants=sw1,tm1"  # the 3-way discussion: the SW, their TM and the CPC (the actor)


@pytest.fixture(autouse=True)
def _pinned_today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERWATCH_TODAY", TODAY)


# -- building a case to a state -------------------------------------------------------------------------------------


def fire(ref: str, event: str, actor: str, on: str, *sets: str) -> tuple[str, ...]:
    """The argv of ``orderwatch fire REF EVENT --actor ACTOR --on ON [--set K=V ...]``."""
    return ("fire", ref, event, "--actor", actor, "--on", on, *(("--set", *sets) if sets else ()))


def so_register(ref: str = SO, *extra: str) -> tuple[str, ...]:
    return ("so", "register", "--case", ref, "--child", "C-1", "--order-date", "2026-01-15",
            "--notified-on", "2026-01-16", "--actor", "sw1", *extra)  # fmt: skip


def cp_register(ref: str = CP, *extra: str, first_review: bool = False) -> tuple[str, ...]:
    # first_review: only the initial conference is known (the first review is due within 3 months of it).
    review = ("--icpc", "2026-05-10", "--next-review", "2026-08-01") if first_review else (
        "--last-review", "2026-05-20", "--next-review", "2026-08-20")  # fmt: skip
    return ("cp-iso", "register", "--case", ref, "--child", "C-2", "--iso-date", "2026-06-01", *review,
            "--actor", "sw1", *extra)  # fmt: skip


# state -> (the state it is reached from, the command that reaches it)
SO_STEPS: dict[str, tuple[str, tuple[str, ...]]] = {
    "awaiting_first_cin": ("registered", fire(SO, "allocate_iro", "su1", "2026-01-20", "iro=iro1")),
    "quality_check_due": ("awaiting_first_cin", fire(SO, "record_first_cin_meeting", "sw1", "2026-02-03")),
    "quality_escalated": ("quality_check_due",
                          fire(SO, "fail_quality_check", "iro1", "2026-02-10", "criteria_not_met=plan_smart",
                               "findings=plan not SMART")),
    "plan_in_progress": ("quality_check_due", fire(SO, "pass_quality_check", "iro1", "2026-02-10", ALL_CRITERIA)),
    "review_scheduled": ("plan_in_progress",
                         fire(SO, "schedule_review", "iro1", "2026-09-01", "review_on=2026-10-01")),
    "urgent_review": ("review_scheduled", fire(SO, "hold_review", "iro1", "2026-10-01", "outcome=inconclusive")),
    "escalated_to_hos": ("urgent_review", ("sweep", "--as-of", "2026-10-20")),  # no progress by 2026-10-15
    "reconvene_pending": ("urgent_review", fire(SO, "record_progress", "sw1", "2026-10-10")),
    "minutes_pending": ("review_scheduled", fire(SO, "hold_review", "iro1", "2026-10-01", "outcome=extend")),
    "hos_decision_pending": ("minutes_pending", fire(SO, "issue_minutes", "iro1", "2026-10-05", FULL_DISTRIBUTION)),
    "legal_gateway": ("hos_decision_pending", fire(SO, "decide_seek_extension", "hos1", "2026-10-08", WITH_TM,
                                                   *(f"{k}={v}" for k, v in ANSWERS.items()))),
    "extension_application": ("legal_gateway", fire(SO, "approve_application", "legal1", "2026-10-12")),
    "extension_pending": ("extension_application", fire(SO, "file_application", "legal1", "2026-10-14")),
    "discharged": ("registered", fire(SO, "discharge", "legal1", "2026-01-20")),
}  # fmt: skip

CP_STEPS: dict[str, tuple[str, tuple[str, ...]]] = {
    "discussion_pending": ("iso_granted", fire(CP, "inform_cpc", "sw1", "2026-06-02", ISSUED)),
    "concurrent": ("discussion_pending", fire(CP, "hold_three_way_discussion", "cpc1", "2026-06-05",
                                              "decision=concurrent", "case_note=CN-1", PARTICIPANTS)),
    "step_down_proposed": ("discussion_pending", fire(CP, "hold_three_way_discussion", "cpc1", "2026-06-05",
                                                      "decision=step_down", "case_note=CN-1", PARTICIPANTS)),
    "proceedings_concluded": ("iso_granted", fire(CP, "record_final_hearing", "legal1", "2026-06-10",
                                                  "outcome=care_order")),
}  # fmt: skip


def _ok(cli: Cli, args: Sequence[str]) -> Ran:
    ran = cli(*args)
    assert ran.rc == 0, f"orderwatch {' '.join(args)}: {ran.err}"
    return ran


def _build(
    cli: Cli, ref: str, register: tuple[str, ...], steps: dict[str, tuple[str, tuple[str, ...]]], state: str
) -> None:
    path: list[tuple[str, ...]] = []
    at = state
    while at in steps:
        at, command = steps[at]
        path.insert(0, command)
    last: dict[str, object] = {}
    for command in [register, *path]:
        last = _ok(cli, command).json
    if "to" in last or "state" in last:  # a fire or a registration says where the case now is (a sweep does not)
        assert last.get("to", last.get("state")) == state, last


def build_so(state: str, *extra: str) -> Builder:
    """SO-1 (sw1, then iro1) brought to ``state``; ``extra`` goes on the registration (e.g. ``--dob``)."""
    return lambda cli: _build(cli, SO, so_register(SO, *extra), SO_STEPS, state)


def build_cp(state: str, *extra: str, first_review: bool = False) -> Builder:
    """CP-1 (sw1) brought to ``state``."""
    return lambda cli: _build(cli, CP, cp_register(CP, *extra, first_review=first_review), CP_STEPS, state)


def nothing(cli: Cli) -> None:
    """Only the people of the standard cast."""


# -- the contract every refusal keeps ------------------------------------------------------------------------------


def assert_refused(cli: Cli, db_url: str, args: Sequence[str], needles: Sequence[str]) -> str:
    """Exit 2, one stderr line naming the rule (every needle in it), ``{"error": ...}`` with --json, no row changed."""
    before = snapshot(db_url)
    plain = cli(*args, json_out=False)
    assert plain.rc == 2, f"expected a refusal (2), got {plain.rc}: {plain.err}{plain.out}"
    assert plain.out == "", plain.out
    assert plain.err.endswith("\n") and plain.err.count("\n") == 1, plain.err
    assert plain.err.startswith("orderwatch: "), plain.err
    message = plain.err.removeprefix("orderwatch: ").rstrip("\n")
    for needle in needles:
        assert needle in message, f"{needle!r} not in {message!r}"
    as_json = cli(*args)
    assert as_json.rc == 2, as_json.err
    assert as_json.json == {"error": message}
    assert as_json.err == plain.err
    assert snapshot(db_url) == before
    return message


# -- unknown things ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "args", "needles"),
    [
        pytest.param(nothing, fire("NOPE-1", "allocate_iro", "su1", "2026-01-20", "iro=iro1"),
                     ["unknown case 'NOPE-1'"], id="unknown-case"),
        pytest.param(build_so("registered"), fire(SO, "allocate_iro", "ghost", "2026-01-20", "iro=iro1"),
                     ["unknown person 'ghost'"], id="unknown-actor"),
        pytest.param(build_so("registered"), fire(SO, "do_magic", "su1", "2026-01-20"),
                     ["unknown event 'do_magic'"], id="unknown-event"),
        pytest.param(nothing, ("fire", "ESC-999", "acknowledge", "--actor", "tm1", "--on", "2026-01-20"),
                     ["unknown escalation ESC-999"], id="unknown-escalation"),
    ],
)  # fmt: skip
def test_unknown_case_person_event_or_escalation_is_refused(
    cli: Cli, db_url: str, build: Builder, args: tuple[str, ...], needles: list[str]
) -> None:
    build(cli)
    assert_refused(cli, db_url, args, needles)


@pytest.mark.parametrize(
    "esc_id",
    [
        pytest.param("ESC-abc", id="letters"),
        pytest.param("ESC-²", id="superscript-digit"),
        pytest.param("ESC-99999999999999999999", id="beyond-any-id"),
    ],
)
def test_malformed_escalation_id_is_refused(cli: Cli, db_url: str, esc_id: str) -> None:
    assert_refused(cli, db_url, ("fire", esc_id, "acknowledge", "--actor", "tm1", "--on", "2026-02-11"), [esc_id])


# -- the state machine: an event the state does not allow ------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "args", "needles"),
    [
        pytest.param(build_so("registered"), fire(SO, "record_first_cin_meeting", "sw1", "2026-01-20"),
                     ["record_first_cin_meeting is not allowed when case SO-1 is registered"], id="so-registered"),
        pytest.param(build_so("minutes_pending"), fire(SO, "decide_step_down", "hos1", "2026-10-02", WITH_TM),
                     ["decide_step_down is not allowed when case SO-1 is minutes_pending"], id="so-minutes-pending"),
        pytest.param(build_cp("iso_granted"),
                     fire(CP, "hold_three_way_discussion", "cpc1", "2026-06-02", "decision=concurrent",
                          "case_note=CN-1", PARTICIPANTS),
                     ["hold_three_way_discussion is not allowed when case CP-1 is iso_granted"], id="cp-iso-granted"),
        pytest.param(build_cp("proceedings_concluded"),
                     fire(CP, "hold_cp_review", "cpc1", "2026-06-11", "outcome=end_plan"),
                     ["hold_cp_review is not allowed when case CP-1 is proceedings_concluded"], id="cp-final"),
    ],
)  # fmt: skip
def test_event_not_allowed_in_the_current_state_is_refused(
    cli: Cli, db_url: str, build: Builder, args: tuple[str, ...], needles: list[str]
) -> None:
    build(cli)
    assert_refused(cli, db_url, args, needles)


# -- §5 roles ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "args", "needles"),
    [
        pytest.param(build_so("registered"), fire(SO, "allocate_iro", "sw1", "2026-01-20", "iro=iro1"),
                     ["sw1 (social_worker) may not allocate_iro",
                      "safeguarding_unit, safeguarding_unit_manager, iro_manager"],
                     id="sw-allocate-iro"),
        pytest.param(build_so("hos_decision_pending"), fire(SO, "decide_step_down", "iro1", "2026-10-08"),
                     ["iro1 (iro) may not decide_step_down", "head_of_service"], id="iro-decide-step-down"),
        pytest.param(build_so("extension_pending"),
                     fire(SO, "court_extends", "sw1", "2026-10-20", "new_expiry=2027-06-30"),
                     ["sw1 (social_worker) may not court_extends", "legal, team_manager"], id="sw-court-extends"),
    ],
)  # fmt: skip
def test_actor_without_the_role_for_the_event_is_refused(
    cli: Cli, db_url: str, build: Builder, args: tuple[str, ...], needles: list[str]
) -> None:
    build(cli)
    assert_refused(cli, db_url, args, needles)


@pytest.mark.parametrize(
    ("build", "refused", "needles", "allowed"),
    [
        pytest.param(build_so("quality_check_due"), fire(SO, "pass_quality_check", "iro2", "2026-02-10", ALL_CRITERIA),
                     ["belongs to the allocated iro iro1", "not iro2"],
                     fire(SO, "pass_quality_check", "irom1", "2026-02-10", ALL_CRITERIA), id="other-iro-vs-iro-manager"),
        pytest.param(build_so("awaiting_first_cin"), fire(SO, "record_first_cin_meeting", "sw2", "2026-02-03"),
                     ["belongs to the allocated social_worker sw1", "not sw2"],
                     fire(SO, "record_first_cin_meeting", "tm1", "2026-02-03"), id="other-sw-vs-team-manager"),
    ],
)  # fmt: skip
def test_only_the_allocated_person_or_their_manager_may_fire(
    cli: Cli, db_url: str, build: Builder, refused: tuple[str, ...], needles: list[str], allowed: tuple[str, ...]
) -> None:
    build(cli)
    assert_refused(cli, db_url, refused, needles)
    _ok(cli, allowed)


@pytest.mark.parametrize(
    ("build", "args", "needles"),
    [
        pytest.param(build_so("urgent_review"), fire(SO, "progress_check", "iro1", "2026-10-10"),
                     ["progress_check is a timer"], id="progress-check"),
        pytest.param(build_so("plan_in_progress"), fire(SO, "order_expiry", "legal1", "2026-02-11"),
                     ["order_expiry is a timer"], id="order-expiry"),
    ],
)  # fmt: skip
def test_timer_event_fired_by_hand_is_refused(
    cli: Cli, db_url: str, build: Builder, args: tuple[str, ...], needles: list[str]
) -> None:
    build(cli)
    assert_refused(cli, db_url, args, needles)


# -- fields (--set) -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "args", "needles"),
    [
        pytest.param(build_so("plan_in_progress"), fire(SO, "schedule_review", "iro1", "2026-09-01"),
                     ["schedule_review: review_on is required"], id="missing-review-on"),
        pytest.param(build_so("review_scheduled"), fire(SO, "hold_review", "iro1", "2026-10-01", "outcome=maybe"),
                     ["outcome must be one of step_down, extend, inconclusive", "'maybe'"], id="bad-outcome"),
        pytest.param(build_so("plan_in_progress"),
                     fire(SO, "schedule_review", "iro1", "2026-09-01", "review_on=01/10/2026"),
                     ["review_on", "'01/10/2026' is not a real date"], id="bad-date-value"),
        pytest.param(build_so("review_scheduled"),
                     fire(SO, "hold_review", "iro1", "2026-10-01", "outcome=extend", "colour=blue"),
                     ["unknown field 'colour'"], id="unknown-field"),
    ],
)  # fmt: skip
def test_missing_or_malformed_field_is_refused(
    cli: Cli, db_url: str, build: Builder, args: tuple[str, ...], needles: list[str]
) -> None:
    build(cli)
    assert_refused(cli, db_url, args, needles)


# -- dates (§1) -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "args", "needles"),
    [
        pytest.param(nothing, ("so", "register", "--case", SO, "--child", "C-1", "--order-date", "2026-02-30",
                               "--actor", "sw1"),
                     ["--order-date", "'2026-02-30' is not a real date"], id="order-date"),
        pytest.param(build_so("registered"), fire(SO, "allocate_iro", "su1", "2026-02-30", "iro=iro1"),
                     ["--on", "'2026-02-30' is not a real date"], id="on"),
    ],
)  # fmt: skip
def test_impossible_date_is_refused(
    cli: Cli, db_url: str, build: Builder, args: tuple[str, ...], needles: list[str]
) -> None:
    build(cli)
    assert_refused(cli, db_url, args, needles)


@pytest.mark.parametrize(
    ("build", "args", "needles"),
    [
        pytest.param(build_so("registered"), fire(SO, "allocate_iro", "su1", "2026-11-21", "iro=iro1"),
                     ["--on 2026-11-21 is in the future", f"today is {TODAY}"], id="event-after-today"),
        pytest.param(build_so("awaiting_first_cin"), fire(SO, "record_first_cin_meeting", "sw1", "2026-01-19"),
                     ["events are recorded in date order", "already runs to 2026-01-20", "2026-01-19 is too early"],
                     id="before-the-last-event"),
    ],
)  # fmt: skip
def test_future_or_out_of_order_date_is_refused(
    cli: Cli, db_url: str, build: Builder, args: tuple[str, ...], needles: list[str]
) -> None:
    build(cli)
    assert_refused(cli, db_url, args, needles)


# -- registration -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "args", "needles"),
    [
        pytest.param(build_so("registered"), so_register(SO), ["case reference 'SO-1' is already registered"],
                     id="so"),
        pytest.param(build_cp("iso_granted"), cp_register(CP), ["case reference 'CP-1' is already registered"],
                     id="cp-iso"),
    ],
)  # fmt: skip
def test_duplicate_case_reference_is_refused(
    cli: Cli, db_url: str, build: Builder, args: tuple[str, ...], needles: list[str]
) -> None:
    build(cli)
    assert_refused(cli, db_url, args, needles)


# -- age and extension limits (§1, §2) ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "args", "needles"),
    [
        pytest.param(nothing, so_register(SO, "--dob", "2009-01-15"),
                     ["aged 17 or over (CA89 s.31(3))", "aged 17 on 2026-01-15"], id="so-child-aged-17"),
        pytest.param(build_so("extension_pending"),
                     fire(SO, "court_extends", "legal1", "2026-10-20", "new_expiry=2029-01-15"),
                     ["may not run past 2029-01-14", "end of month 36"], id="extension-past-month-36"),
        pytest.param(build_so("extension_pending", "--dob", "2010-06-01"),
                     fire(SO, "court_extends", "legal1", "2026-10-20", "new_expiry=2028-06-01"),
                     ["may not run past 2028-05-31", "18th birthday"], id="extension-past-18th-birthday"),
    ],
)  # fmt: skip
def test_age_and_extension_limits_are_refused(
    cli: Cli, db_url: str, build: Builder, args: tuple[str, ...], needles: list[str]
) -> None:
    build(cli)
    assert_refused(cli, db_url, args, needles)


# -- Working Together review limits (§3) ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "args", "needles"),
    [
        pytest.param(build_cp("discussion_pending", first_review=True),
                     fire(CP, "hold_three_way_discussion", "cpc1", "2026-06-05", "decision=concurrent",
                          "case_note=CN-1", PARTICIPANTS, "move_review_to=2026-08-11"),
                     ["within 3 months of the initial conference (2026-05-10)", "no later than 2026-08-10"],
                     id="three-way-first-review"),
        pytest.param(build_cp("discussion_pending"),
                     fire(CP, "hold_three_way_discussion", "cpc1", "2026-06-05", "decision=step_down",
                          "case_note=CN-1", PARTICIPANTS, "move_review_to=2026-11-21"),
                     ["at most 6 months apart", "review of 2026-05-20", "no later than 2026-11-20"],
                     id="three-way-after-a-review"),
        pytest.param(build_cp("concurrent"),
                     fire(CP, "hold_cp_review", "cpc1", "2026-08-20", "outcome=continue_plan",
                          "next_review=2027-02-21"),
                     ["at most 6 months apart", "review of 2026-08-20", "no later than 2027-02-20"],
                     id="cp-review-continue-plan"),
    ],
)  # fmt: skip
def test_cp_review_past_the_working_together_limit_is_refused(
    cli: Cli, db_url: str, build: Builder, args: tuple[str, ...], needles: list[str]
) -> None:
    build(cli)
    assert_refused(cli, db_url, args, needles)


# -- the SO review cycle (§2) ---------------------------------------------------------------------------------------


def test_schedule_review_after_the_end_of_month_9_is_refused(cli: Cli, db_url: str) -> None:
    build_so("plan_in_progress")(cli)
    assert_refused(cli, db_url, fire(SO, "schedule_review", "iro1", "2026-09-01", "review_on=2026-10-15"),
                   ["no later than 2026-10-14", "end of month 9"])  # fmt: skip


def test_reconvened_review_after_hos_escalation_needs_the_head_of_service(cli: Cli, db_url: str) -> None:
    build_so("escalated_to_hos")(cli)
    for attended in (("hos_attended=false",), ()):  # said not to have attended, or not said at all
        assert_refused(cli, db_url, fire(SO, "hold_reconvened_review", "iro1", "2026-10-28", "outcome=step_down",
                                         *attended),
                       ["the Head of Service must attend the reconvened meeting"])  # fmt: skip


@pytest.mark.parametrize(
    ("distribution", "missing"),
    [
        pytest.param("hos1,sw1,iro1", "tm1 (team_manager)", id="no-team-manager"),
        pytest.param("tm1,sw1,iro1", "a head_of_service", id="no-head-of-service"),
        pytest.param("tm1,hos1,iro1", "sw1 (social_worker)", id="no-social-worker"),
        # "the Team Manager" is the case's: the allocated social worker's manager (tm1), not any team manager
        pytest.param("tm2,hos1,sw1,iro1", "tm1", id="another-team-manager"),
    ],
)
def test_minutes_distribution_must_include_participants_tm_and_hos(
    cli: Cli, db_url: str, distribution: str, missing: str
) -> None:
    build_so("minutes_pending")(cli)
    assert_refused(cli, db_url, fire(SO, "issue_minutes", "iro1", "2026-10-05", f"distribution={distribution}"),
                   ["minutes distribution must include the participants, the Team Manager and the Head of Service",
                    missing])  # fmt: skip


@pytest.mark.parametrize("left_out", list(ANSWERS))
def test_decide_seek_extension_needs_all_five_answers(cli: Cli, db_url: str, left_out: str) -> None:
    build_so("hos_decision_pending")(cli)
    answers = [WITH_TM, *(f"{k}={v}" for k, v in ANSWERS.items() if k != left_out)]
    assert_refused(cli, db_url, fire(SO, "decide_seek_extension", "hos1", "2026-10-08", *answers),
                   [f"decide_seek_extension: {left_out} is required"])  # fmt: skip


# -- people and usage -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        pytest.param(("people", "add", "wiz1", "--role", "wizard"), ["unknown role 'wizard'", "social_worker"],
                     id="unknown-role"),
        pytest.param(("people", "add", "sw9", "--role", "social_worker", "--manager", "ghost"),
                     ["unknown manager 'ghost'"], id="unknown-manager"),
        pytest.param(("people", "add", "sw1", "--role", "social_worker", "--manager", "tm1"),
                     ["person 'sw1' already exists"], id="duplicate-user"),
    ],
)  # fmt: skip
def test_people_add_is_refused(cli: Cli, db_url: str, args: tuple[str, ...], needles: list[str]) -> None:
    assert_refused(cli, db_url, args, needles)


def test_usage_error_is_one_line_and_exit_2(cli: Cli, db_url: str) -> None:
    """argparse's own refusals (a required option or argument missing) keep the same contract."""
    for args, needle in [
        (("fire", SO, "allocate_iro", "--on", "2026-01-20"), "the following arguments are required: --actor"),
        (("so", "register", "--case", "SO-9", "--child", "C-9", "--actor", "sw1"),
         "the following arguments are required: --order-date"),
        (("people", "add", "sw9"), "the following arguments are required: --role"),
    ]:  # fmt: skip
        assert_refused(cli, db_url, args, [needle])
