"""``orderwatch verify``: every hash chain checked, and the first broken link named (``storage.chain``).

Checks, per case: its events run 1..``last_seq`` with no gap, each row's hash is its content chained to the one
before, and the last is the case's ``log_head``; an erased payload only on a case that was disposed of (and whose
log says so). Per log (people, access): each row chained to the one before, the count and the last hash equal to
its ``chain_heads`` row. And the number of cases equals the count of cases ever opened.

It reads in one transaction (a consistent snapshot on PostgreSQL; SQLite's reader sees one state of the file), a
case at a time, so its memory does not grow with the caseload. It names tables, case references, sequence numbers
and row ids — never a row's content.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, Table, select

from machines.retention import DISPOSED
from storage import chain
from storage.models import access_log, cases, events, people_log
from storage.uow import transaction

__all__ = ["Break", "Verified", "check_case", "verify", "verify_connection"]


@dataclass(frozen=True, slots=True)
class Break:
    """The first broken link of a chain: where, and what is wrong (never what the row holds)."""

    table: str
    ref: str | None  # the case, for the event log
    position: int | None  # the case's seq, or the log row's id
    why: str

    def describe(self) -> str:
        where = self.table if self.ref is None else f"{self.table} of case {self.ref}"
        at = "" if self.position is None else f" at {'seq' if self.ref is not None else 'id'} {self.position}"
        return f"{where}{at}: {self.why}"


@dataclass(slots=True)
class Verified:
    """What ``verify`` checked, each chain's head, and the first break found (``ok`` when none)."""

    cases: int = 0
    events: int = 0
    logs: dict[str, int] = field(default_factory=dict)
    # chain -> head ("events": a digest of every case's head); kept elsewhere, they show a later rewrite
    heads: dict[str, str] = field(default_factory=dict)
    broken: Break | None = None

    @property
    def ok(self) -> bool:
        return self.broken is None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ok": self.ok,
            "cases": self.cases,
            "events": self.events,
            "logs": dict(self.logs),
            "heads": dict(self.heads),
        }
        if self.broken is not None:
            b = self.broken
            out["broken"] = {"table": b.table, "case": b.ref, "position": b.position, "why": b.why}
        return out

    def lines(self) -> list[str]:
        if self.broken is not None:
            return [f"BROKEN: {self.broken.describe()}"]
        logs = ", ".join(f"{n} {name} rows" for name, n in self.logs.items())
        return [f"ok: {self.cases} case chains ({self.events} events), {logs}"]


_PAGE = 1000  # cases read at a time, with their events: memory bounded, a round trip per page


def _pages(connection: Connection) -> Iterator[list[tuple[Mapping[Any, Any], list[Mapping[Any, Any]]]]]:
    """Every case in id order, with its events in order, a page of cases at a time (keyset pagination)."""
    after = 0
    columns = (cases.c.id, cases.c.ref, cases.c.last_seq, cases.c.log_head, cases.c.disposed_on)
    while True:
        page = connection.execute(
            select(*columns).where(cases.c.id > after).order_by(cases.c.id).limit(_PAGE)
        ).mappings().all()  # fmt: skip
        if not page:
            return
        ids = [int(c["id"]) for c in page]
        by_case: dict[int, list[Mapping[Any, Any]]] = {i: [] for i in ids}
        query = select(events).where(events.c.case_id.in_(ids)).order_by(events.c.case_id, events.c.seq)
        for row in connection.execute(query).mappings():
            by_case[int(row["case_id"])].append(row)
        yield [(c, by_case[int(c["id"])]) for c in page]
        after = ids[-1]


def check_case(connection: Connection, case: Mapping[Any, Any], found: Verified,
               rows: Iterable[Mapping[Any, Any]] | None = None) -> Break | None:  # fmt: skip
    """The first break in one case's chain (``case``: its id, ref, last_seq, log_head, disposed_on; ``rows``: its
    events in order, else read here), or ``None``."""
    ref = str(case["ref"])
    previous = chain.GENESIS
    expected_seq = 0
    erased_seen: int | None = None
    disposed_logged = False
    if rows is None:
        query = select(events).where(events.c.case_id == case["id"]).order_by(events.c.seq)
        rows = connection.execute(query).mappings()
    for row in rows:
        expected_seq += 1
        seq = int(row["seq"])
        if seq != expected_seq:
            return Break("events", ref, expected_seq, f"event {expected_seq} is missing")
        if chain.link(previous, "events", row) != row["hash"]:
            return Break("events", ref, seq, "the event's hash does not match its content and the one before")
        if chain.erased_digest(row["payload"]) is not None and erased_seen is None:
            erased_seen = seq
        if row["event"] == DISPOSED:
            disposed_logged = True
        previous = str(row["hash"])
        found.events += 1
    if expected_seq < int(case["last_seq"]):
        return Break("events", ref, expected_seq + 1, f"the log ends at {expected_seq}, the case at {case['last_seq']}")
    if expected_seq > int(case["last_seq"]):
        return Break("events", ref, expected_seq, f"the log runs past the case's last event {case['last_seq']}")
    if expected_seq and previous != case["log_head"]:
        return Break("events", ref, expected_seq, "the last event's hash is not the case's recorded head")
    if erased_seen is not None and not (disposed_logged and case["disposed_on"] is not None):
        return Break("events", ref, erased_seen, "a payload is erased but the case was never disposed of")
    return None


def _check_log(connection: Connection, table: Table, found: Verified) -> Break | None:
    previous = chain.GENESIS
    count = 0
    last_id: int | None = None
    for row in connection.execute(select(table).order_by(table.c.id)).mappings():
        count += 1
        if chain.link(previous, table.name, row) != row["hash"]:
            return Break(
                table.name, None, int(row["id"]), "the row's hash does not match its content and the one before"
            )
        previous = str(row["hash"])
        last_id = int(row["id"])
    recorded, head = chain.head_of(connection, table.name)
    found.logs[table.name] = count
    found.heads[table.name] = previous
    if count != recorded:
        return Break(table.name, None, last_id, f"the log has {count} rows, its head records {recorded}")
    if previous != head:
        return Break(table.name, None, last_id, "the last row's hash is not the recorded head")
    return None


def verify_connection(connection: Connection) -> Verified:
    """Check every chain in the caller's transaction; stops at the first break."""
    found = Verified()
    root = hashlib.sha256()  # one digest of every case's head, in case order: the event log's head, in one line
    for page in _pages(connection):
        for case, rows in page:
            found.cases += 1
            broken = check_case(connection, case, found, rows)
            if broken is not None:
                found.broken = broken
                return found
            root.update(f"{case['ref']}:{case['log_head'] or ''}\n".encode())
    found.heads["events"] = root.hexdigest()
    opened, _ = chain.head_of(connection, "cases")
    if found.cases != opened:
        found.broken = Break("cases", None, None, f"{found.cases} cases are held, {opened} were opened")
        return found
    for table in (people_log, access_log):
        broken = _check_log(connection, table, found)
        if broken is not None:
            found.broken = broken
            return found
    return found


def verify(engine: Engine) -> Verified:
    """Check every chain of the database (``orderwatch verify``)."""
    return transaction(engine, verify_connection, write=False)
