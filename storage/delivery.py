"""Delivering the outbox: each notification claimed, sent by the configured channel, and its outcome recorded.

Statuses: ``pending`` (new) → ``sending`` (claimed by a pass) → ``sent``; or → ``retry`` (a transient failure: tried
again after ``next_attempt_at``, the wait doubling each time) → … → ``failed`` (a permanent failure, or
``max_attempts`` used up). A person without an e-mail address is told inside orderwatch only: their rows stay
``pending`` (and go out once an address is set).

Both steps are commands through the one write path, each its own short transaction: ``ClaimNotifications`` takes a
batch (PostgreSQL ``FOR UPDATE SKIP LOCKED``, so two passes never take the same row; SQLite's ``BEGIN IMMEDIATE``
does the same by holding the write lock) and marks it ``sending`` with ``claimed_at``; after each send,
``RecordDelivery`` marks that one row — only if it is still the same claim.

At least once, not exactly once: a pass that dies after the provider accepted a message but before it was marked
leaves the row ``sending``; once the claim is older than ``stale_after`` another pass takes it again and sends it
again. The window is one message per pass that dies (a pass marks each message as soon as it is sent). The copy
carries the same ``Message-ID`` (SMTP) or ``reference`` (Notify), made from the notification's key, so the two are
recognisably one message.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Connection, and_, func, or_, select, update

from storage.commands import Command
from storage.models import notifications as _NOTIFICATIONS
from storage.models import people as _PEOPLE
from storage.senders import Outgoing, Permanent, Sender, Transient
from storage.uow import UnitOfWork

__all__ = [
    "ClaimNotifications",
    "DeliveryReport",
    "DeliverySettings",
    "RecordDelivery",
    "absolute_links",
    "claim_notifications",
    "deliver",
    "record_delivery",
    "waiting",
]

Outcome = Literal["sent", "retry", "failed", "released"]
_CLAIMABLE = ("pending", "retry")
_LINK = re.compile(r"^(/\S*)$", re.MULTILINE)  # a line that is a path within the desk


@dataclass(frozen=True, slots=True)
class DeliverySettings:
    """How the delivery pass behaves (``ORDERWATCH_DELIVERY_*``: ``storage.config.delivery_settings``)."""

    max_attempts: int = 6  # then failed
    retry_after: timedelta = timedelta(minutes=1)  # the first wait; doubled after each failure, at most a day
    stale_after: timedelta = timedelta(minutes=10)  # a claim older than this is taken again (the pass died)
    batch_size: int = 20  # claimed per transaction
    desk_url: str = "http://127.0.0.1:4280"  # the case links' base

    def backoff(self, attempts: int) -> timedelta:
        """The wait after the ``attempts``-th failed attempt: ``retry_after`` doubled each time, at most a day.

        >>> [DeliverySettings().backoff(n).total_seconds() for n in (1, 2, 3)]
        [60.0, 120.0, 240.0]
        """
        wait: timedelta = self.retry_after * (2 ** max(attempts - 1, 0))
        return min(wait, timedelta(days=1))


@dataclass(frozen=True, kw_only=True)
class ClaimNotifications(Command):
    """Take up to ``batch_size`` notifications due to be sent (new, due for a retry, or a stale claim), for people
    with an e-mail address; mark them ``sending``. A stale claim that has used up its attempts is marked failed."""

    batch_size: int = 20
    stale_seconds: int = 600
    max_attempts: int = 6
    actor: str = "system"


@dataclass(frozen=True, kw_only=True)
class RecordDelivery(Command):
    """How one claimed notification's attempt ended (``claimed_at``: the claim it belongs to; a row claimed again
    since is left alone). ``reason``: codes and class names only, never personal data."""

    notification: int
    claimed_at: datetime
    outcome: Outcome
    provider_id: str | None = None
    reason: str | None = None
    retry_seconds: int = 60
    actor: str = "system"


def _claimable(now: datetime, stale_before: datetime) -> Any:
    n = _NOTIFICATIONS
    return or_(
        and_(n.c.status.in_(_CLAIMABLE), or_(n.c.next_attempt_at.is_(None), n.c.next_attempt_at <= now)),
        and_(n.c.status == "sending", n.c.claimed_at <= stale_before),
    )


def claim_notifications(uow: UnitOfWork, cmd: ClaimNotifications) -> list[Outgoing]:
    n, p = _NOTIFICATIONS, _PEOPLE
    now = uow.now
    stale_before = now - timedelta(seconds=cmd.stale_seconds)
    # a stale claim with no attempts left: the last one may have been delivered, but nobody knows
    uow.connection.execute(
        update(n)
        .where(and_(n.c.status == "sending", n.c.claimed_at <= stale_before, n.c.attempts >= cmd.max_attempts))
        .values(status="failed", claimed_at=None, error=f"claimed {cmd.max_attempts} times, no outcome recorded")
    )
    query = (
        select(n.c.id)
        .join(p, p.c.user == n.c.recipient)
        .where(_claimable(now, stale_before), p.c.email.is_not(None))
        .order_by(n.c.id)
        .limit(cmd.batch_size)
    )
    if uow.connection.dialect.name == "postgresql":
        query = query.with_for_update(of=n, skip_locked=True)
    ids = list(uow.connection.scalars(query))
    if not ids:
        return []
    uow.connection.execute(
        update(n)
        .where(n.c.id.in_(ids))
        .values(status="sending", claimed_at=now, last_attempt_at=now, attempts=n.c.attempts + 1)
    )
    rows = uow.connection.execute(
        select(n.c.id, n.c.key, n.c.recipient, p.c.email, n.c.subject, n.c.body, n.c.attempts)
        .join(p, p.c.user == n.c.recipient)
        .where(n.c.id.in_(ids))
        .order_by(n.c.id)
    )
    return [Outgoing(r.id, r.key, r.recipient, r.email, r.subject, r.body, r.attempts, now) for r in rows]


def record_delivery(uow: UnitOfWork, cmd: RecordDelivery) -> bool:
    """True if the row was still this claim's (and so was marked)."""
    n = _NOTIFICATIONS
    now = uow.now
    values: dict[str, Any]
    if cmd.outcome == "sent":
        values = {"status": "sent", "sent_at": now, "provider_id": cmd.provider_id, "error": None,
                  "next_attempt_at": None, "claimed_at": None}  # fmt: skip
    elif cmd.outcome == "failed":
        values = {"status": "failed", "error": (cmd.reason or "refused")[:200], "next_attempt_at": None,
                  "claimed_at": None}  # fmt: skip
    elif cmd.outcome == "retry":
        values = {"status": "retry", "error": (cmd.reason or "transient failure")[:200], "claimed_at": None,
                  "next_attempt_at": now + timedelta(seconds=cmd.retry_seconds)}  # fmt: skip
    else:  # released: not tried (the channel went down mid-pass); the attempt is not counted
        values = {"status": "retry", "claimed_at": None, "attempts": n.c.attempts - 1,
                  "next_attempt_at": now + timedelta(seconds=cmd.retry_seconds)}  # fmt: skip
    done = uow.connection.execute(
        update(n).where(n.c.id == cmd.notification, n.c.status == "sending", n.c.claimed_at == cmd.claimed_at)
        .values(**values)
    )  # fmt: skip
    return bool(done.rowcount)


