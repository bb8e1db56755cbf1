"""The daily caseload report and the escalation notifications (the target of the shipped Automation)."""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from flows.runtime import casebook, public, run_id, scheduled_date
from flows.views import plural, publish_summary, publish_worklist
from machines.errors import Refused
from storage.ids import escalation_id
from storage.notifications import NotifyEscalation

__all__ = ["caseload_report", "notify_escalation"]


def _report_name() -> str:
    """``report-<date>``: the as_of parameter, else the run's scheduled date (today, for a run started by hand)."""
    given = flow_run.get_parameters().get("as_of")
    return f"report-{given or scheduled_date().isoformat()}"


@flow(name="caseload-report", flow_run_name=_report_name)
def caseload_report(as_of: date | None = None) -> dict[str, Any]:
    """Cases by state, overdue and due-this-week work, open escalations by reason: for the Head of Service."""
    day = as_of or scheduled_date()
    book = casebook()
    worklist = publish_worklist(book, day)
    open_escalations = book.escalations(open_only=True)
    by_reason = Counter(e.reason for e in open_escalations)
    by_state = book.counts_by_state()
    notes = book.caseload_notes(day)  # CP+ISO: days since the Guardian was contacted, flagged records (refs only)
    longest = sorted(notes.guardian_days.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    facts = {
        "cases": sum(n for states in by_state.values() for n in states.values()),
        # open escalations count as overdue work: the deadline behind each was missed
        "overdue items": sum(1 for w in worklist if w["status"] == "overdue"),
        "due within 7 days": sum(1 for w in worklist if w["status"] == "due"),
        "open escalations": len(open_escalations),
        "open escalations by reason": ", ".join(f"{k} {v}" for k, v in sorted(by_reason.items())) or "none",
        "days since the Children's Guardian was contacted (longest)": ", ".join(
            f"{ref} {days}" + (" (none yet)" if ref in notes.no_contact_yet else "") for ref, days in longest
        )
        or "none",
        "flagged": ", ".join(f"{flag}: {', '.join(refs)}" for flag, refs in sorted(notes.flagged.items())) or "none",
    }
    publish_summary(f"Caseload as of {day.isoformat()}", "orderwatch-caseload", facts, by_state)
    get_run_logger().info("caseload as of %s: %s", day, facts)
    return {"as_of": day.isoformat(), **facts, "guardian_contact_days": notes.guardian_days,
            "flagged_cases": notes.flagged}  # fmt: skip


@flow(name="notify-escalation", flow_run_name="notify-{case_ref}-{escalation_no}")
def notify_escalation(case_ref: str, escalation_no: int, raised_to: str | None = None) -> dict[str, Any]:
    """Record a notification for the person (or role) an escalation is raised to (``raised_to``: the level the
    event was about; default, where it is now)."""
    book = casebook()
    try:
        esc = book.escalation_row_id(case_ref, escalation_no)
        recipients: list[str] = book.handle(
            NotifyEscalation(actor="system", escalation=esc, role=raised_to, source=run_id() or "manual")
        )
    except Refused as exc:
        raise public(exc) from None
    get_run_logger().info(
        "%s of %s: %s recorded", escalation_id(esc), case_ref, plural(len(recipients), "notification")
    )
    return {"escalation": escalation_id(esc), "case": case_ref, "notified": len(recipients)}
