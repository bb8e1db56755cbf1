"""Bulk writes: a unit of work's changes to case aggregates, written with one ``executemany`` per statement, each
compiled once per dialect (the sweep's hot path), and every conditional UPDATE checked to hit exactly its rows."""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Dialect, UpdateBase, bindparam, insert, update

from machines.events import consequences
from machines.model import DeadlineStatus, LogEntry
from storage.chain import count_cases, seal
from storage.models import cases as _CASES
from storage.models import deadlines as _DEADLINES
from storage.models import escalations as _ESCALATIONS
from storage.models import events as _EVENTS
from storage.plain import jsonable
from storage.rows import Loaded, Stamp, escalation_snapshot

__all__ = ["Conflict", "Writes"]


class Conflict(Exception):
    """Another transaction changed the case first; the operation is retried from a fresh read."""


_UPDATE_CASE = (
    update(_CASES)
    .where(_CASES.c.id == bindparam("b_id"), _CASES.c.revision == bindparam("b_revision"))
    .values(
        state=bindparam("state"),
        child_id=bindparam("child_id"),  # an amendment corrects these (``machines.amend``)
        dob=bindparam("dob"),
        dates=bindparam("dates"),
        people=bindparam("people"),
        details=bindparam("details"),
        links=bindparam("links"),
        last_event_on=bindparam("last_event_on"),
        next_due_on=bindparam("next_due_on"),
        last_seq=bindparam("last_seq"),
        log_head=bindparam("log_head"),
        policy_id=bindparam("policy_id"),
        revision=_CASES.c.revision + 1,
    )
)
# The claim: a deadline changes only if it is still open, so nothing fires it twice.
_CLOSE_DEADLINE = (
    update(_DEADLINES)
    .where(_DEADLINES.c.id == bindparam("b_id"), _DEADLINES.c.status == DeadlineStatus.OPEN.value)
    .values(status=bindparam("status"), closed_on=bindparam("closed_on"))
)
_UPDATE_ESCALATION = (
    update(_ESCALATIONS)
    .where(_ESCALATIONS.c.case_id == bindparam("b_case_id"), _ESCALATIONS.c.no == bindparam("b_no"))
    .values(
        state=bindparam("state"),
        raised_to=bindparam("raised_to"),
        level=bindparam("level"),
        resolution=bindparam("resolution"),
        closed_on=bindparam("closed_on"),
    )
)

_Prepared = tuple[str, list[tuple[str, Any, Any]], bool]  # SQL, (bind name, processor, fixed value)s, positional