# -- the pass --------------------------------------------------------------------------------------------------------


@dataclass
class DeliveryReport:
    """What one delivery pass did: counts only (no recipient, no address, no content)."""

    channel: str | None
    sent: int = 0
    retry: int = 0
    failed: int = 0
    released: int = 0
    reasons: dict[str, int] = field(default_factory=dict)  # failure reasons (codes only) and how often

    def as_dict(self) -> dict[str, Any]:
        return {"channel": self.channel, "sent": self.sent, "retry": self.retry, "failed": self.failed,
                "released": self.released, "reasons": dict(sorted(self.reasons.items()))}  # fmt: skip


def absolute_links(body: str, desk_url: str) -> str:
    """The outbox writes a link (``/cases/<ref>``) as a path on a line of its own; a message carries the desk's
    address in front of it.

    >>> absolute_links("Escalation ESC-1 on case SO-1.\\n/cases/SO-1", "https://desk.example/")
    'Escalation ESC-1 on case SO-1.\\nhttps://desk.example/cases/SO-1'
    """
    base = desk_url.rstrip("/")
    return _LINK.sub(lambda m: base + m.group(1), body)


Handle = Callable[[Command], Any]


def deliver(handle: Handle, sender: Sender, settings: DeliverySettings, *, limit: int = 500,
            source: str | None = None) -> DeliveryReport:  # fmt: skip
    """One pass: claim a batch, send each, record each outcome as soon as it is known; until nothing is due,
    ``limit`` messages were tried, or the channel is down (the rest of the batch is released untried)."""
    report = DeliveryReport(sender.name)
    tried = 0
    try:
        while tried < limit:
            claim = ClaimNotifications(batch_size=min(settings.batch_size, limit - tried), source=source,
                                       stale_seconds=int(settings.stale_after.total_seconds()),
                                       max_attempts=settings.max_attempts)  # fmt: skip
            batch: list[Outgoing] = handle(claim)
            if not batch:
                break
            down = False
            for message in batch:
                if down:
                    _record(handle, message, "released", settings, report, source=source)
                    continue
                tried += 1
                down = _send_one(handle, sender, message, settings, report, source)
            if down:
                break
    finally:
        sender.close()
    return report


