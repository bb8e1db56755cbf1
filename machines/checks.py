"""The checks every event passes before the rules apply it: who is acting, in what role, on whose case, in what order.

Each raises ``Refused`` with a message naming the rule; none changes anything.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from machines.errors import Refused
from machines.model import CaseFile, Directory, Person, Role
from machines.names import check_child_id, check_name, shown
from machines.spec import EventSpec, FieldKind

__all__ = ["check_owner", "check_people", "check_ref", "check_role", "in_order", "person", "social_worker", "trusted"]

OUT_OF_ORDER = "events are recorded in date order: case {ref} already runs to {last}, so {on} is too early"
UNKNOWN_PERSON = "unknown person {user} (add them with 'orderwatch people add')"
INACTIVE_PERSON = "{user} is no longer active (deactivated): they cannot act or be allocated"
ROLE_NOT_ALLOWED = "{user} ({role}) may not {event}: allowed roles are {allowed}"
NOT_THE_OWNER = "{event} belongs to the allocated {label} {owner}: only they or their manager may fire it, not {user}"
WRONG_ROLE = "{event}: {user} is a {role}, not a {wanted}"


def person(people: Directory, user: str) -> Person:
    """The active person named: unknown people and leavers (deactivated) are refused."""
    found = people.get(user)
    if found is None:
        raise Refused(UNKNOWN_PERSON.format(user=shown(user)))
    if not found.active:
        raise Refused(INACTIVE_PERSON.format(user=found.user))
    return found


def trusted(people: Directory, user: str) -> Person:
    """The person as recorded (replay, a case opened by another's event): unknown users act as the system."""
    return people.get(user) or Person(user, Role.SYSTEM)


def check_role(actor: Person, event: str, allowed: tuple[Role, ...]) -> None:
    if actor.role not in allowed:
        raise Refused(ROLE_NOT_ALLOWED.format(user=actor.user, role=actor.role.value, event=event,
                                              allowed=", ".join(r.value for r in allowed)))  # fmt: skip


def check_owner(people: Directory, actor: Person, spec: EventSpec, case: CaseFile) -> None:
    """An event that belongs to the case's named person: they, or their manager, fire it."""
    label = spec.owner
    owner = case.people.get(label) if label else None
    if owner is None or actor.user == owner:
        return
    owner_person = people.get(owner)
    if owner_person is not None and owner_person.manager == actor.user:
        return
    raise Refused(NOT_THE_OWNER.format(event=spec.name, label=label, owner=owner, user=actor.user))


def check_people(people: Directory, spec: EventSpec, fields: dict[str, Any]) -> None:
    """Everyone a field names exists, and holds the role the field asks for."""
    for key, f in spec.fields.items():
        if key not in fields:
            continue
        if f.kind is FieldKind.PERSON:
            named = person(people, fields[key])
            if f.role is not None and named.role is not f.role:
                raise Refused(WRONG_ROLE.format(event=spec.name, user=named.user, role=named.role.value,
                                                wanted=f.role.value))  # fmt: skip
        elif f.kind is FieldKind.PEOPLE:
            for user in fields[key]:
                person(people, user)


def social_worker(people: Directory, named: str | None, actor: Person) -> str | None:
    """The case's social worker: the one named, else the registering actor when they are a social worker."""
    if named is not None:
        sw = person(people, named)
        if sw.role is not Role.SOCIAL_WORKER:
            raise Refused(f"{named} is a {sw.role.value}, not a social_worker")
        return named
    return actor.user if actor.role is Role.SOCIAL_WORKER else None


def in_order(case: CaseFile, on: date) -> None:
    if case.last_event_on is not None and on < case.last_event_on:
        raise Refused(OUT_OF_ORDER.format(ref=case.ref, last=case.last_event_on, on=on))


def check_ref(ref: str, child_id: str) -> None:
    check_name(ref, "case reference")
    if ref.upper().startswith("ESC-"):
        raise Refused(f"case reference {shown(ref)} may not start with ESC- (that names escalations)")
    check_child_id(child_id)
