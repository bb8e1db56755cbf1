"""Row mapping: case aggregates read from rows (their changes are written back by ``storage.writes``).

The sweep's hot path starts here: cases, deadlines and escalations are read by position with statements built once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import BindParameter, Connection, bindparam, case, select

from machines.calendar import parse_date
from machines.casework import TRACKING_KINDS
from machines.errors import Refused
from machines.model import (
    CaseFile,
    CaseKind,
    Deadline,
    DeadlineStatus,
    Escalation,
    EscalationState,
    LogEntry,
    Person,
    Role,
    Source,
)
from machines.procedures import PROCEDURES
from storage.chain import GENESIS
from storage.models import cases as _CASES
from storage.models import deadlines as _DEADLINES
from storage.models import escalations as _ESCALATIONS
from storage.models import people as _PEOPLE

__all__ = ["Loaded", "Stamp", "disposed_refusal", "entry_from_row", "escalation_snapshot", "load_cases", "load_people"]


Stamp = tuple[str | None, str]  # who entered a log entry (None: nobody recorded) and through which channel


@dataclass(slots=True)
class Loaded:
    """A case aggregate as read, with what is needed to write back only what changed."""

    case: CaseFile
    deadline_status: dict[int, DeadlineStatus]
    escalation_state: dict[int, tuple[Any, ...]]
    last_seq: int = 0
    new: bool = False
    policy_id: int | None = None  # the local policy the case runs under (``storage.policies``)
    log_head: str = GENESIS  # the hash of the case's last event (``storage.chain``)

    @classmethod
    def opened(cls, case: CaseFile) -> Loaded:
        return cls(case, {}, {}, new=True)


def escalation_snapshot(e: Escalation) -> tuple[Any, ...]:
    return (e.state, e.raised_to, e.level, e.resolution, e.closed_on)


_ROLES = {r.value: r for r in Role}
_STATUSES = {s.value: s for s in DeadlineStatus}
_KINDS = {k.value: k for k in CaseKind}
_ESC_STATES = {s.value: s for s in EscalationState}
_CASE_STATES = {k: {s.value: s for s in PROCEDURES[k].states} for k in CaseKind}

# Statements built once (building them is a measurable part of the sweep's hot path).
_IDS: BindParameter[list[int]] = bindparam("ids", expanding=True)
_DEADLINE_COLUMNS = (
    "id",
    "case_id",
    "kind",
    "due_on",
    "owner",
    "escalate_to",
    "armed_in",
    "armed_on",
    "status",
    "closed_on",
    "shown_from",
    "escalation_no",
)
_SELECT_DEADLINES = (
    select(*(_DEADLINES.c[n] for n in _DEADLINE_COLUMNS))
    .where(_DEADLINES.c.case_id.in_(_IDS))
    .order_by(_DEADLINES.c.id)
)
# The working set's test as one CASE expression: written as an OR, SQLite answers it from the status and kind
# indexes — every open deadline of the caseload — instead of the few cases' own rows (case_id), and the sweep's
# cost grows with the caseload.
_SELECT_WORKING_DEADLINES = _SELECT_DEADLINES.where(
    case(
        (_DEADLINES.c.status == DeadlineStatus.OPEN.value, 1),
        (_DEADLINES.c.kind.in_(TRACKING_KINDS), 1),
        else_=0,
    )
    == 1
)
_ESCALATION_COLUMNS = (
    "id",
    "case_id",
    "no",
    "reason",
    "raised_to",
    "raised_on",
    "state",
    "level",
    "deadline_kind",
    "detail",
    "resolution",
    "closed_on",
)
_SELECT_ESCALATIONS = (
    select(*(_ESCALATIONS.c[n] for n in _ESCALATION_COLUMNS))
    .where(_ESCALATIONS.c.case_id.in_(_IDS))
    .order_by(_ESCALATIONS.c.no)
)
_CASE_COLUMNS = (
    "id",
    "ref",
    "kind",
    "state",
    "child_id",
    "procedure_version",
    "dob",
    "dates",
    "people",
    "details",
    "links",
    "last_event_on",
    "revision",
    "last_seq",
    "policy_id",
    "log_head",
    "disposed_on",
)
_SELECT_CASES = select(*(_CASES.c[n] for n in _CASE_COLUMNS)).where(_CASES.c.id.in_(_IDS)).order_by(_CASES.c.id)
_SELECT_PEOPLE = select(_PEOPLE.c.user, _PEOPLE.c.role, _PEOPLE.c.manager, _PEOPLE.c.active).where(
    _PEOPLE.c.user.in_(bindparam("users", expanding=True))
)


def load_people(connection: Connection, users: Sequence[str]) -> dict[str, Person]:
    """The people named, in one query per 500 (unknown names are left out)."""
    found: dict[str, Person] = {}
    for start in range(0, len(users), 500):
        rows = connection.execute(_SELECT_PEOPLE, {"users": list(users[start : start + 500])})
        for user, role, manager, active in rows:
            found[user] = Person(user, _ROLES[role], manager, bool(active))
    return found


def disposed_refusal(ref: str, on: date) -> str:
    return f"case {ref!r} was disposed of on {on}: only its tombstone is kept"


def load_cases(connection: Connection, ids: Sequence[int], *, complete: bool = True,
               disposed: dict[str, date] | None = None) -> list[Loaded]:  # fmt: skip
    """Case aggregates by id: three queries, read as plain rows (the hot path of the sweep).

    ``complete=False`` reads the working set the rules consult — open deadlines, and the deadlines that track a
    movable date (the rules compare with the latest of those) — not a case's whole closed history.
    """
    if not ids:
        return []  # the sweep's last batch finds nothing: no queries for it
    by_case_d: dict[int, list[Deadline]] = {}
    # rows unpacked by position (the select's column order): attribute lookups by name cost a third of the read
    for (
        id_,
        case_id,
        kind,
        due_on,
        owner,
        escalate_to,
        armed_in,
        armed_on,
        status,
        closed_on,
        shown_from,
        no,
    ) in connection.execute(_SELECT_DEADLINES if complete else _SELECT_WORKING_DEADLINES, {"ids": ids}):
        by_case_d.setdefault(case_id, []).append(
            Deadline(
                kind,
                due_on,
                _ROLES[owner],
                _ROLES[escalate_to],
                armed_in,
                armed_on,
                _STATUSES[status],
                closed_on,
                shown_from,
                no,
                id_,
            )
        )
    by_case_e: dict[int, list[Escalation]] = {}
    for (
        id_,
        case_id,
        no,
        reason,
        raised_to,
        raised_on,
        state,
        level,
        deadline_kind,
        detail,
        resolution,
        closed,
    ) in connection.execute(_SELECT_ESCALATIONS, {"ids": ids}):
        by_case_e.setdefault(case_id, []).append(
            Escalation(
                no,
                reason,
                _ROLES[raised_to],
                raised_on,
                _ESC_STATES[state],
                level,
                deadline_kind,
                detail,
                resolution,
                closed,
                id_,
            )
        )
    loaded = []
    for (
        id_,
        ref,
        kind,
        state,
        child_id,
        procedure_version,
        dob,
        dates,
        people,
        details,
        links,
        last_event_on,
        revision,
        last_seq,
        policy_id,
        log_head,
        disposed_on,
    ) in connection.execute(_SELECT_CASES, {"ids": ids}):
        if disposed_on is not None:
            if disposed is None:
                raise Refused(disposed_refusal(ref, disposed_on))
            disposed[ref] = disposed_on  # the caller refuses the commands that name it, one by one
            continue
        case_kind = _KINDS[kind]
        case = CaseFile(
            ref=ref,
            kind=case_kind,
            state=_CASE_STATES[case_kind][state],
            child_id=child_id,
            procedure_version=procedure_version,
            dob=dob,
            dates={k: parse_date(v) for k, v in dates.items()},
            people=dict(people),
            details=dict(details),
            links=list(links),
            deadlines=by_case_d.get(id_, []),
            escalations=by_case_e.get(id_, []),
            last_event_on=last_event_on,
            id=id_,
            revision=revision,
        )
        loaded.append(
            Loaded(
                case,
                {d.id: d.status for d in case.deadlines if d.id is not None},
                {e.no: escalation_snapshot(e) for e in case.escalations},
                last_seq,
                policy_id=policy_id,
                log_head=log_head or GENESIS,
            )
        )
    return loaded


def entry_from_row(r: Any) -> LogEntry:
    """A log row as the domain's entry (for replay): its stored payload; what it did stays in ``consequences``."""
    source = Source(r.source.split(":", 1)[0])
    return LogEntry(
        r.event, r.from_state, r.to_state, r.actor, r.role, source, r.happened_on, dict(r.payload), r.escalation_no
    )
