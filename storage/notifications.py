"""Notifications: a notice recorded for each person an escalation is raised to, and the list of them.

Recording goes through the command handler like every other write (``NotifyEscalation``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select

from machines.errors import Refused
from machines.model import Role
from storage.commands import Command
from storage.ids import escalation_id
from storage.models import cases as _CASES
from storage.models import escalations as _ESCALATIONS
from storage.models import notifications as _NOTIFICATIONS
from storage.models import people as _PEOPLE
from storage.uow import UnitOfWork

__all__ = ["NotificationView", "NotifyEscalation", "notifications", "notify_escalation"]


@dataclass(frozen=True, kw_only=True)
class NotifyEscalation(Command):
    """Record a notification for each person an escalation is raised to (``role``: the level it was raised at,
    default its current one); idempotent. The result is who was notified."""

    escalation: int
    role: str | None = None


@dataclass(frozen=True, slots=True)
class NotificationView:
    escalation: str
    case: str
    recipient: str
    role: str
    reason: str
    source: str

    def as_json(self) -> dict[str, Any]:
        return {"escalation": self.escalation, "case": self.case, "recipient": self.recipient, "role": self.role,
                "reason": self.reason, "source": self.source}  # fmt: skip


def notify_escalation(uow: UnitOfWork, cmd: NotifyEscalation) -> list[str]:
    found = uow.connection.execute(
        select(_ESCALATIONS.c.raised_to, _ESCALATIONS.c.reason, _CASES.c.ref, _CASES.c.people)
        .join(_CASES, _CASES.c.id == _ESCALATIONS.c.case_id)
        .where(_ESCALATIONS.c.id == cmd.escalation)
    ).first()
    if found is None:
        raise Refused(f"unknown escalation {escalation_id(cmd.escalation)}")
    raised_to, reason, ref, case_people = found
    try:
        to = Role(cmd.role or raised_to)
    except ValueError:
        raise Refused(f"unknown role {cmd.role!r}") from None
    recipients = _recipients(uow.connection, to, case_people)
    already = set(
        uow.connection.scalars(
            select(_NOTIFICATIONS.c.recipient).where(_NOTIFICATIONS.c.escalation_id == cmd.escalation)
        )
    )
    new = [user for user in recipients if user not in already]
    if new:
        uow.connection.execute(
            insert(_NOTIFICATIONS),
            [{"kind": "escalation", "escalation_id": cmd.escalation, "case_ref": ref, "recipient": user,
              "role": to.value, "reason": reason, "created_at": uow.now, "source": cmd.source or "manual",
              "subject": f"{escalation_id(cmd.escalation)} on {ref}: {reason}, raised to {to.value}",
              "idempotency_key": f"escalation:{cmd.escalation}:{user}"} for user in new],
        )  # fmt: skip
    return recipients


def _recipients(connection: Connection, role: Role, case_people: Mapping[str, str]) -> list[str]:
    """The named person where the case knows them (the allocated worker's manager, and up); else every holder
    of the role."""
    people = {u: (r, m) for u, r, m in connection.execute(select(_PEOPLE.c.user, _PEOPLE.c.role, _PEOPLE.c.manager))}
    for start in (case_people.get("social_worker"), case_people.get("iro")):
        seen: set[str] = set()
        user = start
        while user is not None and user in people and user not in seen:
            seen.add(user)
            if people[user][0] == role.value:
                return [user]
            user = people[user][1]
    return sorted(u for u, (r, _) in people.items() if r == role.value)


def notifications(connection: Connection, recipient: str | None = None) -> list[NotificationView]:
    n = _NOTIFICATIONS
    query = (
        select(n.c.escalation_id, n.c.case_ref, n.c.recipient, n.c.role, n.c.reason, n.c.source)
        .where(n.c.kind == "escalation")
        .order_by(n.c.id)
    )
    if recipient is not None:
        query = query.where(n.c.recipient == recipient)
    return [NotificationView(escalation_id(row[0]), *row[1:]) for row in connection.execute(query)]
