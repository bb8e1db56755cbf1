"""People: add, change, deactivate (a leaver), reactivate — an admin's work, each change a ``people_log`` row.

Who may: an active ``admin`` (the command's ``actor``). Setting up: while the people table holds no active admin,
the system is being set up, and people may be added from the server itself (channel ``cli`` or ``system``: the
operating-system account that runs orderwatch, recorded as ``entered_by``) — adding the first admin ends that; from
then on only an admin changes people. The desk never sets up: it always needs a signed-in admin.

A deactivated person cannot sign in, act (``machines.checks.person``) or be allocated (a field naming them is
refused); deactivation answers with their open allocations — the live cases that name them, the open deadlines
their role owns there, and the people who report to them — for re-allocation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Connection, func, insert, or_, select, update

from machines.errors import Refused
from machines.model import CaseKind, DeadlineStatus, Role
from machines.names import shown
from machines.procedures import PROCEDURES
from storage import chain
from storage.commands import AddPerson, ChangePerson, Command, DeactivatePerson, ReactivatePerson, SetEmail
from storage.expressions import CASE_PERSON_KEYS, case_person
from storage.models import cases as _CASES
from storage.models import deadlines as _DEADLINES
from storage.models import people as _PEOPLE
from storage.models import people_log as _PEOPLE_LOG
from storage.queries import PersonView
from storage.uow import UnitOfWork
from storage.validate import check_email

__all__ = [
    "SETUP_CHANNELS",
    "Allocation",
    "Deactivated",
    "add_person",
    "authorize_admin",
    "change_person",
    "deactivate_person",
    "existing_person",
    "log_change",
    "person_row",
    "reactivate_person",
    "set_email",
]

SETUP_CHANNELS = frozenset({"cli", "system"})  # where setting up (no admin yet) may happen: the server itself
ONLY_ADMINS = "only an admin may change people ({actor} is not an active admin)"


@dataclass(frozen=True, slots=True)
class Allocation:
    """A live case that names the leaver: as what, and the open deadlines their role owns there."""

    case: str
    kind: str
    as_: str  # social_worker | iro
    deadlines: list[tuple[str, date]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"case": self.case, "kind": self.kind, "as": self.as_,
                "deadlines": [{"kind": k, "due_on": d.isoformat()} for k, d in self.deadlines]}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Deactivated:
    """What deactivating a person did, and what now needs someone else."""

    person: PersonView
    on: date
    allocations: list[Allocation]
    reports: list[str]  # people whose manager they are

    def as_json(self) -> dict[str, Any]:
        return {"person": self.person.as_json(), "deactivated_on": self.on.isoformat(),
                "allocations": [a.as_json() for a in self.allocations], "reports": list(self.reports)}  # fmt: skip


def _role(value: str) -> Role:
    try:
        role = Role(value)
    except ValueError:
        allowed = ", ".join(r.value for r in Role if r is not Role.SYSTEM)
        raise Refused(f"unknown role {shown(value)} (one of {allowed})") from None
    if role is Role.SYSTEM:
        raise Refused("the system role fires timers only; it is not given to people")
    return role


def _admins(connection: Connection) -> int:
    query = select(func.count()).select_from(_PEOPLE).where(_PEOPLE.c.role == Role.ADMIN.value, _PEOPLE.c.active)
    return int(connection.scalar(query) or 0)


def authorize_admin(uow: UnitOfWork, cmd: Command) -> None:
    """The command's actor is an active admin — or nobody is, and the command comes from the server (setting up)."""
    uow.reserve("people", "admin")  # changes to people queue: "no admin yet" cannot change before this one writes
    actor = uow.people.get(cmd.actor)
    if actor is not None and actor.active and actor.role is Role.ADMIN:
        return
    if cmd.via in SETUP_CHANNELS and _admins(uow.connection) == 0:
        return
    raise Refused(ONLY_ADMINS.format(actor=cmd.actor))  # a checked name (storage.validate)


