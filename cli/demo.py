"""``make demo``: a scripted caseload through the real CLI, so a newcomer sees the system work.

It loads into orderwatch's own database — the one ``make run`` and its Prefect UI use (``ORDERWATCH_DATABASE_URL``,
else ``var/orderwatch.db``) — and refuses one that already holds cases. The story's steps are dated; those after
today are left for later. Generated identifiers only (no real personal data). ``run_demo`` plays the whole story on
a file of its own with "today" pinned to 2027-02-01 (past the first order's expiry).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from cli.dispatch import run_on_database
from cli.output import plain, print_human
from cli.parser import build_parser
from flows.views import plural

__all__ = ["PEOPLE", "load_demo", "run_demo"]

DEMO_TODAY = "2027-02-01"
PEOPLE = [
    ("hos.demo", "head_of_service", None),
    ("tm.demo", "team_manager", "hos.demo"),
    ("sw.demo", "social_worker", "tm.demo"),
    ("irom.demo", "iro_manager", "hos.demo"),
    ("iro.demo", "iro", "irom.demo"),
    ("sum.demo", "safeguarding_unit_manager", "hos.demo"),
    ("su.demo", "safeguarding_unit", "sum.demo"),
    ("legal.demo", "legal", None),
    ("cpctm.demo", "cpc_team_manager", "hos.demo"),
    ("cpc.demo", "cpc", "cpctm.demo"),
]

# (what is happening, the command) — a Supervision Order through urgent review, Head-of-Service escalation and
# step-down to expiry; a CP + ISO case through the 3-way discussion, a midway check, a disagreement, a review and a
# final hearing that makes a Supervision Order (which opens a linked SO case).
STORY: list[tuple[str, list[str]]] = [
    ("The court makes a Supervision Order; the social worker notifies the Safeguarding Unit",
     ["so", "register", "--case", "SO-DEMO-1", "--child", "CHILD-0001", "--order-date", "2026-01-15",
      "--notified-on", "2026-01-16", "--social-worker", "sw.demo", "--actor", "sw.demo"]),
    ("A named IRO is allocated", ["fire", "SO-DEMO-1", "allocate_iro", "--actor", "su.demo", "--on", "2026-01-20",
                                  "--set", "iro=iro.demo"]),
    ("The case summary is rewritten", ["fire", "SO-DEMO-1", "record_case_summary", "--actor", "sw.demo", "--on",
                                       "2026-01-22", "--set", "other_orders=none", "court_wording=support contact",
                                       "plan=to_follow"]),
    ("The first CIN meeting is held", ["fire", "SO-DEMO-1", "record_first_cin_meeting", "--actor", "sw.demo",
                                       "--on", "2026-02-03"]),
    ("The IRO's quality check fails: an immediate escalation to management",
     ["fire", "SO-DEMO-1", "fail_quality_check", "--actor", "iro.demo", "--on", "2026-02-10", "--set",
      "criteria_not_met=plan_smart", "findings=plan actions are not SMART"]),
    ("The plan to advise, assist and befriend, as tasks with owners", ["fire", "SO-DEMO-1", "record_support_plan",
                                                                       "--actor", "sw.demo", "--on", "2026-02-12",
                                                                       "--set", "plan=sw.demo: fortnightly home "
                                                                       "visits; Family Hub: parenting course"]),
    ("Management confirms the agreed actions are applied", ["fire", "SO-DEMO-1", "confirm_remedial_action",
                                                            "--actor", "tm.demo", "--on", "2026-02-13", "--set",
                                                            "note=actions re-agreed"]),
    ("The month-9 review is scheduled", ["fire", "SO-DEMO-1", "schedule_review", "--actor", "iro.demo", "--on",
                                         "2026-09-01", "--set", "review_on=2026-10-01"]),
    ("The review is inconclusive: urgent review", ["fire", "SO-DEMO-1", "hold_review", "--actor", "iro.demo",
                                                   "--on", "2026-10-01", "--set", "outcome=inconclusive"]),
    ("The minutes of that meeting are issued", ["fire", "SO-DEMO-1", "issue_minutes", "--actor", "iro.demo", "--on",
                                                "2026-10-08", "--set", "distribution=tm.demo,hos.demo,sw.demo,iro.demo"]),
    ("No progress by two weeks: the daily sweep escalates to the Head of Service",
     ["sweep", "--as-of", "2026-10-20"]),
    ("The meeting is reconvened with the Head of Service: step down",
     ["fire", "SO-DEMO-1", "hold_reconvened_review", "--actor", "iro.demo", "--on", "2026-10-28", "--set",
      "outcome=step_down", "hos_attended=true"]),
    ("Minutes issued to participants, Team Manager and Head of Service",
     ["fire", "SO-DEMO-1", "issue_minutes", "--actor", "iro.demo", "--on", "2026-11-03", "--set",
      "distribution=tm.demo,hos.demo,sw.demo,iro.demo"]),
    ("The Head of Service decides, with the Team Manager, to step down",
     ["fire", "SO-DEMO-1", "decide_step_down", "--actor", "hos.demo", "--on", "2026-11-10", "--set",
      "team_manager=tm.demo"]),
    ("A CP + ISO case: the ISO is granted for a child on a CP plan",
     ["cp-iso", "register", "--case", "CP-DEMO-1", "--child", "CHILD-0002", "--iso-date", "2026-06-01",
      "--next-review", "2026-08-20", "--last-review", "2026-05-20", "--issued", "2026-04-01", "--cmh", "2026-06-15",
      "--irh", "2026-08-28", "--social-worker", "sw.demo", "--actor", "sw.demo"]),
    ("The social worker makes the CPC aware", ["fire", "CP-DEMO-1", "inform_cpc", "--actor", "sw.demo", "--on",
                                               "2026-06-02"]),
    ("3-way discussion: CP plan and ISO run concurrently", ["fire", "CP-DEMO-1", "hold_three_way_discussion",
                                                            "--actor", "cpc.demo", "--on", "2026-06-05", "--set",
                                                            "decision=concurrent", "case_note=CN-0001",
                                                            "participants=sw.demo,tm.demo"]),
    ("The Children's Guardian is invited to the review", ["fire", "CP-DEMO-1", "invite_guardian", "--actor",
                                                          "cpc.demo", "--on", "2026-07-20"]),
    ("A disagreement about whether the CP plan should remain", ["fire", "CP-DEMO-1", "raise_disagreement", "--actor",
                                                                "tm.demo", "--on", "2026-07-21", "--set",
                                                                "note=TM considers ISO oversight sufficient"]),
    ("The CPC keeps in touch with the Children's Guardian", ["fire", "CP-DEMO-1", "record_guardian_contact",
                                                             "--actor", "cpc.demo", "--on", "2026-08-03"]),
    ("The CP review continues the plan; the decision to run concurrently is in its minutes",
     ["fire", "CP-DEMO-1", "hold_cp_review", "--actor", "cpc.demo", "--on", "2026-08-20", "--set",
      "outcome=continue_plan", "next_review=2026-11-20", "concurrency_minuted=true"]),
    ("The final hearing makes a Supervision Order: a linked SO case opens",
     ["fire", "CP-DEMO-1", "record_final_hearing", "--actor", "legal.demo", "--on", "2026-09-25", "--set",
      "outcome=supervision_order"]),
    ("The new Supervision Order gets its IRO", ["fire", "CP-DEMO-1-SO", "allocate_iro", "--actor", "su.demo", "--on",
                                                "2026-09-29", "--set", "iro=iro.demo"]),
    ("The first CIN meeting under the new order", ["fire", "CP-DEMO-1-SO", "record_first_cin_meeting", "--actor",
                                                   "sw.demo", "--on", "2026-10-14"]),
    ("The IRO's quality check passes", ["fire", "CP-DEMO-1-SO", "pass_quality_check", "--actor", "iro.demo", "--on",
                                        "2026-10-20", "--set",
                                        "criteria_met=started_timely,plan_smart,family_life_impact,la_commitment"]),
    ("The daily sweep runs past the first order's expiry", ["sweep", "--as-of", "2027-01-20"]),
]  # fmt: skip


def _cli(args: Sequence[str], db: str) -> Any:
    """Run one ``orderwatch`` command line against ``db``; its result as the CLI's JSON would give it."""
    return plain(run_on_database(build_parser().parse_args([*args, "--db", db])))


