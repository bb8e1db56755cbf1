"""The daily sweep: every deadline due before the run's day passes, in batches of cases, each batch a task.

Each run records itself in orderwatch's ``sweep_runs`` (started, then completed with its counts, or failed) and, once
completed, tells Prefect (``orderwatch.sweep.completed``) and announces the next mornings it expects
(:mod:`flows.alarms`).
"""

from __future__ import annotations

from contextlib import suppress
from datetime import date
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.runtime import flow_run

from flows.alarms import announce_completed, expect_mornings
from flows.runtime import casebook, operations, run_id, scheduled_date, transient_database_error
from flows.views import emit_notices, plural, publish_summary, publish_worklist
from storage import clock
from storage.commands import SweepBatch, SweepReport

__all__ = ["CATCH_UP_TAG", "daily_sweep", "sweep_batch"]

CATCH_UP_TAG = "catch-up"  # on the run `orderwatch worker` starts when the last completed sweep is behind


@task(
    task_run_name="sweep-batch-{number}",
    retries=3,
    retry_delay_seconds=[2, 10, 30],
    retry_condition_fn=transient_database_error,
)
def sweep_batch(as_of: date, batch_size: int, number: int) -> SweepReport:
    """One batch of cases in one transaction: claimed, caught up to ``as_of``, committed together. Its request id is
    the run's and its number: a retried task (or run) answers from the batch's record instead of claiming more."""
    run = run_id()
    key = None if run is None else f"{run}/batch-{number}"
    report: SweepReport = casebook().handle(SweepBatch(as_of=as_of, batch_size=batch_size, source=run, request_id=key))
    return report


def _run_name() -> str:
    """``sweep-<date>``: the as_of parameter, else the scheduled date; ``sweep-<date>-catch-up`` for a catch-up."""
    given = flow_run.get_parameters().get("as_of")
    suffix = "-catch-up" if CATCH_UP_TAG in flow_run.get_tags() else ""
    return f"sweep-{given or scheduled_date().isoformat()}{suffix}"


@flow(name="daily-sweep", flow_run_name=_run_name)
def daily_sweep(as_of: date | None = None, batch_size: int = 500) -> dict[str, Any]:
    """Sweep for ``as_of`` (default: the run's scheduled date in Europe/London). Idempotent; catches up."""
    logger = get_run_logger()
    day = as_of or scheduled_date()
    ops = operations()
    this_run = flow_run.get_id() or f"local-{clock.now().isoformat()}"
    ops.sweep_started(this_run, flow_run.get_name() or _run_name(), day)
    try:
        total = _sweep(day, batch_size)
        worklist = _publish(day, total)
    except BaseException:
        with suppress(Exception):  # the database may be what failed: the run's own failure is what to report
            ops.sweep_finished(this_run, "failed")
        raise
    ops.sweep_finished(this_run, "completed", passed=total.passed, cases=total.cases, batches=total.batches)
    announce_completed(day, flow_run.get_id())
    if day >= clock.today():  # the morning's own sweep (or its catch-up) keeps the next mornings watched
        expect_mornings(ops, clock.now())
    logger.info(
        "sweep as of %s: %s passed on %s in %s, %s raised",
        day, plural(total.passed, "deadline"), plural(total.cases, "case"), plural(total.batches, "batch"),
        plural(sum(total.escalations.values()), "escalation"),
    )  # fmt: skip
    return {**total.as_dict(), "worklist_items": len(worklist)}


def _publish(day: date, total: SweepReport) -> list[dict[str, Any]]:
    """The day's Prefect events, the summary and the worklist artifacts; returns the worklist."""
    emitted = emit_notices(total.notices)
    book = casebook()
    publish_summary(
        f"Sweep as of {day.isoformat()}",
        "orderwatch-sweep-summary",
        {
            "deadlines passed": total.passed,
            "missed": ", ".join(f"{k} {v}" for k, v in sorted(total.missed.items())) or "none",
            "timers fired": ", ".join(f"{k} {v}" for k, v in sorted(total.timers.items())) or "none",
            "escalations raised": sum(total.escalations.values()),
            "cases touched": total.cases,
            "batches": total.batches,
            "events emitted": emitted,
        },
        book.counts_by_state(),
    )
    return publish_worklist(book, day)


def _sweep(day: date, batch_size: int) -> SweepReport:
    """Every batch for ``day`` until none is left; the sum of what they did."""
    total = SweepReport(day)
    number = 0
    while True:
        number += 1
        part = sweep_batch(day, batch_size, number)
        if not part.handled:
            return total
        total.add(part)