class _Bulk:
    """A DML statement compiled once per dialect and column set, run with the driver's ``executemany``.

    Each value goes through its column type's own bind processor (``TypeEngine.bind_processor`` of the dialect's
    implementation), so the rows are exactly those Core would write; what is skipped is Core's per-row parameter
    assembly, half the cost of a sweep's writes.
    """

    def __init__(self, statement: UpdateBase) -> None:
        self._statement = statement
        # per dialect *instance*: the bind processors carry the engine's own settings (its JSON serializer)
        self._compiled: weakref.WeakKeyDictionary[Dialect, dict[tuple[str, ...], _Prepared]] = (
            weakref.WeakKeyDictionary()
        )

    def _prepare(self, dialect: Dialect, keys: tuple[str, ...]) -> _Prepared:
        compiled = self._statement.compile(dialect=dialect, column_keys=list(keys))
        names = list(compiled.positiontup or ()) if compiled.positional else list(compiled.binds)
        params = []
        for name in names:
            bind = compiled.binds[name]
            # a bind not among the row's keys carries its own value (a literal in a WHERE clause)
            params.append((name, bind.type.dialect_impl(dialect).bind_processor(dialect), bind.effective_value))
        return compiled.string, params, compiled.positional

    def execute(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
        """Execute for every row; the total number of rows matched."""
        keys = tuple(rows[0])
        by_keys = self._compiled.setdefault(connection.dialect, {})
        prepared = by_keys.get(keys)
        if prepared is None:
            prepared = by_keys[keys] = self._prepare(connection.dialect, keys)
        sql, params, positional = prepared
        names = [n for n, _, _ in params]
        parameters: list[Any] = []
        for r in rows:
            value = tuple((p(r[n]) if p else r[n]) if n in r else fixed for n, p, fixed in params)
            parameters.append(value if positional else dict(zip(names, value, strict=True)))
        return connection.exec_driver_sql(sql, parameters).rowcount


_BULK_UPDATE_CASE = _Bulk(_UPDATE_CASE)
_BULK_CLOSE_DEADLINE = _Bulk(_CLOSE_DEADLINE)
_BULK_INSERT_DEADLINE = _Bulk(insert(_DEADLINES))
_BULK_INSERT_ESCALATION = _Bulk(insert(_ESCALATIONS))
_BULK_UPDATE_ESCALATION = _Bulk(_UPDATE_ESCALATION)
_BULK_INSERT_EVENT = _Bulk(insert(_EVENTS))
_BULK_SET_HEAD = _Bulk(update(_CASES).where(_CASES.c.id == bindparam("b_id")).values(log_head=bindparam("log_head")))


class Writes:
    """The row changes of many case aggregates, written with one executemany per statement (the unit of work's
    flush). Every conditional UPDATE must hit exactly its rows, else another transaction got there first.

    Enum values are read as ``_value_``: the ``value`` property costs four times as much, on the sweep's hot path."""

    def __init__(self) -> None:
        self.cases: list[dict[str, Any]] = []
        self.new_deadlines: list[dict[str, Any]] = []
        self.closed_deadlines: list[dict[str, Any]] = []
        self.new_escalations: list[dict[str, Any]] = []
        self.changed_escalations: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.refs: list[str] = []
        self.new_heads: list[dict[str, Any]] = []  # new cases' chain heads, known once their events are sealed

    def add(
        self,
        connection: Connection,
        loaded: Loaded,
        entries: Iterable[LogEntry],
        now: datetime,
        source: str | None,
        stamps: Sequence[Stamp] | None = None,
    ) -> None:
        """Queue the aggregate's changes and its new log entries (a new case is inserted at once: its children
        need its id). ``stamps``: each entry's (entered_by, channel), in order."""
        entries = list(entries)
        stamps = list(stamps) if stamps is not None else [(None, source or "system")] * len(entries)
        case = loaded.case
        open_dues = [d.due_on for d in case.deadlines if d.is_open]
        values = {
            "state": case.state._value_,
            "child_id": case.child_id,
            "dob": case.dob,
            "dates": {k: v.isoformat() for k, v in case.dates.items()},
            "people": dict(case.people),
            "details": jsonable(case.details),
            "links": list(case.links),
            "last_event_on": case.last_event_on,
            "next_due_on": min(open_dues) if open_dues else None,
            "policy_id": loaded.policy_id,
        }
        if loaded.new:
            row = {
                **values,
                "ref": case.ref,
                "kind": case.kind._value_,
                "procedure_version": case.procedure_version,
                "last_seq": len(entries),
                "revision": 1,
                "opened_at": now,
            }
            # a reference taken meanwhile is an IntegrityError: the unit of work retries, and finds it taken
            case.id = connection.execute(insert(_CASES).returning(_CASES.c.id), [row]).scalar_one()
        else:
            self.cases.append(
                {**values, "b_id": case.id, "b_revision": case.revision, "last_seq": loaded.last_seq + len(entries)}
            )
            self.refs.append(case.ref)
        case_id = case.id
        for d in case.deadlines:
            if d.id is None:
                self.new_deadlines.append(
                    {
                        "case_id": case_id,
                        "kind": d.kind,
                        "due_on": d.due_on,
                        "status": d.status._value_,
                        "owner": d.owner._value_,
                        "escalate_to": d.escalate_to._value_,
                        "armed_in": str(d.armed_in),
                        "armed_on": d.armed_on,
                        "closed_on": d.closed_on,
                        "shown_from": d.shown_from,
                        "escalation_no": d.escalation_no,
                    }
                )
            elif loaded.deadline_status.get(d.id) != d.status:
                self.closed_deadlines.append({"b_id": d.id, "status": d.status._value_, "closed_on": d.closed_on})
        for e in case.escalations:
            values_e = {
                "state": e.state._value_,
                "raised_to": e.raised_to._value_,
                "level": e.level,
                "resolution": e.resolution,
                "closed_on": e.closed_on,
            }
            if e.no not in loaded.escalation_state:
                self.new_escalations.append(
                    {
                        **values_e,
                        "case_id": case_id,
                        "no": e.no,
                        "reason": e.reason,
                        "raised_on": e.raised_on,
                        "deadline_kind": e.deadline_kind,
                        "detail": e.detail,
                    }
                )
            elif loaded.escalation_state[e.no] != escalation_snapshot(e):
                self.changed_escalations.append({**values_e, "b_case_id": case_id, "b_no": e.no})
        first_seq = 1 if loaded.new else loaded.last_seq + 1
        rows: list[dict[str, Any]] = []
        for i, entry in enumerate(entries):
            rows.append(
                {
                    "case_id": case_id,
                    "seq": first_seq + i,
                    "escalation_no": entry.escalation_no,
                    "event": entry.event,
                    "from_state": str(entry.from_state),
                    "to_state": str(entry.to_state),
                    "actor": entry.actor,
                    "role": entry.role,
                    "source": entry.source._value_ if source is None else f"{entry.source._value_}:{source}",
                    "happened_on": entry.happened_on,
                    "recorded_at": now,
                    "payload": jsonable(entry.payload),
                    "consequences": consequences(entry.changes),
                    "entered_by": stamps[i][0],
                    "channel": stamps[i][1],
                }
            )
        # the case's chain goes on from its head; the new head is written with the case (below, or in ``flush``)
        loaded.log_head = seal(loaded.log_head, "events", rows)
        self.events.extend(rows)
        if loaded.new:
            self.new_heads.append({"b_id": case_id, "log_head": loaded.log_head})
        else:
            self.cases[-1]["log_head"] = loaded.log_head

    def flush(self, connection: Connection) -> None:
        """Write everything queued; a conditional UPDATE that missed its row is a ``Conflict``."""
        if self.cases and _BULK_UPDATE_CASE.execute(connection, self.cases) != len(self.cases):
            raise Conflict(", ".join(self.refs))
        closed = self.closed_deadlines
        if closed and _BULK_CLOSE_DEADLINE.execute(connection, closed) != len(closed):
            raise Conflict(", ".join(self.refs))
        for statement, rows in (
            (_BULK_INSERT_DEADLINE, self.new_deadlines),
            (_BULK_INSERT_ESCALATION, self.new_escalations),
            (_BULK_UPDATE_ESCALATION, self.changed_escalations),
            (_BULK_INSERT_EVENT, self.events),
        ):
            if rows:
                statement.execute(connection, rows)
        if self.new_heads:  # new cases: their chains' heads, and the count of cases opened (storage.chain)
            _BULK_SET_HEAD.execute(connection, self.new_heads)
            count_cases(connection, len(self.new_heads))
        self.__init__()  # type: ignore[misc]
