"""Build benchmark caseloads: real cases made by the casebook, then copied in bulk.

A handful of *template* cases is taken through the real casebook operations on a scratch database (so every row
is what orderwatch itself writes: case, deadlines, escalations, its event log). The caseload is those rows copied
N times under new references with bulk ``executemany`` — building a million cases one transaction at a time
would take longer than everything measured here.

Two sorts of case:

* **active** ones, whose open deadlines all fall after the sweep day (a Supervision Order with its plan in progress;
  a CP+ISO case running concurrently) — the caseload the sweep must *not* read;
* **due** ones, with work due before the sweep day, in the mix a morning would bring: an IRO not allocated in time
  (missed, escalated), no progress two weeks after an urgent review (the ``progress_check`` timer moves the case),
  an order expiring (the ``order_expiry`` timer), a CPC not informed of an ISO (missed).
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from machines.cp_iso import CpIsoRegistration
from machines.policy import DEFAULT_POLICY
from machines.spec import Registration
from machines.supervision_order import SORegistration
from storage.casebook import Casebook
from storage.commands import AddPerson, Fire, Register
from storage.db import make_engine
from storage.migrate import upgrade
from storage.models import metadata
from storage.policies import PolicyBook

SWEEP_DAY = date(2027, 3, 1)  # as_of of every benchmark sweep
NOW = datetime(2027, 3, 1, 6, 30, tzinfo=UTC)
VAR = Path(os.environ.get("ORDERWATCH_BENCH_DIR", "var/bench"))
TABLES = ("cases", "deadlines", "escalations", "events")
CRITERIA = "started_timely,plan_smart,family_life_impact,la_commitment"  # the quality check's four criteria
PEOPLE = [
    ("hos", "head_of_service", None),
    ("tm", "team_manager", "hos"),
    ("sw", "social_worker", "tm"),
    ("irom", "iro_manager", "hos"),
    ("iro", "iro", "irom"),
    ("sum", "safeguarding_unit_manager", "hos"),
    ("su", "safeguarding_unit", "sum"),
    ("legal", "legal", None),
    ("cpctm", "cpc_team_manager", "hos"),
    ("cpc", "cpc", "cpctm"),
]


def clock() -> datetime:
    return NOW


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def emit(result: dict[str, Any]) -> None:
    """Every benchmark prints one JSON document on stdout."""
    print(json.dumps(result, indent=2, default=str))


# -- the templates ----------------------------------------------------------------------------------------------------


def _fire(book: Casebook, ref: str, steps: list[tuple[str, str, str, dict[str, str]]]) -> None:
    for event, actor, on, fields in steps:
        book.handle(Fire(actor=actor, ref=ref, event=event, on=date.fromisoformat(on), fields=fields))


def _register(book: Casebook, registration: Registration, actor: str, on: date) -> None:
    book.handle(Register(actor=actor, registration=registration, on=on))


def make_templates(book: Casebook) -> dict[str, list[str]]:
    """Template cases by sort ("active", "due"); returns their references."""
    for user, role, manager in PEOPLE:
        book.handle(AddPerson(actor="bench", user=user, role=role, manager=manager))
    d = date.fromisoformat
    # active: an SO with its plan running (next deadline: the month-9 review, after the sweep day)
    _register(book, SORegistration("T-SO-ACTIVE", "CHILD-T1", d("2026-12-01"), notified_on=d("2026-12-02"),
                                    social_worker="sw"), "sw", d("2026-12-02"))  # fmt: skip
    _fire(book, "T-SO-ACTIVE", [
        ("allocate_iro", "su", "2026-12-03", {"iro": "iro"}),
        ("record_case_summary", "sw", "2026-12-04", {"other_orders": "none", "court_wording": "w", "plan": "sw: visits"}),
        ("record_first_cin_meeting", "sw", "2026-12-10", {}),
        ("pass_quality_check", "iro", "2026-12-15", {"criteria_met": CRITERIA}),
    ])  # fmt: skip
    # active: a CP+ISO case running concurrently, review and midway discussion after the sweep day
    _register(book, CpIsoRegistration("T-CP-ACTIVE", "CHILD-T2", d("2027-02-01"), d("2027-06-20"),
                                           last_review=d("2026-12-22"), issued=d("2027-01-25"),
                                           final_hearing=d("2027-07-20"), social_worker="sw"), "sw", d("2027-02-01"))  # fmt: skip
    _fire(book, "T-CP-ACTIVE", [
        ("inform_cpc", "sw", "2027-02-01", {}),
        ("hold_three_way_discussion", "cpc", "2027-02-03", {"decision": "concurrent", "case_note": "CN-1",
                                                          "participants": "sw,tm"}),
    ])  # fmt: skip
    # due: no IRO allocated in time (missed: an escalation to the Safeguarding Unit)
    _register(book, SORegistration("T-SO-NOIRO", "CHILD-T3", d("2027-02-18"), notified_on=d("2027-02-19"),
                                    social_worker="sw"), "sw", d("2027-02-19"))  # fmt: skip
    # due: no progress two weeks after an urgent review (a timer: the case moves to escalated_to_hos)
    _register(book, SORegistration("T-SO-URGENT", "CHILD-T4", d("2026-05-01"), notified_on=d("2026-05-01"),
                                    social_worker="sw"), "sw", d("2026-05-01"))  # fmt: skip
    _fire(book, "T-SO-URGENT", [
        ("allocate_iro", "su", "2026-05-04", {"iro": "iro"}),
        ("record_case_summary", "sw", "2026-05-05", {"other_orders": "none", "court_wording": "w", "plan": "sw: visits"}),
        ("record_first_cin_meeting", "sw", "2026-05-12", {}),
        ("pass_quality_check", "iro", "2026-05-18", {"criteria_met": CRITERIA}),
        ("schedule_review", "iro", "2027-01-04", {"review_on": "2027-01-20"}),
        ("hold_review", "iro", "2027-02-13", {"outcome": "inconclusive"}),
        ("issue_minutes", "iro", "2027-02-20", {"distribution": "sw,iro,tm,hos"}),
    ])  # fmt: skip
    # due: an order stepping down reaches its expiry (the order_expiry timer: the case expires)
    _register(book, SORegistration("T-SO-EXPIRY", "CHILD-T5", d("2026-02-28"), notified_on=d("2026-03-02"),
                                    social_worker="sw"), "sw", d("2026-03-02"))  # fmt: skip
    _fire(book, "T-SO-EXPIRY", [
        ("allocate_iro", "su", "2026-03-03", {"iro": "iro"}),
        ("record_case_summary", "sw", "2026-03-04", {"other_orders": "none", "court_wording": "w", "plan": "sw: visits"}),
        ("record_first_cin_meeting", "sw", "2026-03-10", {}),
        ("pass_quality_check", "iro", "2026-03-16", {"criteria_met": CRITERIA}),
        ("schedule_review", "iro", "2026-10-01", {"review_on": "2026-11-02"}),
        ("hold_review", "iro", "2026-11-02", {"outcome": "step_down"}),
        ("issue_minutes", "iro", "2026-11-09", {"distribution": "sw,iro,tm,hos"}),
        ("decide_step_down", "hos", "2026-11-16", {"team_manager": "tm"}),
    ])  # fmt: skip
    # due: the CPC not told of an ISO in time (missed)
    _register(book, CpIsoRegistration("T-CP-NOTOLD", "CHILD-T6", d("2027-02-24"), d("2027-05-20"),
                                           last_review=d("2026-11-25"), issued=d("2027-02-10"),
                                           social_worker="sw"), "sw", d("2027-02-24"))  # fmt: skip
    return {
        "active": ["T-SO-ACTIVE", "T-CP-ACTIVE"],
        "due": ["T-SO-NOIRO", "T-SO-URGENT", "T-SO-EXPIRY", "T-CP-NOTOLD"],
    }


@dataclass
class Template:
    """One case's rows, as the database stores them (raw driver values), ready to be copied."""

    ref: str
    rows: dict[str, list[dict[str, Any]]]


