"""One task run per case (how a newcomer to Prefect would write the sweep) against orderwatch's batched sweep.

    .venv/bin/python -m bench.prefect_ratio [--cases 10000] [--due 2000]

The same morning's work — ``--due`` cases with deadlines due, in a caseload of ``--cases`` — done twice on
identical SQLite databases under one temporary Prefect server:

* ``newcomer``: a flow that lists the due cases and maps a task over them, one task run per case, each task
  catching its case up in its own transaction (``Casebook.catch_up``);
* ``orderwatch``: the real ``daily-sweep`` flow (batches of 500 cases per task run, its artifacts and events).

Prints both wall times (flow call to return) and the ratio.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from datetime import date
from typing import Any

from bench._caseload import SWEEP_DAY, VAR, build_caseload, clock, emit, log

os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
NEWCOMER_THREADS = 8


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10000)
    parser.add_argument("--due", type=int, default=2000)
    args = parser.parse_args()
    base = VAR / "prefect-ratio.db"
    build_caseload(f"sqlite:///{base}", args.cases - args.due, args.due, fresh=True)
    newcomer_db, orderwatch_db = VAR / "prefect-ratio-newcomer.db", VAR / "prefect-ratio-orderwatch.db"
    for copy in (newcomer_db, orderwatch_db):
        for stale in (copy.with_name(copy.name + "-wal"), copy.with_name(copy.name + "-shm")):
            stale.unlink(missing_ok=True)  # a WAL left by an interrupted run would be replayed onto the copy
        shutil.copy(base, copy)

    from prefect import flow, task
    from prefect.task_runners import ThreadPoolTaskRunner
    from prefect.testing.utilities import prefect_test_harness
    from sqlalchemy import select

    from flows.runtime import dispose_engines
    from flows.sweep import daily_sweep
    from storage.casebook import Casebook
    from storage.commands import CatchUp
    from storage.db import make_engine
    from storage.models import cases

    def book(path: Any) -> Casebook:
        return Casebook(make_engine(f"sqlite:///{path}"), clock=clock)

    newcomer_book = book(newcomer_db)

    @task
    def sweep_case(ref: str, as_of: date) -> int:
        if ref == "none":
            return 0
        passed: int = newcomer_book.handle(CatchUp(ref=ref, as_of=as_of))
        return passed

    # Prefect's thread pool is unbounded by default: 2,000 task runs at once exhaust SQLAlchemy's pool (15
    # connections, 30 s wait) and fail. A newcomer who met that would bound it, below the pool's size.
    @flow(task_runner=ThreadPoolTaskRunner(max_workers=NEWCOMER_THREADS))  # type: ignore[arg-type]
    def newcomer_sweep(as_of: date) -> int:
        with newcomer_book.engine.connect() as c:
            refs = list(c.scalars(select(cases.c.ref).where(cases.c.next_due_on < as_of)))
        futures = sweep_case.map(refs, as_of)
        return sum(f.result() for f in futures)

    @flow
    def warm_up() -> None:
        """The server's first flow and task runs pay one-off costs; neither contender should."""
        sweep_case.submit("none", date(2000, 1, 1)).wait()

    with prefect_test_harness(server_startup_timeout=120):
        warm_up(return_state=True)
        # orderwatch first: the newcomer's thousands of task runs leave the server a backlog of events to digest
        log(f"orderwatch: daily-sweep in batches, {args.due} cases")
        os.environ["ORDERWATCH_DATABASE_URL"] = f"sqlite:///{orderwatch_db}"
        daily_sweep(as_of=date(2000, 1, 1))  # its warm-up: nothing is due that day
        started = time.perf_counter()
        result = daily_sweep(as_of=SWEEP_DAY)
        orderwatch_seconds = time.perf_counter() - started
        log(f"newcomer: one task run per case ({orderwatch_seconds:.1f} s for orderwatch)")
        started = time.perf_counter()
        passed_newcomer = newcomer_sweep(SWEEP_DAY)
        newcomer_seconds = time.perf_counter() - started
        log(f"newcomer: {newcomer_seconds:.1f} s")
        dispose_engines()
    assert passed_newcomer == result["passed"], (passed_newcomer, result["passed"])
    emit({
        "benchmark": "prefect_ratio",
        "cases": args.cases,
        "cases_with_work_due": args.due,
        "deadlines_passed": result["passed"],
        "newcomer_task_per_case_seconds": round(newcomer_seconds, 2),
        "newcomer_threads": NEWCOMER_THREADS,
        "orderwatch_batched_flow_seconds": round(orderwatch_seconds, 2),
        "ratio": round(newcomer_seconds / orderwatch_seconds, 1),
    })  # fmt: skip


if __name__ == "__main__":
    main()