def run_demo(db_path: Path, *, echo: bool = True) -> str:
    """Load the demo caseload into a fresh SQLite file; returns its URL."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    db = f"sqlite:///{db_path}"
    os.environ.setdefault("ORDERWATCH_TODAY", DEMO_TODAY)
    os.environ.setdefault("ORDERWATCH_ACTOR", "demo")
    _story(db, echo=echo)
    return db


def cases_in(db: str) -> int:
    """How many cases the database holds (it is created and migrated if new)."""
    from sqlalchemy import func, select

    from storage.db import make_engine
    from storage.migrate import upgrade
    from storage.models import cases

    engine = make_engine(db)
    try:
        upgrade(engine)
        with engine.connect() as c:
            return int(c.scalar(select(func.count()).select_from(cases)) or 0)
    finally:
        engine.dispose()


DEMO_ADMIN = "demo"


def load_demo(db: str, until: date, *, echo: bool = False) -> None:
    """Load the demo caseload into an existing (empty) database: the steps dated up to ``until`` (today), so that
    people can go on from there with today's date. The environment is left as it was."""
    saved = {k: os.environ.get(k) for k in ("ORDERWATCH_TODAY", "ORDERWATCH_ACTOR")}
    os.environ["ORDERWATCH_TODAY"], os.environ["ORDERWATCH_ACTOR"] = until.isoformat(), DEMO_ADMIN
    try:
        _story(db, echo=echo, until=until)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def demo_passwords(db: str, password: str | None = None) -> str:
    """Give every demo person (and the demo's admin) a desk password — one, generated unless given — set by the
    demo's admin through the write path (``orderwatch up --demo`` prints it once)."""
    import secrets

    from storage import accounts
    from storage.casebook import Casebook
    from storage.clock import now
    from storage.db import make_engine

    password = password or secrets.token_urlsafe(12)
    hashed = accounts.hash_password(password)
    engine = make_engine(db)
    try:
        book = Casebook(engine, clock=now)
        for user in [DEMO_ADMIN, *(u for u, _, _ in PEOPLE)]:
            book.handle(accounts.SetPassword(actor=DEMO_ADMIN, user=user, password_hash=hashed, must_change=False,
                                             channel="cli"))  # fmt: skip
    finally:
        engine.dispose()
    return password