def read_templates(engine: sa.Engine, refs: Sequence[str]) -> list[Template]:
    out = []
    with engine.connect() as c:
        for ref in refs:
            case = dict(c.exec_driver_sql("SELECT * FROM cases WHERE ref = ?", (ref,)).mappings().one())
            rows: dict[str, list[dict[str, Any]]] = {"cases": [case]}
            for table in TABLES[1:]:
                rows[table] = [dict(r) for r in c.exec_driver_sql(
                    f"SELECT * FROM {table} WHERE case_id = ? ORDER BY id", (case["id"],)).mappings()]  # fmt: skip
            out.append(Template(ref, rows))
    return out


def copy_cases(engine: sa.Engine, templates: Sequence[Template], n: int, prefix: str, first_id: int,
               dress: Callable[[int, dict[str, Any]], None] | None = None) -> None:  # fmt: skip
    """Insert ``n`` copies of the templates (round-robin) as cases ``prefix0000001…``, ids from ``first_id``;
    ``dress(i, case_row)``, if given, changes each copy's case row further (its people, say)."""
    placeholder = "%s" if engine.dialect.name == "postgresql" else "?"
    chunk = 20000
    with engine.begin() as c:
        raw = c.connection.driver_connection
        assert raw is not None
        cursor = raw.cursor()
        for start in range(0, n, chunk):
            batch: dict[str, list[tuple[Any, ...]]] = {t: [] for t in TABLES}
            columns: dict[str, list[str]] = {}
            for i in range(start, min(n, start + chunk)):
                t = templates[i % len(templates)]
                case_id = first_id + i
                ref = f"{prefix}{i + 1:07d}"
                for table in TABLES:
                    for row in t.rows[table]:
                        values = dict(row)
                        if table == "cases":
                            values.update(id=case_id, ref=ref, child_id=f"CHILD-{prefix}{i + 1:07d}")
                            if dress is not None:
                                dress(i, values)
                        else:
                            values.pop("id")
                            values["case_id"] = case_id
                        columns.setdefault(table, list(values))
                        batch[table].append(tuple(values.values()))
            for table in TABLES:
                if batch[table]:
                    cols = columns[table]
                    sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join([placeholder] * len(cols))})"
                    cursor.executemany(sql, batch[table])
    if engine.dialect.name == "postgresql":
        with engine.begin() as c:
            for table in TABLES:
                c.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
                )