def _send_one(handle: Handle, sender: Sender, message: Outgoing, settings: DeliverySettings,
              report: DeliveryReport, source: str | None) -> bool:  # fmt: skip
    """Send one message and record how it went; True if the channel is down."""
    linked = Outgoing(message.id, message.key, message.recipient, message.email, message.subject,
                      absolute_links(message.body, settings.desk_url), message.attempt,
                      message.claimed_at)  # fmt: skip
    try:
        provider_id = sender.send(linked)
    except Permanent as exc:
        _record(handle, message, "failed", settings, report, reason=exc.reason, source=source)
        return False
    except Exception as exc:  # Transient, or a fault of the channel's own: tried again, never left claimed
        transient = exc if isinstance(exc, Transient) else Transient(f"unexpected {type(exc).__name__}")
        if message.attempt >= settings.max_attempts:
            reason = f"{transient.reason}; gave up after {message.attempt} attempts"
            _record(handle, message, "failed", settings, report, reason=reason, source=source)
        else:
            _record(handle, message, "retry", settings, report, reason=transient.reason, source=source)
        return transient.channel_down
    _record(handle, message, "sent", settings, report, provider_id=provider_id, source=source)
    return False


def _record(handle: Handle, message: Outgoing, outcome: Outcome, settings: DeliverySettings,
            report: DeliveryReport, *, reason: str | None = None, provider_id: str | None = None,
            source: str | None = None) -> None:  # fmt: skip
    wait = settings.backoff(message.attempt) if outcome == "retry" else settings.retry_after
    handle(RecordDelivery(notification=message.id, claimed_at=message.claimed_at, outcome=outcome,
                          provider_id=provider_id, reason=reason, retry_seconds=int(wait.total_seconds()),
                          source=source))  # fmt: skip
    setattr(report, outcome, getattr(report, outcome) + 1)
    if reason is not None:
        key = reason.split(";")[0]
        report.reasons[key] = report.reasons.get(key, 0) + 1


def waiting(connection: Connection) -> dict[str, int]:
    """Notifications by delivery status, and how many wait for an address (``orderwatch status``)."""
    n, p = _NOTIFICATIONS, _PEOPLE
    counts = {s: c for s, c in connection.execute(select(n.c.status, func.count()).group_by(n.c.status))}
    no_address = connection.scalar(
        select(func.count()).select_from(n.join(p, p.c.user == n.c.recipient))
        .where(n.c.status.in_(_CLAIMABLE), p.c.email.is_(None))
    )  # fmt: skip
    return {**counts, "no_address": int(no_address or 0)}
