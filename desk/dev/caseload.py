"""A small caseload around one "today" (Friday 20 November 2026): work overdue, due today, this week and later, for
every role, escalations at two levels, a role queue each for the Safeguarding Unit, Legal and the CPCs, a closed case.
Made through the one write path (``Casebook.handle``), so every row is what orderwatch itself writes. Generated
identifiers only. Used by ``python -m desk --demo``, ``make screenshots`` and the desk's tests.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from machines.cp_iso import CpIsoRegistration
from machines.supervision_order import SORegistration
from storage.casebook import Casebook
from storage.commands import ActOnEscalation, AddPerson, Fire, Register

__all__ = ["PEOPLE", "TODAY", "seed"]

TODAY = date(2026, 11, 20)
# user, role, manager: every role, two teams, and an admin
PEOPLE = [
    ("hos1", "head_of_service", None),
    ("tm1", "team_manager", "hos1"),
    ("tm2", "team_manager", "hos1"),
    ("sw1", "social_worker", "tm1"),
    ("sw2", "social_worker", "tm2"),
    ("irom1", "iro_manager", "hos1"),
    ("iro1", "iro", "irom1"),
    ("iro2", "iro", "irom1"),
    ("su1", "safeguarding_unit", None),
    ("sum1", "safeguarding_unit_manager", "hos1"),
    ("legal1", "legal", None),
    ("cpctm1", "cpc_team_manager", "hos1"),
    ("cpc1", "cpc", "cpctm1"),
    ("admin1", "admin", None),
]
SUMMARY = {"other_orders": "none", "court_wording": "engage with the plan", "plan": "social worker: weekly home visits"}
CRITERIA = ["started_timely", "plan_smart", "family_life_impact", "la_commitment"]
PASSED = {"criteria_met": CRITERIA}
D = date.fromisoformat


def _so(book: Casebook, ref: str, order: str, notified: str, sw: str) -> None:
    reg = SORegistration(ref, f"CHILD-{ref}", D(order), notified_on=D(notified), social_worker=sw)
    book.handle(Register(actor=sw, registration=reg, on=D(notified), source="seed"))


def _fire(book: Casebook, ref: str, *steps: tuple[str, str, str, dict[str, Any]]) -> None:
    for event, actor, on, fields in steps:
        book.handle(Fire(actor=actor, ref=ref, event=event, on=D(on), fields=fields, source="seed"))


def _started(book: Casebook, ref: str, order: str, sw: str, iro: str, cin: str) -> None:
    """An SO with its IRO, its case summary and its first CIN meeting."""
    notified = D(order).replace(day=D(order).day + 1).isoformat()
    _so(book, ref, order, notified, sw)
    _fire(book, ref, ("allocate_iro", "su1", notified, {"iro": iro}),
          ("record_case_summary", sw, notified, SUMMARY), ("record_first_cin_meeting", sw, cin, {}))  # fmt: skip


def seed(book: Casebook, today: date = TODAY) -> list[str]:
    """Add the people and the cases (the database must be empty); returns the case references."""
    for user, role, manager in PEOPLE:
        book.handle(AddPerson(actor="seed", user=user, role=role, manager=manager))
    # SO-1001: the first CIN meeting is overdue (the team manager's to record, for the social worker)
    _so(book, "SO-1001", "2026-10-26", "2026-10-27", "sw1")
    _fire(book, "SO-1001", ("allocate_iro", "su1", "2026-10-29", {"iro": "iro1"}),
          ("record_case_summary", "sw1", "2026-11-05", SUMMARY))  # fmt: skip
    # SO-1002: no IRO yet (the Safeguarding Unit's queue)
    _so(book, "SO-1002", "2026-11-13", "2026-11-16", "sw1")
    # SO-1003: the IRO's quality check is due next week (tm2's team)
    _started(book, "SO-1003", "2026-10-05", "sw2", "iro1", "2026-11-12")
    # SO-1004: the quality check failed; management must confirm the remedial action
    _started(book, "SO-1004", "2026-10-20", "sw1", "iro2", "2026-11-09")
    _fire(
        book,
        "SO-1004",
        (
            "fail_quality_check",
            "iro2",
            "2026-11-19",
            {"criteria_not_met": ["plan_smart"], "findings": "actions are not SMART"},
        ),
    )
    # SO-1005: minutes issued; the Head of Service decides today
    _started(book, "SO-1005", "2026-01-12", "sw1", "iro1", "2026-01-28")
    _fire(book, "SO-1005", ("pass_quality_check", "iro1", "2026-02-05", PASSED),
          ("schedule_review", "iro1", "2026-09-01", {"review_on": "2026-10-05"}),
          ("hold_review", "iro1", "2026-10-05", {"outcome": "extend"}),
          ("issue_minutes", "iro1", "2026-11-06", {"distribution": ["sw1", "iro1", "tm1", "hos1"]}))  # fmt: skip
    # SO-1006: the plan is running; the month-9 review falls due next month
    _started(book, "SO-1006", "2026-03-02", "sw2", "iro2", "2026-03-18")
    _fire(book, "SO-1006", ("pass_quality_check", "iro2", "2026-03-25", PASSED))
    # SO-1007: at Legal Gateway (Legal's queue)
    _started(book, "SO-1007", "2026-01-05", "sw2", "iro1", "2026-01-21")
    _fire(book, "SO-1007", ("pass_quality_check", "iro1", "2026-01-28", PASSED),
          ("schedule_review", "iro1", "2026-09-01", {"review_on": "2026-09-28"}),
          ("hold_review", "iro1", "2026-09-28", {"outcome": "extend"}),
          ("issue_minutes", "iro1", "2026-10-09", {"distribution": ["sw2", "iro1", "tm2", "hos1"]}),
          ("decide_seek_extension", "hos1", "2026-11-13", {"team_manager": "tm2",
              "why_unsuccessful": "engagement has been partial", "ongoing_concerns": "neglect",
              "proposed_plans": "a further twelve months of support", "service_commitments": "weekly visits",
              "expected_outcomes": "sustained change"}))  # fmt: skip
    # SO-1008: closed (discharged by the court)
    _started(book, "SO-1008", "2026-02-02", "sw2", "iro2", "2026-02-18")
    _fire(book, "SO-1008", ("discharge", "legal1", "2026-06-01", {}))
    # CP-2001: the CPC was not told of the ISO in time (overdue, the social worker's)
    cp = CpIsoRegistration("CP-2001", "CHILD-CP-2001", D("2026-11-17"), D("2027-01-14"), last_review=D("2026-10-14"),
                           issued=D("2026-09-07"), social_worker="sw1")  # fmt: skip
    book.handle(Register(actor="sw1", registration=cp, on=D("2026-11-17"), source="seed"))
    # CP-2002: the 3-way discussion is due (the CPCs' queue)
    cp = CpIsoRegistration("CP-2002", "CHILD-CP-2002", D("2026-11-13"), D("2027-02-10"), last_review=D("2026-08-12"),
                           issued=D("2026-08-24"), social_worker="sw2")  # fmt: skip
    book.handle(Register(actor="sw2", registration=cp, on=D("2026-11-13"), source="seed"))
    _fire(book, "CP-2002", ("inform_cpc", "sw2", "2026-11-16", {}))
    # CP-2003: plan and ISO running concurrently; review, midway, the Guardian's invitation and the 26-week date
    cp = CpIsoRegistration("CP-2003", "CHILD-CP-2003", D("2026-09-14"), D("2026-12-10"), last_review=D("2026-09-10"),
                           issued=D("2026-06-15"), final_hearing=D("2026-12-14"), social_worker="sw1")  # fmt: skip
    book.handle(Register(actor="sw1", registration=cp, on=D("2026-09-14"), source="seed"))
    _fire(book, "CP-2003", ("inform_cpc", "sw1", "2026-09-15", {}),
          ("hold_three_way_discussion", "cpc1", "2026-09-18", {"decision": "concurrent", "case_note": "CN-2003", "participants": ["sw1", "tm1"]}))  # fmt: skip
    book.sweep(today, source="seed")
    # one escalation acknowledged, so the inbox shows more than one state
    esc = book.escalation_row_id("SO-1004", 1)
    book.handle(ActOnEscalation(actor="tm1", action="acknowledge", on=today, escalation=esc, source="seed"))
    return ["SO-1001", "SO-1002", "SO-1003", "SO-1004", "SO-1005", "SO-1006", "SO-1007", "SO-1008",
            "CP-2001", "CP-2002", "CP-2003"]  # fmt: skip
