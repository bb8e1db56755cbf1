"""The floor: the sweep's row changes done as bare SQL ``executemany``, and orderwatch's throughput as a fraction.

    .venv/bin/python -m bench.floor [--cases 10000] [--due 5000] [--repeat 5]

On identical SQLite copies of one caseload: (1) orderwatch's sweep, timed; (2) the very same row changes — captured
from a sweep — written with the ``sqlite3`` module alone: one ``executemany`` per statement, one transaction,
no reads, no rules, no objects. The floor is what the database itself costs; the fraction is how much of that
speed orderwatch keeps while reading the due cases and running every rule through the state machines.
"""

from __future__ import annotations

import argparse
import copy
import json
import shutil
import sqlite3
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

from bench._caseload import SWEEP_DAY, VAR, build_caseload, clock, emit, log, median, reset_due

STATEMENTS = {
    "cases": "UPDATE cases SET state = :state, dates = :dates, people = :people, details = :details, links = :links, "
    "last_event_on = :last_event_on, next_due_on = :next_due_on, last_seq = :last_seq, revision = revision + 1 "
    "WHERE id = :b_id AND revision = :b_revision",
    "closed_deadlines": "UPDATE deadlines SET status = :status, closed_on = :closed_on "
    "WHERE id = :b_id AND status = 'open'",
    "changed_escalations": "UPDATE escalations SET state = :state, raised_to = :raised_to, level = :level, "
    "resolution = :resolution, closed_on = :closed_on WHERE case_id = :b_case_id AND no = :b_no",
}
INSERTS = ("new_deadlines", "new_escalations", "events")
TABLE = {"new_deadlines": "deadlines", "new_escalations": "escalations", "events": "events"}


def _plain(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return value


def capture(url: str) -> dict[str, list[dict[str, Any]]]:
    """Sweep once, recording every row change the unit of work writes."""
    import storage.writes as rows_module
    from storage.casebook import Casebook
    from storage.db import make_engine

    captured: dict[str, list[dict[str, Any]]] = {k: [] for k in (*STATEMENTS, *INSERTS)}
    original = rows_module.Writes.flush

    def recording(self: Any, connection: Any) -> None:
        for key in captured:
            captured[key].extend(copy.deepcopy(getattr(self, key)))
        original(self, connection)

    rows_module.Writes.flush = recording  # type: ignore[method-assign]
    try:
        engine = make_engine(url)
        Casebook(engine, clock=clock).sweep(SWEEP_DAY)
        engine.dispose()
    finally:
        rows_module.Writes.flush = original  # type: ignore[method-assign]
    return {k: [{c: _plain(v) for c, v in row.items()} for row in rows] for k, rows in captured.items()}


def bare(path: Path, changes: dict[str, list[dict[str, Any]]]) -> float:
    """The same changes with sqlite3 alone (same pragmas as orderwatch: WAL, synchronous=NORMAL)."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA foreign_keys=ON")
    started = time.perf_counter()
    db.execute("BEGIN")
    for key, sql in STATEMENTS.items():
        if changes[key]:
            db.executemany(sql, changes[key])
    for key in INSERTS:
        rows = changes[key]
        if rows:
            cols = list(rows[0])
            sql = f"INSERT INTO {TABLE[key]} ({', '.join(cols)}) VALUES ({', '.join(':' + c for c in cols)})"
            db.executemany(sql, rows)
    db.execute("COMMIT")
    seconds = time.perf_counter() - started
    db.close()
    return seconds


def orderwatch(url: str) -> tuple[float, int]:
    from storage.casebook import Casebook
    from storage.db import make_engine

    engine = make_engine(url)
    book = Casebook(engine, clock=clock)
    book.sweep(date(2000, 1, 1))  # warm: imports, the bank-holiday table, the connection (nothing is due in 2000)
    started = time.perf_counter()
    report = book.sweep(SWEEP_DAY)
    seconds = time.perf_counter() - started
    engine.dispose()
    return seconds, report.passed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10000)
    parser.add_argument("--due", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    active = args.cases - args.due
    path = VAR / "floor.db"
    url = f"sqlite:///{path}"
    build_caseload(url, active, args.due, fresh=True)
    changes = capture(url)
    rows = sum(len(v) for v in changes.values())
    log(f"captured {rows} row changes")
    ours, floors, passed = [], [], 0
    for _ in range(args.repeat):
        reset_due(url, active, args.due)
        seconds, passed = orderwatch(url)
        ours.append(seconds)
        reset_due(url, active, args.due)
        shutil.copy(path, VAR / "floor-bare.db")
        floors.append(bare(VAR / "floor-bare.db", changes))
        log(f"  orderwatch {seconds:.2f} s, bare SQL {floors[-1]:.2f} s")
    emit({
        "benchmark": "floor",
        "cases": args.cases,
        "cases_with_work_due": args.due,
        "deadlines_passed": passed,
        "row_changes": {k: len(v) for k, v in changes.items()},
        "orderwatch_median_seconds": round(median(ours), 3),
        "bare_sql_median_seconds": round(median(floors), 3),
        "fraction_of_floor": round(median(floors) / median(ours), 3),
    })  # fmt: skip


if __name__ == "__main__":
    main()
