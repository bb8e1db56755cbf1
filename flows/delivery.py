"""Delivering notifications: a pass every few minutes (``deliver-notifications``) and the morning's digests
(``daily-digest``).

Thin: the work is ``storage.delivery`` and ``storage.digest``, through the one write path. Prefect sees counts only:
no recipient, address, subject or body reaches a parameter, run name, log, result or state message. The channel and
its secrets come from orderwatch's environment (``storage.config.delivery_channel``), never from a parameter.

The digest is its own flow, not a step of the sweep: a failing mail channel or digest must not fail the sweep (and
raise the operators' alarm for it). It is scheduled at 07:15, after the 06:30 sweep, so that what the sweep found
missed is in it; the next delivery pass sends it.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from flows.runtime import casebook, public, run_id, scheduled_date
from flows.views import plural
from machines.errors import Refused
from storage.config import delivery_channel, delivery_settings
from storage.delivery import deliver
from storage.digest import make_all_digests

__all__ = ["daily_digest", "deliver_notifications"]


def _deliver_name() -> str:
    """``deliver-<scheduled time, minutes, UTC>``."""
    return f"deliver-{flow_run.get_scheduled_start_time().strftime('%Y-%m-%dT%H:%M')}"


@flow(name="deliver-notifications", flow_run_name=_deliver_name)
def deliver_notifications(limit: int = 500) -> dict[str, Any]:
    """One delivery pass: the notifications due (new, or due for a retry) sent by the configured channel, each
    marked sent, to retry, or failed. With no channel configured nothing is sent (they are listed in orderwatch)."""
    logger = get_run_logger()
    book = casebook()
    try:
        settings = delivery_settings()
        sender = delivery_channel()
        if sender is None:
            held = book.delivery_counts().get("pending", 0)
            logger.info("no delivery channel configured: %s listed in orderwatch only", plural(held, "notification"))
            return {"channel": None, "sent": 0, "held": held}
        report = deliver(book.handle, sender, settings, limit=limit, source=run_id()).as_dict()
    except Refused as exc:
        raise public(exc) from None
    logger.info(
        "delivery by %s: %s sent, %s to retry, %s failed",
        report["channel"], plural(report["sent"], "notification"), report["retry"], report["failed"],
    )  # fmt: skip
    return report


def _digest_name() -> str:
    given = flow_run.get_parameters().get("as_of")
    return f"digest-{given or scheduled_date().isoformat()}"


@flow(name="daily-digest", flow_run_name=_digest_name)
def daily_digest(as_of: date | None = None, within_wd: int = 5) -> dict[str, Any]:
    """Each person's digest of their work due in the next ``within_wd`` working days (default 5), for ``as_of``
    (default: the run's scheduled date in Europe/London); idempotent: one per person per day."""
    day = as_of or scheduled_date()
    try:
        report = make_all_digests(casebook().handle, day, within_wd, source=run_id() or "manual")
    except Refused as exc:
        raise public(exc) from None
    get_run_logger().info(
        "digest as of %s: %s with work due by %s, %s made",
        day, "1 person" if report.people == 1 else f"{report.people} people", report.until,
        plural(report.made, "digest"),
    )  # fmt: skip
    return report.as_json()