def _step_date(args: list[str]) -> date | None:
    for flag in ("--on", "--as-of", "--notified-on", "--iso-date"):
        if flag in args:
            return date.fromisoformat(args[args.index(flag) + 1])
    return None


def _story(db: str, *, echo: bool, until: date | None = None) -> None:
    say = print if echo else (lambda *a, **k: None)
    # the demo's admin (ORDERWATCH_ACTOR while it loads): sets the people up, and reads every case (PROCEDURES §6)
    _cli(["people", "add", DEMO_ADMIN, "--role", "admin"], db)
    for user, role, manager in PEOPLE:
        _cli(["people", "add", user, "--role", role, *(["--manager", manager] if manager else [])], db)
    say(f"People: {', '.join(f'{u} ({r})' for u, r, _ in PEOPLE)}\n")
    for what, args in STORY:
        when = _step_date(args)
        if until is not None and when is not None and when > until:
            continue
        result = _cli(args, db)
        if args[0] == "fire":
            say(
                f"- {what}\n    {result['case']}: {result['from']} -> {result['to']} ({result['event']}, {result['on']})"
            )
        elif args[0] == "sweep":
            say(f"- {what}\n    sweep as of {result['as_of']}: {plural(result['passed'], 'deadline')} passed, "
                f"{plural(result['escalations_raised'], 'escalation')} raised")  # fmt: skip
        else:
            say(f"- {what}\n    {result['case']} opened: {result['state']}")
        if args[:3] == ["fire", "SO-DEMO-1", "fail_quality_check"]:
            esc = _cli(["show", "SO-DEMO-1"], db)["escalations"][-1]["id"]
            _cli(["fire", esc, "acknowledge", "--actor", "tm.demo", "--on", "2026-02-11"], db)
            _cli(["fire", esc, "resolve", "--actor", "tm.demo", "--on", "2026-02-12", "--set",
                  "note=actions re-agreed with the family"], db)  # fmt: skip
            say(f"    {esc} acknowledged and resolved by the Team Manager")


def _print_section(title: str, args: list[str], db: str) -> None:
    print(f"\n== {title}: orderwatch {' '.join(args)}")
    print_human(_cli(args, db))


def demo() -> int:
    """Load the demo into orderwatch's own database (refused if it holds cases) and show what it made."""
    from storage import clock
    from storage.db import database_url

    db = database_url()
    held = cases_in(db)
    if held:
        print(f"orderwatch demo: {db} already holds {plural(held, 'case')}; the demo loads only into an empty database "
              "(another one: ORDERWATCH_DATABASE_URL=sqlite:///var/other.db make demo)", file=sys.stderr)  # fmt: skip
        return 2
    today = clock.today()
    print(f"orderwatch demo into {db} — the database `make run` and its UI use — the story up to today, {today}\n")
    load_demo(db, today, echo=True)
    reader = ["--actor", DEMO_ADMIN]
    _print_section("Worklist for the year ahead", ["worklist", "--as-of", today.isoformat(), "--within", "365", *reader],
                   db)  # fmt: skip
    _print_section("Open escalations", ["escalations", "--open", *reader], db)
    for ref in ("SO-DEMO-1", "CP-DEMO-1", "CP-DEMO-1-SO"):
        if _step_dates(ref, today):
            shown = _cli(["show", ref, *reader], db)
            print(f"\n== {ref}\n   state {shown['state']}; dates {shown['dates']}; links {shown['links']}")
    _print_section("History of SO-DEMO-1", ["history", "SO-DEMO-1", *reader], db)
    return 0


def _step_dates(ref: str, today: date) -> bool:
    """Was the case opened by a step dated up to today?"""
    for _, args in STORY:
        opened = (
            args[:2] in (["so", "register"], ["cp-iso", "register"]) and args[args.index("--case") + 1] == ref
        ) or (args[0] == "fire" and args[3:] and ref == f"{args[1]}-SO" and "outcome=supervision_order" in args)
        if opened:
            when = _step_date(args)
            return when is None or when <= today
    return False


if __name__ == "__main__":
    sys.exit(demo())