def person_row(connection: Connection, user: str) -> dict[str, Any] | None:
    p = _PEOPLE
    names = ("user", "role", "manager", "active", "display_name", "deactivated_on")
    found = connection.execute(select(*(p.c[n] for n in names)).where(p.c.user == user)).first()
    if found is None:
        return None
    out = {str(n): v for n, v in zip(names, found, strict=True)}
    out["active"] = bool(out["active"])
    out["deactivated_on"] = out["deactivated_on"].isoformat() if out["deactivated_on"] else None
    return out


def log_change(uow: UnitOfWork, cmd: Command, user: str, change: str, before: dict[str, Any] | None,
               after: dict[str, Any]) -> None:  # fmt: skip
    """One ``people_log`` row: who changed whom, how, before and after, typed by whom, through which channel."""
    chain.append(uow.connection, _PEOPLE_LOG, [{  # sealed onto the people log's hash chain (storage.chain)
        "user": user, "role": after["role"], "manager": after.get("manager"), "change": change, "actor": cmd.actor,
        "recorded_at": uow.now, "before": before, "after": after, "entered_by": cmd.entered_by, "channel": cmd.via,
    }])  # fmt: skip


def _view(row: dict[str, Any]) -> PersonView:
    return PersonView(row["user"], row["role"], row["manager"], row["active"], row["display_name"])


def _check_manager(uow: UnitOfWork, user: str, manager: str) -> None:
    if manager == user:
        raise Refused(f"{shown(user)} cannot be their own manager")
    found = uow.people.get(manager)
    if found is None:
        raise Refused(f"unknown manager {shown(manager)} (add them first)")
    if not found.active:
        raise Refused(f"{found.user} is no longer active (deactivated): they cannot be a manager")
    seen = {user}
    up: str | None = manager
    while up is not None:  # a manager chain must not come back to the person: escalations climb it
        if up in seen:
            raise Refused(f"{shown(manager)} reports to {shown(user)}: a manager chain cannot loop")
        seen.add(up)
        above = uow.people.get(up)
        up = above.manager if above is not None else None


def add_person(uow: UnitOfWork, cmd: AddPerson) -> PersonView:
    role = _role(cmd.role)
    authorize_admin(uow, cmd)
    uow.reserve("person", cmd.user)  # read who exists only once nobody else can add them meanwhile
    if person_row(uow.connection, cmd.user) is not None:
        raise Refused(f"person {cmd.user!r} already exists")
    if cmd.manager is not None:
        _check_manager(uow, cmd.user, cmd.manager)
    row = {"user": cmd.user, "role": role.value, "manager": cmd.manager, "display_name": cmd.display_name}
    email = None if cmd.email is None else check_email(cmd.email)
    uow.connection.execute(insert(_PEOPLE), {**row, "added_at": uow.now, "active": True, "email": email})
    after = person_row(uow.connection, cmd.user)
    if after is None:
        raise RuntimeError("the person just added is not there")
    log_change(uow, cmd, cmd.user, "added", None, after)
    return _view(after)


def set_email(uow: UnitOfWork, cmd: SetEmail) -> dict[str, str | bool]:
    """Set (or clear) where a person's notifications are delivered: an admin's, like every change to people. The
    address is neither echoed back nor logged (``people_log`` says it was set or cleared)."""
    email = None if cmd.email is None else check_email(cmd.email)
    authorize_admin(uow, cmd)
    before = existing_person(uow, cmd.user)
    uow.connection.execute(update(_PEOPLE).where(_PEOPLE.c.user == cmd.user).values(email=email))
    log_change(uow, cmd, cmd.user, "email set" if email else "email cleared", before, before)
    return {"user": cmd.user, "email_set": email is not None}


def existing_person(uow: UnitOfWork, user: str) -> dict[str, Any]:
    """The person's row, read under a lock on the name (refuses an unknown person)."""
    uow.reserve("person", user)
    found = person_row(uow.connection, user)
    if found is None:
        raise Refused(f"unknown person {shown(user)}")
    return found


