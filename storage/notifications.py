"""Notifications: the list of them (``orderwatch notifications``), and recording an escalation's notices on demand.

The notices themselves are written by the unit of work from the domain events, in the same transaction as the change
that causes them (``storage.outbox``). ``NotifyEscalation`` — what the Prefect ``notify-escalation`` flow sends —
records the same notices with the same idempotency keys, so it adds nothing the outbox already holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from machines.errors import Refused
from machines.model import Role
from storage.commands import Command
from storage.ids import escalation_id
from storage.models import cases as _CASES
from storage.models import escalations as _ESCALATIONS
from storage.models import notifications as _NOTIFICATIONS
from storage.outbox import case_starts, escalation_notices, escalation_recipients, insert_new, people_roles
from storage.uow import UnitOfWork

__all__ = ["NotificationView", "NotifyEscalation", "notifications", "notify_escalation"]


@dataclass(frozen=True, kw_only=True)
class NotifyEscalation(Command):
    """Record a notification for each person an escalation is raised to (``role``: the level it was raised at,
    default its current one); idempotent. The result is who is notified."""

    escalation: int
    role: str | None = None


@dataclass(frozen=True, slots=True)
class NotificationView:
    """A notification as ``orderwatch notifications`` lists it."""

    id: int
    key: str
    kind: str
    case: str | None
    recipient: str
    role: str | None
    reason: str | None
    escalation: str | None
    subject: str
    body: str
    status: str
    created_at: datetime
    source: str
    attempts: int = 0  # delivery attempts begun
    sent_at: datetime | None = None
    error: str | None = None  # why the last attempt failed (codes only: never personal data)

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "key": self.key, "kind": self.kind, "case": self.case, "recipient": self.recipient,
                "role": self.role, "reason": self.reason, "escalation": self.escalation, "subject": self.subject,
                "body": self.body, "status": self.status, "created_at": self.created_at.isoformat(),
                "source": self.source, "attempts": self.attempts,
                "sent_at": self.sent_at.isoformat() if self.sent_at else None, "error": self.error}  # fmt: skip


def notify_escalation(uow: UnitOfWork, cmd: NotifyEscalation) -> list[str]:
    e = _ESCALATIONS
    found = uow.connection.execute(
        select(e.c.raised_to, e.c.reason, e.c.level, e.c.raised_on, _CASES.c.ref, _CASES.c.people, _CASES.c.details)
        .join(_CASES, _CASES.c.id == e.c.case_id)
        .where(e.c.id == cmd.escalation)
    ).first()
    if found is None:
        raise Refused(f"unknown escalation {escalation_id(cmd.escalation)}")
    raised_to, reason, level, raised_on, ref, case_people, details = found
    try:
        to = Role(cmd.role or raised_to)
    except ValueError:
        raise Refused(f"unknown role {cmd.role!r}") from None
    if to.value != raised_to:  # an earlier level: the one its notices were recorded at, if any
        n = _NOTIFICATIONS
        earlier = uow.connection.scalar(
            select(n.c.key).where(n.c.escalation_id == cmd.escalation, n.c.role == to.value).limit(1)
        )
        level = int(earlier.split(":")[2][1:]) if earlier else 1
    recipients = escalation_recipients(people_roles(uow.connection), to.value, case_starts(case_people, details))
    notices = escalation_notices(cmd.escalation, ref, reason, to.value, level, raised_on, recipients, {})
    insert_new(uow.connection, notices, uow.now, cmd.source or "manual")
    return recipients


def notifications(connection: Connection, recipient: str | None = None) -> list[NotificationView]:
    """Every notification (or one person's), oldest first."""
    n = _NOTIFICATIONS
    query = select(n.c.id, n.c.key, n.c.kind, n.c.case_ref, n.c.recipient, n.c.role, n.c.reason, n.c.escalation_id,
                   n.c.subject, n.c.body, n.c.status, n.c.created_at, n.c.source, n.c.attempts, n.c.sent_at,
                   n.c.error).order_by(n.c.id)  # fmt: skip
    if recipient is not None:
        query = query.where(n.c.recipient == recipient)
    out = []
    for row in connection.execute(query):
        esc = escalation_id(row.escalation_id) if row.escalation_id is not None else None
        out.append(NotificationView(row.id, row.key, row.kind, row.case_ref, row.recipient, row.role, row.reason, esc,
                                    row.subject, row.body, row.status, row.created_at, row.source, row.attempts,
                                    row.sent_at, row.error))  # fmt: skip
    return out
