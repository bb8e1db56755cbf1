"""The unit of work: one transaction that takes the cases it changes first, reads them inside it, and commits their
state, their log entries and their consequences together — or nothing at all.

Taking a case first (DESIGN "Consistency"): on PostgreSQL ``SELECT … FOR UPDATE`` on the case row (the sweep claims
with ``SKIP LOCKED``); on SQLite the transaction begins ``IMMEDIATE`` (``storage.db``), holding the database's write
lock before its first read. The writes still carry a version check; a conflict is retried from a fresh read.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import TypeVar

from sqlalchemy import Connection, Engine, and_, select
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from machines.casework import Casework
from machines.errors import Refused
from machines.events import DomainEvent
from machines.model import CaseFile, LogEntry, Person
from machines.policy import Policy
from storage import outbox
from storage.db import WRITE
from storage.models import cases as _CASES
from storage.rows import Conflict, Loaded, Writes, load_cases, load_people

__all__ = ["Directory", "UnitOfWork", "transaction"]

T = TypeVar("T")
_RETRIES = 6
# PostgreSQL: serialization failure, deadlock detected — the transaction lost a race and may simply run again
_RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})


class Directory:
    """People looked up through the unit of work's connection, each at most once."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._cache: dict[str, Person | None] = {}

    def preload(self, users: Iterable[str]) -> None:
        """Look up many people in one query (a batch's actors), so ``get`` finds them without a round trip."""
        wanted = sorted({u for u in users if u not in self._cache})
        found = load_people(self._connection, wanted)
        for user in wanted:
            self._cache[user] = found.get(user)

    def get(self, user: str) -> Person | None:
        if user not in self._cache:
            self._cache[user] = load_people(self._connection, [user]).get(user)
        return self._cache[user]


class UnitOfWork:
    """The cases one transaction has taken, the log entries and domain events it adds, written on ``flush``."""

    def __init__(self, connection: Connection, policy: Policy, *, now: datetime, source: str | None) -> None:
        self.connection = connection
        self.now = now
        self.source = source  # the flow run that carried the work, if any (stamped on the log)
        self.people = Directory(connection)
        self.casework = Casework(policy, self.people)
        self.events: list[DomainEvent] = []
        self._locks = connection.dialect.name == "postgresql"
        self._cases: dict[str, Loaded] = {}
        self._entries: dict[str, list[LogEntry]] = {}
        self._told = 0  # how many of ``events`` the outbox has written

    # -- taking cases ---------------------------------------------------------------------------------------------

    def case(self, ref: str) -> Loaded:
        """The case, taken for this transaction (refuses an unknown reference)."""
        loaded = self._cases.get(ref)
        if loaded is None:
            self.take([ref])
            loaded = self._cases.get(ref)
            if loaded is None:
                raise Refused(f"unknown case {ref!r}")
        return loaded

    def take(self, refs: Sequence[str]) -> None:
        """Lock and load the cases named (unknown ones are left out): one query for the ids, three to load."""
        wanted = [r for r in dict.fromkeys(refs) if r not in self._cases]
        if not wanted:
            return
        query = select(_CASES.c.id).where(_CASES.c.ref.in_(wanted)).order_by(_CASES.c.id)
        if self._locks:
            query = query.with_for_update()  # in id order: two transactions lock shared cases in the same order
        ids = list(self.connection.scalars(query))
        self._adopt(load_cases(self.connection, ids, complete=False))

    def claim_due(self, as_of: date, limit: int) -> list[Loaded]:
        """The sweep's claim: up to ``limit`` cases with a deadline due before ``as_of``, none another transaction
        holds (PostgreSQL ``SKIP LOCKED``: several sweeps share the work)."""
        query = (
            select(_CASES.c.id)
            .where(and_(_CASES.c.next_due_on.is_not(None), _CASES.c.next_due_on < as_of))
            .order_by(_CASES.c.next_due_on, _CASES.c.id)
            .limit(limit)
        )
        if self._locks:
            query = query.with_for_update(skip_locked=True)
        loaded = load_cases(self.connection, list(self.connection.scalars(query)), complete=False)
        self._adopt(loaded)
        return loaded

    def _adopt(self, loaded: Iterable[Loaded]) -> None:
        for item in loaded:
            self._cases[item.case.ref] = item

    def exists(self, ref: str) -> bool:
        if ref in self._cases:
            return True
        return self.connection.scalar(select(_CASES.c.id).where(_CASES.c.ref == ref)) is not None

    # -- recording what happened -----------------------------------------------------------------------------------

    def open(self, case: CaseFile, entry: LogEntry) -> Loaded:
        """A new case with its first log entry; refuses a reference already in use."""
        if self.exists(case.ref):
            raise Refused(f"case reference {case.ref!r} is already registered")
        loaded = self._cases[case.ref] = Loaded.opened(case)
        self.record(loaded, [entry])
        return loaded

    def record(self, loaded: Loaded, entries: Iterable[LogEntry]) -> None:
        """Log entries for a case this transaction holds; the case's changed rows are written with them."""
        entries = list(entries)
        if not entries:
            return
        log = self._entries.setdefault(loaded.case.ref, [])
        for entry in entries:
            log.append(entry)
            self.events.extend(entry.changes)

    def touch(self, loaded: Loaded) -> None:
        """Write the case back even with no entry (a stale ``next_due_on`` is corrected that way)."""
        self._entries.setdefault(loaded.case.ref, [])

    def written(self) -> list[CaseFile]:
        return [self._cases[ref].case for ref in self._entries]

    def flush(self) -> None:
        """Write every case this transaction changed, and its log, in one executemany per statement; then the
        notices and involvements their domain events call for (the outbox: same transaction, or none of it)."""
        writes = Writes()
        for ref, entries in self._entries.items():
            writes.add(self.connection, self._cases[ref], entries, self.now, self.source)
        writes.flush(self.connection)
        self._entries.clear()
        if self._told < len(self.events):
            cases = {ref: loaded.case for ref, loaded in self._cases.items()}
            outbox.write(self.connection, self.events[self._told :], cases, self.now, self.source)
            self._told = len(self.events)


@contextmanager
def _begun(engine: Engine, *, write: bool) -> Iterator[Connection]:
    connection = engine.connect()
    try:
        if write:
            connection = connection.execution_options(**{WRITE: True})
        with connection.begin():
            yield connection
    finally:
        connection.close()


def _retryable(exc: Exception) -> bool:
    if isinstance(exc, (Conflict, IntegrityError)):
        return True
    if isinstance(exc, OperationalError) and "locked" in str(exc.orig):  # SQLite: busy past the timeout
        return True
    return isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) in _RETRYABLE_SQLSTATES


def transaction(engine: Engine, operation: Callable[[Connection], T], *, write: bool = True) -> T:
    """Run ``operation`` in one transaction, committed when it returns; a lost race (conflict, integrity error,
    serialization failure, a busy database) rolls back and runs it again from a fresh read."""
    for attempt in range(_RETRIES):
        try:
            with _begun(engine, write=write) as connection:
                return operation(connection)
        except Refused:
            raise
        except Exception as exc:
            if not _retryable(exc) or attempt == _RETRIES - 1:
                raise
            time.sleep(0.01 * 2**attempt)  # back off a little: the other transaction is finishing
    raise RuntimeError("unreachable")  # the loop returns or raises
