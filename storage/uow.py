"""The unit of work: one transaction that takes the cases it changes first, reads them inside it, and commits their
state, their log entries and their consequences together — or nothing at all.

Taking a case first (DESIGN "Consistency"): on PostgreSQL ``SELECT … FOR UPDATE`` on the case row (the sweep claims
with ``SKIP LOCKED``; an escalation is found by a statement that locks its case; a reference not yet in use is
reserved with an advisory lock before it is looked up); on SQLite the transaction begins ``IMMEDIATE``
(``storage.db``), holding the database's write lock before its first read. Every read of a unit of work comes after
its lock, so what it reads cannot change before it writes. The writes still carry a version check.

A lost race — a version conflict, an integrity error, a serialization failure or deadlock, SQLite busy, a dropped
connection — is retried from a fresh read; one that retrying does not settle is refused (``Busy``: nothing changed).
Anything else becomes a ``Fault`` with a correlation id; its detail goes to the local fault log, never further.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import TypeVar

from sqlalchemy import Connection, Engine, and_, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from machines.casework import Casework
from machines.errors import Refused
from machines.events import DomainEvent
from machines.model import CaseFile, LogEntry, Person
from machines.policy import Policy
from storage import outbox
from storage.db import EXCLUSIVE, WRITE
from storage.errors import Busy, Fault, Unavailable, record_fault
from storage.models import cases as _CASES
from storage.models import escalations as _ESCALATIONS
from storage.policies import PolicyBook
from storage.rows import Loaded, Stamp, disposed_refusal, load_cases, load_people
from storage.writes import Conflict, Writes

__all__ = ["HOOKS", "Directory", "UnitOfWork", "transaction"]

T = TypeVar("T")
_RETRIES = 8
# PostgreSQL: serialization failure, deadlock detected, lock not available — the transaction lost a race and may
# simply run again
_RETRYABLE_SQLSTATES = frozenset({"40001", "40P01", "55P03"})
# Test hooks: each is called at named points of a unit of work with the references concerned — "locked" once the
# cases are locked and before they are read. The consistency tests pause a transaction there (a barrier) to force an
# interleaving; nothing else registers one.
Hook = Callable[[str, Sequence[str]], None]
HOOKS: list[Hook] = []


def _hook(point: str, refs: Sequence[str]) -> None:
    for hook in HOOKS:
        hook(point, refs)


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

    def __init__(self, connection: Connection, policy: Policy, *, now: datetime, source: str | None,
                 policies: PolicyBook | None = None) -> None:  # fmt: skip
        self.connection = connection
        self.now = now
        self.source = source  # the flow run that carried the work, if any (stamped on the log)
        self.people = Directory(connection)
        self.policies = policies if policies is not None else PolicyBook(policy)
        self.policies.begin()
        self._policy_id: int | None = None  # the policy in force's id, asked once per unit of work
        self.casework = Casework(self.policies.current, self.people)  # the policy in force: for new cases
        self._rules: dict[int, Casework] = {}
        self.events: list[DomainEvent] = []
        self._locks = connection.dialect.name == "postgresql"
        self._cases: dict[str, Loaded] = {}
        self._absent: set[str] = set()  # references looked up under their lock and found not in use
        self._disposed: dict[str, date] = {}  # cases named that were disposed of: their tombstones, by reference
        self._reserved: set[str] = set()  # names this transaction holds an advisory lock on (PostgreSQL)
        self._entries: dict[str, list[LogEntry]] = {}
        self._stamps: dict[str, list[Stamp]] = {}
        self._told = 0  # how many of ``events`` the outbox has written
        # who enters what this unit of work records now, and through which channel (set per command: ``enter``)
        self.stamp: Stamp = (None, source or "system")

    def enter(self, entered_by: str | None, channel: str) -> None:
        """The entries recorded from now on are entered by ``entered_by`` through ``channel``."""
        self.stamp = (entered_by, channel)

    # -- taking cases ---------------------------------------------------------------------------------------------

    def case(self, ref: str) -> Loaded:
        """The case, taken for this transaction (refuses an unknown reference)."""
        loaded = self._cases.get(ref)
        if loaded is None:
            self.take([ref])
            loaded = self._cases.get(ref)
        if loaded is None:
            if ref in self._disposed:  # refused on its own: the rest of a batch goes on
                raise Refused(disposed_refusal(ref, self._disposed[ref]))
            raise Refused(f"unknown case {ref!r}")
        return loaded

    def take(self, refs: Sequence[str]) -> None:
        """Lock and load the cases named (unknown ones are left out): one query for the ids, three to load."""
        wanted = [r for r in dict.fromkeys(refs) if r not in self._cases and r not in self._disposed]
        if not wanted:
            return
        query = select(_CASES.c.id).where(_CASES.c.ref.in_(wanted)).order_by(_CASES.c.id)
        if self._locks:
            query = query.with_for_update()  # in id order: two transactions lock shared cases in the same order
        ids = list(self.connection.scalars(query))
        _hook("locked", wanted)
        self._adopt(load_cases(self.connection, ids, complete=False, disposed=self._disposed))

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
            query = query.with_for_update(of=_CASES, skip_locked=True)
        ids = list(self.connection.scalars(query))
        _hook("locked", [])
        loaded = load_cases(self.connection, ids, complete=False)
        self._adopt(loaded)
        return loaded

    def locate_escalation(self, escalation: int | None = None, ref: str | None = None,
                          no: int | None = None) -> tuple[int, str, int] | None:  # fmt: skip
        """An escalation's id, case reference and number (by id, or by case and number), its case locked by the
        same statement (PostgreSQL ``FOR UPDATE OF cases``), so nothing read after it can change first. A case this
        transaction has already taken is locked and read: its stored escalations are found without a query."""
        held = self._cases.get(ref) if ref is not None and escalation is None else None
        if held is not None:
            for esc in held.case.escalations:
                if esc.no == no and esc.id is not None:  # one raised in this transaction is not stored yet
                    return esc.id, held.case.ref, esc.no
            return None
        query = select(_ESCALATIONS.c.id, _CASES.c.ref, _ESCALATIONS.c.no).join(
            _CASES, _CASES.c.id == _ESCALATIONS.c.case_id
        )
        if escalation is not None:
            query = query.where(_ESCALATIONS.c.id == escalation)
        else:
            query = query.where(_CASES.c.ref == ref, _ESCALATIONS.c.no == no)
        if self._locks:
            query = query.with_for_update(of=_CASES)
        found = self.connection.execute(query).first()
        return None if found is None else (found[0], found[1], found[2])

    def rules(self, loaded: Loaded) -> Casework:
        """The casework under the policy the case records (the one in force, for a case that records none)."""
        if loaded.policy_id is None:
            return self.casework
        rules = self._rules.get(loaded.policy_id)
        if rules is None:
            policy = self.policies.get(self.connection, loaded.policy_id)
            rules = self._rules[loaded.policy_id] = (
                self.casework if policy is self.policies.current else Casework(policy, self.people)
            )
        return rules

    def _adopt(self, loaded: Iterable[Loaded]) -> None:
        for item in loaded:
            self._cases[item.case.ref] = item

    def reserve(self, what: str, key: str) -> None:
        """Lock a name not yet in use — a case reference, a user name — to the end of the transaction (PostgreSQL:
        an advisory lock; SQLite's write lock already covers it), so that what is read about it next cannot change
        before this transaction writes: two registrations of one reference queue, the second finds the first."""
        name = f"{what}:{key}"
        if self._locks and name not in self._reserved:
            self.connection.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": name})
            self._reserved.add(name)

    def exists(self, ref: str) -> bool:
        """Is the reference in use? Asked under a lock on the reference itself (``reserve``)."""
        if ref in self._cases or ref in self._disposed:
            return True
        if ref in self._absent:
            return False
        return ref in self._look_up([ref])

    def _look_up(self, refs: Sequence[str]) -> set[str]:
        """Which of these references are in use, each reserved first (in one order: two transactions queue rather
        than deadlock); the free ones are remembered, for ``exists``."""
        for ref in sorted(refs):
            self.reserve("case", ref)
        in_use = set(self.connection.scalars(select(_CASES.c.ref).where(_CASES.c.ref.in_(list(refs)))))
        self._absent.update(r for r in refs if r not in in_use)
        return in_use

    def take_all(self, refs: Sequence[str], new: Sequence[str] = ()) -> None:
        """Ready a batch's cases at once: one ``take`` of every case named; then the references it would open
        (``new``) looked up together — rows before names, as an event that opens a linked case takes them, so the
        two queue rather than deadlock."""
        self.take(refs)
        fresh = {r for r in new if r not in self._cases and r not in self._absent and r not in self._disposed}
        if fresh:
            self._look_up(sorted(fresh))

    # -- recording what happened -----------------------------------------------------------------------------------

    def open(self, case: CaseFile, entry: LogEntry, *, like: Loaded | None = None) -> Loaded:
        """A new case with its first log entry; refuses a reference already in use. It runs under the policy in
        force — or, opened by an event on another case (``like``), under that case's policy, which opened it."""
        if self.exists(case.ref):
            raise Refused(f"case reference {case.ref!r} is already registered")
        loaded = self._cases[case.ref] = Loaded.opened(case)
        if like is not None and like.policy_id is not None:
            loaded.policy_id = like.policy_id
        else:
            if self._policy_id is None:
                self._policy_id = self.policies.current_id(self.connection, self.now)
            loaded.policy_id = self._policy_id
        self.record(loaded, [entry])
        return loaded

    def record(self, loaded: Loaded, entries: Iterable[LogEntry]) -> None:
        """Log entries for a case this transaction holds; the case's changed rows are written with them."""
        entries = list(entries)
        if not entries:
            return
        log = self._entries.setdefault(loaded.case.ref, [])
        stamps = self._stamps.setdefault(loaded.case.ref, [])
        for entry in entries:
            log.append(entry)
            stamps.append(self.stamp)
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
        behalf: list[outbox.Notice] = []
        for ref, entries in self._entries.items():
            loaded = self._cases[ref]
            stamps = self._stamps.get(ref, [])
            first_seq = 1 if loaded.new else loaded.last_seq + 1
            behalf.extend(outbox.on_behalf_notices(ref, loaded.case.kind, entries, stamps, first_seq))
            writes.add(self.connection, loaded, entries, self.now, self.source, stamps)
        writes.flush(self.connection)
        self._entries.clear()
        self._stamps.clear()
        outbox.insert_new(self.connection, behalf, self.now, self.source or "manual")
        if self._told < len(self.events):
            cases = {ref: loaded.case for ref, loaded in self._cases.items()}
            outbox.write(self.connection, self.events[self._told :], cases, self.now, self.source)
            self._told = len(self.events)


@contextmanager
def _begun(engine: Engine, *, write: bool | str) -> Iterator[Connection]:
    connection = engine.connect()
    try:
        if write:
            connection = connection.execution_options(**{WRITE: EXCLUSIVE if write == EXCLUSIVE else True})
        with connection.begin():
            yield connection
    finally:
        connection.close()


_RACE, _GONE, _FAULT = "lost a race", "database unavailable", "fault"


def _kind(exc: Exception) -> str:
    if isinstance(exc, IntegrityError) and getattr(exc.orig, "sqlite_errorname", "") == "SQLITE_CONSTRAINT_TRIGGER":
        return _FAULT  # a trigger said no (the append-only event log): not a race, retrying cannot help
    if isinstance(exc, (Conflict, IntegrityError)):
        return _RACE
    if isinstance(exc, DBAPIError):
        if getattr(exc.orig, "sqlstate", None) in _RETRYABLE_SQLSTATES:
            return _RACE
        message = str(exc.orig).lower()
        sqlite = exc.orig is not None and type(exc.orig).__module__.startswith("sqlite3")
        if sqlite and isinstance(exc, OperationalError) and ("locked" in message or "busy" in message):
            return _RACE
        if exc.connection_invalidated or (isinstance(exc, OperationalError) and not sqlite):
            return _GONE  # the connection dropped or could not be made; a retry gets a new one
        if sqlite and ("unable to open" in message or "disk i/o" in message):
            return _GONE
    return _FAULT


def transaction(engine: Engine, operation: Callable[[Connection], T], *, write: bool | str = True) -> T:
    """Run ``operation`` in one transaction, committed when it returns. A lost race (conflict, integrity error,
    serialization failure, deadlock, a busy database) or a dropped connection rolls back and runs it again from a
    fresh read; when retrying does not settle a race, ``Busy`` (a refusal: nothing changed). Any other error
    becomes a ``Fault`` (``Unavailable`` for a database that cannot be reached) whose message is generic, its detail
    logged locally under a correlation id: database errors can quote personal data back."""
    for attempt in range(_RETRIES):
        try:
            with _begun(engine, write=write) as connection:
                return operation(connection)
        except (Refused, Fault):
            raise
        except Exception as exc:
            kind = _kind(exc)
            if kind != _FAULT and attempt < _RETRIES - 1:
                # back off, with jitter so that racers do not meet again: the other transaction is finishing
                time.sleep(random.uniform(0.005, 0.02) * 2**attempt)
                continue
            correlation_id = record_fault(exc, f"{kind}, after {attempt + 1} attempt(s)")
            if kind == _RACE:
                raise Busy(correlation_id) from None
            if kind == _GONE:
                raise Unavailable(correlation_id) from None
            raise Fault(correlation_id) from None
    raise RuntimeError("unreachable")  # the loop returns or raises