def _sqlite_path(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


def build_caseload(url: str, active: int, due: int, *, fresh: bool = False) -> dict[str, Any]:
    """A database holding ``active`` cases with nothing due and ``due`` cases with work due on ``SWEEP_DAY``.

    SQLite files are kept under ``var/bench`` and reused (building a million cases takes a minute or two);
    ``reset_due`` puts the due cases back before each measured sweep.
    """
    engine = make_engine(url)
    is_sqlite = engine.dialect.name == "sqlite"
    if is_sqlite and _sqlite_path(url).exists() and not fresh:
        with engine.connect() as c:
            if c.exec_driver_sql("SELECT count(*) FROM cases").scalar() == active + due:
                engine.dispose()
                return {"built": False}
        engine.dispose()
    if is_sqlite:
        for stale in _sqlite_path(url).parent.glob(_sqlite_path(url).name + "*"):
            stale.unlink()
        _sqlite_path(url).parent.mkdir(parents=True, exist_ok=True)
        engine = make_engine(url)
    else:
        upgrade(engine)
        with engine.begin() as c:
            tables = ", ".join(t.name for t in metadata.sorted_tables)
            # the record refuses TRUNCATE (its guard trigger): lifted for this bench's own schema only
            c.exec_driver_sql("SET LOCAL session_replication_role = replica")
            c.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    upgrade(engine)
    started = time.perf_counter()
    scratch = make_engine("sqlite://")
    upgrade(scratch)
    refs = make_templates(Casebook(scratch, DEFAULT_POLICY, clock=clock))
    active_t, due_t = read_templates(scratch, refs["active"]), read_templates(scratch, refs["due"])
    with scratch.connect() as c:
        people = [dict(r) for r in c.exec_driver_sql("SELECT * FROM people").mappings()]
    scratch.dispose()
    with engine.begin() as c:
        c.execute(sa.insert(metadata.tables["people"]), [
            {**p, "added_at": NOW} for p in people])  # fmt: skip
        policy_id = PolicyBook(DEFAULT_POLICY).current_id(c, NOW)  # the policy the copied cases run under
    for template in (*active_t, *due_t):
        template.rows["cases"][0]["policy_id"] = policy_id
    copy_cases(engine, active_t, active, "A", 1)
    copy_cases(engine, due_t, due, "D", active + 1)
    if is_sqlite:
        # outside any transaction (the connection's "begin" event would open one): a checkpoint cannot run inside
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute("ANALYZE")
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            cursor.close()
        finally:
            raw.close()
    engine.dispose()
    return {"built": True, "build_seconds": round(time.perf_counter() - started, 1)}


def reset_due(url: str, active: int, due: int) -> None:
    """Put the due cases back as they were before a sweep: delete their rows, copy the templates again."""
    engine = make_engine(url)
    assert engine.dialect.name == "sqlite", "the sweep benchmarks run on SQLite"
    first = active + 1
    with engine.begin() as c:
        # The event log is append-only (triggers refuse UPDATE and DELETE): lifted for this bench reset only.
        triggers = c.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").all()
        for name, _sql in triggers:
            c.exec_driver_sql(f"DROP TRIGGER {name}")
        # the sweep's notices (the outbox) name the due cases' escalations: they go first
        c.exec_driver_sql(f"DELETE FROM notifications WHERE case_ref IN (SELECT ref FROM cases WHERE id >= {first})")
        for table in ("events", "deadlines", "escalations", "involvements"):
            c.exec_driver_sql(f"DELETE FROM {table} WHERE case_id >= {first}")
        c.exec_driver_sql(f"DELETE FROM cases WHERE id >= {first}")
        for _name, sql in triggers:
            c.exec_driver_sql(sql)
    scratch = make_engine("sqlite://")
    upgrade(scratch)
    refs = make_templates(Casebook(scratch, DEFAULT_POLICY, clock=clock))
    due_t = read_templates(scratch, refs["due"])
    scratch.dispose()
    copy_cases(engine, due_t, due, "D", first)
    raw = engine.raw_connection()  # everything in the main file: copies of it are whole (outside a transaction)
    try:
        raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        raw.close()
    engine.dispose()


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    it = iter(items)
    while batch := list(itertools.islice(it, size)):
        yield batch
