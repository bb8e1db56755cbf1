"""The daily sweep: every deadline due before the run's day passes, in batches of cases, each batch a task."""

from __future__ import annotations

from datetime import date
from typing import Any

from prefect import flow, get_run_logger, task

from flows.runtime import casebook, run_id, scheduled_date, transient_database_error
from flows.views import emit_notices, publish_summary, publish_worklist
from storage.commands import SweepBatch, SweepReport

__all__ = ["daily_sweep", "sweep_batch"]


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
    """``sweep-<date>``: the as_of parameter, else the scheduled date."""
    from prefect.runtime import flow_run

    given = flow_run.get_parameters().get("as_of")
    return f"sweep-{given or scheduled_date().isoformat()}"


@flow(name="daily-sweep", flow_run_name=_run_name)
def daily_sweep(as_of: date | None = None, batch_size: int = 500) -> dict[str, Any]:
    """Sweep for ``as_of`` (default: the run's scheduled date in Europe/London). Idempotent; catches up."""
    logger = get_run_logger()
    day = as_of or scheduled_date()
    total = SweepReport(day)
    number = 0
    while True:
        number += 1
        part = sweep_batch(day, batch_size, number)
        if not part.handled:
            break
        total.add(part)
    emitted = emit_notices(total.notices)
    book = casebook()
    summary = total.as_dict()
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
    worklist = publish_worklist(book, day)
    logger.info(
        "sweep as of %s: %d deadlines passed on %d cases in %d batches, %d escalations raised",
        day, total.passed, total.cases, total.batches, sum(total.escalations.values()),
    )  # fmt: skip
    return {**summary, "worklist_items": len(worklist)}