def change_person(uow: UnitOfWork, cmd: ChangePerson) -> PersonView:
    authorize_admin(uow, cmd)
    before = existing_person(uow, cmd.user)
    values: dict[str, Any] = {}
    if cmd.role is not None:
        values["role"] = _role(cmd.role).value
        if before["role"] == Role.ADMIN.value and values["role"] != Role.ADMIN.value:
            _keep_an_admin(uow, cmd.user)
    if cmd.clear_manager:
        values["manager"] = None
    elif cmd.manager is not None:
        _check_manager(uow, cmd.user, cmd.manager)
        values["manager"] = cmd.manager
    if cmd.display_name is not None:
        values["display_name"] = cmd.display_name
    if not values or all(before[k] == v for k, v in values.items()):
        raise Refused(f"nothing to change for {cmd.user}")
    uow.connection.execute(update(_PEOPLE).where(_PEOPLE.c.user == cmd.user).values(**values))
    after = person_row(uow.connection, cmd.user) or before
    log_change(uow, cmd, cmd.user, "changed", before, after)
    return _view(after)


def _keep_an_admin(uow: UnitOfWork, user: str) -> None:
    others = (
        select(func.count())
        .select_from(_PEOPLE)
        .where(_PEOPLE.c.role == Role.ADMIN.value, _PEOPLE.c.active, _PEOPLE.c.user != user)
    )
    if not uow.connection.scalar(others):
        raise Refused(f"{user} is the last active admin: add another admin first")


def deactivate_person(uow: UnitOfWork, cmd: DeactivatePerson) -> Deactivated:
    authorize_admin(uow, cmd)
    before = existing_person(uow, cmd.user)
    if not before["active"]:
        raise Refused(f"{cmd.user} is already deactivated")
    if cmd.user == cmd.actor:
        raise Refused("an admin cannot deactivate themselves: ask another admin")
    if before["role"] == Role.ADMIN.value:
        _keep_an_admin(uow, cmd.user)
    query = update(_PEOPLE).where(_PEOPLE.c.user == cmd.user).values(active=False, deactivated_on=cmd.on)
    uow.connection.execute(query)
    after = person_row(uow.connection, cmd.user) or before
    log_change(uow, cmd, cmd.user, "deactivated", before, after)
    return Deactivated(_view(after), cmd.on, open_allocations(uow.connection, cmd.user, Role(before["role"])),
                       _reports(uow.connection, cmd.user))  # fmt: skip


def reactivate_person(uow: UnitOfWork, cmd: ReactivatePerson) -> PersonView:
    authorize_admin(uow, cmd)
    before = existing_person(uow, cmd.user)
    if before["active"]:
        raise Refused(f"{cmd.user} is already active")
    uow.connection.execute(update(_PEOPLE).where(_PEOPLE.c.user == cmd.user).values(active=True, deactivated_on=None))
    after = person_row(uow.connection, cmd.user) or before
    log_change(uow, cmd, cmd.user, "reactivated", before, after)
    return _view(after)


def _live_states() -> dict[str, list[str]]:
    return {kind.value: sorted(PROCEDURES[kind].final) for kind in CaseKind}


def open_allocations(connection: Connection, user: str, role: Role) -> list[Allocation]:
    """The live cases that name ``user`` (as social worker or IRO), with the open deadlines ``role`` owns there."""
    c = _CASES
    named = [case_person(c.c.people, key) == user for key in CASE_PERSON_KEYS]
    live = or_(*(((c.c.kind == kind) & c.c.state.not_in(final)) for kind, final in _live_states().items()))
    rows = connection.execute(select(c.c.id, c.c.ref, c.c.kind, c.c.people).where(or_(*named), live).order_by(c.c.ref))
    out = []
    for case_id, ref, kind, people in rows:
        d = _DEADLINES
        dues = connection.execute(
            select(d.c.kind, d.c.due_on)
            .where(d.c.case_id == case_id, d.c.status == DeadlineStatus.OPEN.value, d.c.owner == role.value)
            .order_by(d.c.due_on)
        )
        as_ = next(k for k in CASE_PERSON_KEYS if people.get(k) == user)
        out.append(Allocation(ref, kind, as_, [(k, due) for k, due in dues]))
    return out


def _reports(connection: Connection, user: str) -> list[str]:
    query = select(_PEOPLE.c.user).where(_PEOPLE.c.manager == user, _PEOPLE.c.active).order_by(_PEOPLE.c.user)
    return list(connection.scalars(query))
