"""The case page's read: the aggregate, its whole log, its escalations' ids and the people it names (with their
managers up the line, for the ownership rule), in one transaction that also records the read in the access log."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select

from machines.errors import Refused
from machines.model import CaseFile, CaseKind, Person
from storage import access, queries
from storage.models import cases as _CASES
from storage.models import escalations as _ESCALATIONS
from storage.rows import load_people

__all__ = ["CasePage", "case_kind", "case_page"]


@dataclass(frozen=True, slots=True)
class CasePage:
    """Everything the case page shows, read in one transaction: the aggregate, its log, escalation ids, and the
    people named on it with their managers up the line (for the ownership rule)."""

    case: CaseFile
    log: list[queries.HistoryEntry]
    escalation_ids: dict[int, int]  # number within the case -> row id (ESC-<id>)
    people: dict[str, Person]


def _with_managers(connection: Connection, users: Iterable[str]) -> dict[str, Person]:
    """The people named and their managers up the line (a few queries: lines are short)."""
    found: dict[str, Person] = {}
    wanted = {u for u in users if u}
    for _ in range(10):
        new = sorted(wanted - set(found))
        if not new:
            break
        loaded = load_people(connection, new)
        found.update(loaded)
        wanted = {p.manager for p in loaded.values() if p.manager} | set(found)
        if set(loaded) != set(new):
            wanted -= set(new) - set(loaded)
    return found


def case_page(connection: Connection, ref: str, reader: str, now: datetime) -> CasePage | None:
    """The case, its whole log and the people it names (with their managers), if ``reader`` may read it (None if
    not, or if there is no such case: ``storage.access``); the read is logged either way."""
    who = access.Reader(reader, reader, "desk")
    allowed = access.may_read_case(connection, access.scope_of(connection, who), ref)
    access.log_read(connection, ref, "desk", who, now, allowed=allowed)
    if not allowed:
        return None
    case = queries.load(connection, ref)
    if case.id is None:  # loaded cases always have their row id; a refusal rather than a crash if not
        raise Refused(f"case {ref} could not be read")
    log = queries.history_of(connection, case.id)
    ids = {no: id_ for no, id_ in connection.execute(
        select(_ESCALATIONS.c.no, _ESCALATIONS.c.id).where(_ESCALATIONS.c.case_id == case.id))}  # fmt: skip
    named = set(case.people.values()) | {reader}
    return CasePage(case, log, ids, _with_managers(connection, named))


def case_kind(connection: Connection, ref: str) -> CaseKind | None:
    found = connection.scalar(select(_CASES.c.kind).where(_CASES.c.ref == ref))
    return None if found is None else CaseKind(found)
