"""Fired transitions per second, persistence included, on SQLite and on PostgreSQL.

    .venv/bin/python -m bench.transitions [--cases 10000] [--pg postgresql://postgres@127.0.0.1:5432/test]

A transition counts once it is committed: the case row (optimistic revision check), its deadlines, any escalation
and its event-log entry, in one unit of work. Three ways in:

* ``sweep``: the morning sweep letting 5,000 cases' due deadlines pass (batches of 500 cases per transaction);
* ``apply``: managers' events arriving in bulk (``Casebook.handle_all``, 500 per transaction);
* ``fire``: one manager's event at a time (``Casebook.fire``, one transaction each — the CLI's path).

Medians over batches (``apply``, ``fire``) or over repeated sweeps. PostgreSQL runs in a schema of its own, dropped
at the end.
"""

from __future__ import annotations

import argparse
import time
import uuid
from datetime import date
from typing import Any

import sqlalchemy as sa

from bench._caseload import SWEEP_DAY, VAR, build_caseload, clock, emit, log, median, reset_due
from storage.casebook import Casebook
from storage.commands import Fire
from storage.db import make_engine

BATCH = 500


def _so_refs(active: int) -> list[str]:
    # The active templates alternate: odd numbers are Supervision Orders with their plan in progress.
    return [f"A{i:07d}" for i in range(1, active + 1, 2)]


def measure(url: str, cases: int, due: int, repeat: int, reset: bool) -> dict[str, Any]:
    active = cases - due
    engine = make_engine(url)
    book = Casebook(engine, clock=clock)
    sweeps, passed = [], 0
    for i in range(repeat):
        if i:
            if not reset:
                break
            reset_due(url, active, due)
        started = time.perf_counter()
        report = book.sweep(SWEEP_DAY)
        sweeps.append(report.passed / (time.perf_counter() - started))
        passed += report.passed
    refs = _so_refs(active)
    on = SWEEP_DAY
    schedule = [Fire(actor="iro", ref=r, event="schedule_review", on=on, fields={"review_on": "2027-08-02"})
                for r in refs]  # fmt: skip
    hold = [Fire(actor="iro", ref=r, event="hold_review", on=date(2027, 8, 2), fields={"outcome": "step_down"})
            for r in refs]  # fmt: skip
    apply_rates, applied = [], 0
    for batch in (schedule[i : i + BATCH] for i in range(0, len(schedule), BATCH)):
        started = time.perf_counter()
        results = book.handle_all(batch)
        apply_rates.append(len(batch) / (time.perf_counter() - started))
        applied += len(batch)
        assert all(getattr(r, "to_state", None) == "review_scheduled" for r in results), results[:3]
    fire_rates = []
    singles = hold[:1000]
    for batch in (singles[i : i + 100] for i in range(0, len(singles), 100)):
        started = time.perf_counter()
        for act in batch:
            book.handle(act)
        fire_rates.append(len(batch) / (time.perf_counter() - started))
    for batch in (hold[i : i + BATCH] for i in range(1000, len(hold), BATCH)):
        started = time.perf_counter()
        results = book.handle_all(batch)
        apply_rates.append(len(batch) / (time.perf_counter() - started))
        applied += len(batch)
        assert all(getattr(r, "to_state", None) == "minutes_pending" for r in results), results[:3]
    engine.dispose()
    return {
        "sweep_deadlines_per_second": round(median(sweeps)),
        "apply_transitions_per_second": round(median(apply_rates)),
        "fire_transitions_per_second": round(median(fire_rates)),
        "transitions_measured": {"sweep": passed, "apply": applied, "fire": len(singles)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10000)
    parser.add_argument("--due", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    out: dict[str, Any] = {"benchmark": "transitions", "cases": args.cases, "batch": BATCH}
    sqlite_url = f"sqlite:///{VAR / 'transitions.db'}"
    log(f"SQLite: {sqlite_url}")
    build_caseload(sqlite_url, args.cases - args.due, args.due, fresh=True)
    out["sqlite"] = measure(sqlite_url, args.cases, args.due, args.repeat, reset=True)
    schema = f"ow_bench_{uuid.uuid4().hex[:8]}"
    admin = make_engine(args.pg)
    with admin.begin() as c:
        c.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        pg_url = f"{args.pg}?options=-csearch_path%3D{schema}"
        log(f"PostgreSQL: schema {schema}")
        build_caseload(pg_url, args.cases - args.due, args.due, fresh=True)
        out["postgresql"] = measure(pg_url, args.cases, args.due, 1, reset=False)
    finally:
        with admin.begin() as c:
            c.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
    emit(out)


if __name__ == "__main__":
    main()
