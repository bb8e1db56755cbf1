"""The casebook: every operation on cases, each one atomic.

An operation opens a unit of work, loads the case aggregates it needs, asks ``machines`` what happens, and commits
the case row, its deadlines, its escalations and its log entries together — or nothing at all. The clock is
injected: "today" arrives as an argument and ``now`` (for ``recorded_at``) from the caller's clock.
"""

from __future__ import annotations

import enum
import weakref
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, cast

import orjson
from sqlalchemy import (
    BindParameter,
    Connection,
    Dialect,
    Engine,
    Table,
    UpdateBase,
    and_,
    bindparam,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from machines.calendar import parse_date
from machines.casework import TRACKING_KINDS, Casework, CpIsoRegistration, SORegistration
from machines.errors import Refused
from machines.model import (
    CaseFile,
    CaseKind,
    Deadline,
    DeadlineStatus,
    Escalation,
    LogEntry,
    Person,
    Role,
    Source,
)
from machines.policy import DEFAULT_POLICY, Policy
from storage.models import (
    AccessRecord,
    CaseRow,
    DeadlineRow,
    EscalationRow,
    EventRow,
    NotificationRow,
    PersonChange,
    PersonRow,
)

__all__ = ["Act", "Casebook", "Conflict", "SweepReport", "escalation_id", "parse_escalation_id"]

Clock = Callable[[], datetime]
ESCALATION_PREFIX = "ESC-"
_WRITTEN = "orderwatch.written"  # Session.info key: the case aggregates a unit of work wrote
_MAX_ID = 2**31 - 1  # the integer primary key's range on PostgreSQL


class _WholeBatchRefused(Exception):
    """A refusal found after a case changed in memory: the whole unit of work is abandoned."""


class Conflict(Exception):
    """Another transaction changed the case first; the operation is retried from a fresh read."""


def escalation_id(row_id: int) -> str:
    return f"{ESCALATION_PREFIX}{row_id}"


def parse_escalation_id(text: str) -> int | None:
    """``ESC-12`` → 12; anything else → ``None`` (it is a case reference)."""
    if not text.upper().startswith(ESCALATION_PREFIX):
        return None
    number = text[len(ESCALATION_PREFIX) :]
    # ASCII digits only ("²".isdigit() is true), and within the id column's range
    if not (number.isascii() and number.isdigit()) or len(number) > 10 or int(number) > _MAX_ID:
        raise Refused(f"malformed escalation id {text!r}: expected ESC-<number>")
    return int(number)


_PLAIN = (str, int, float, bool, type(None))


def _jsonable(value: Any) -> Any:
    """Plain JSON values: dates as ISO strings, enums as their values, tuples as lists, keys as strings."""
    if type(value) in _PLAIN:  # the common case, first: most payload values are plain
        return value
    try:  # orjson does exactly that, in C, a dozen times faster than the walk below
        return orjson.loads(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS))
    except TypeError:  # a type orjson does not know (a non-dict Mapping, …): walk it
        return _walk(value)


def _walk(value: Any) -> Any:
    if type(value) in _PLAIN:
        return value
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value._value_
    if isinstance(value, Mapping):
        return {str(k): _walk(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_walk(v) for v in value]
    return value


class _SessionDirectory:
    """People looked up through the unit of work's session, each at most once."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._cache: dict[str, Person | None] = {}

    def preload(self, users: Iterable[str]) -> None:
        """Look up many people in one query (a batch's actors), so ``get`` finds them without a round trip."""
        wanted = [u for u in set(users) if u not in self._cache]
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            found = {r.user: r for r in self._session.connection().execute(_SELECT_PEOPLE, {"users": chunk})}
            for user in chunk:
                row = found.get(user)
                self._cache[user] = None if row is None else Person(row.user, Role(row.role), row.manager)

    def get(self, user: str) -> Person | None:
        if user not in self._cache:
            row = self._session.connection().execute(_SELECT_PERSON, {"user": user}).first()
            self._cache[user] = None if row is None else Person(row.user, Role(row.role), row.manager)
        return self._cache[user]


@dataclass
class _Loaded:
    """A case aggregate as read, with what is needed to write back only what changed."""

    case: CaseFile
    deadline_status: dict[int, DeadlineStatus]
    escalation_state: dict[int, tuple[Any, ...]]
    last_seq: int = 0
    new: bool = False


def _escalation_snapshot(e: Escalation) -> tuple[Any, ...]:
    return (e.state, e.raised_to, e.level, e.resolution, e.closed_on)


@dataclass(frozen=True, slots=True)
class Act:
    """One manual action for :meth:`Casebook.apply`: a registration (``registration`` set), an escalation action
    (``escalation_no`` set, ``event`` one of acknowledge/escalate/resolve) or a case event."""

    ref: str
    event: str
    actor: str
    on: date
    fields: Mapping[str, Any] = field(default_factory=dict)
    registration: SORegistration | CpIsoRegistration | None = None
    escalation_no: int | None = None


@dataclass
class SweepReport:
    """What one sweep did: counts only (case references, never personal data)."""

    as_of: date
    passed: int = 0  # deadlines whose date passed (missed, or timers fired)
    missed: Counter[str] = field(default_factory=Counter)
    timers: Counter[str] = field(default_factory=Counter)
    escalations: Counter[str] = field(default_factory=Counter)
    cases: int = 0
    batches: int = 0
    notices: list[dict[str, Any]] = field(default_factory=list)  # for Prefect events: refs, kinds, dates only

    def as_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "passed": self.passed,
            "missed": dict(sorted(self.missed.items())),
            "timers": dict(sorted(self.timers.items())),
            "escalations_raised": sum(self.escalations.values()),
            "escalations_by_reason": dict(sorted(self.escalations.items())),
            "cases": self.cases,
            "batches": self.batches,
        }


class Casebook:
    """All reads and changes of cases, people and escalations, on one database."""

    def __init__(
        self,
        engine: Engine | Connection,
        policy: Policy = DEFAULT_POLICY,
        *,
        clock: Clock,
        on_commit: Callable[[list[CaseFile]], None] | None = None,
    ) -> None:
        """``on_commit``, if given, is handed the case aggregates each unit of work wrote, once it has committed
        (the simulator reacts to them without reading them back)."""
        self.engine = engine
        self.policy = policy
        self.clock = clock
        self.on_commit = on_commit
        self.is_postgres = engine.dialect.name == "postgresql"

    # -- the unit of work ------------------------------------------------------------------------------------------

    @contextmanager
    def _unit_of_work(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back (nothing changed) when it raises."""
        # create_savepoint: bound to a connection already in a transaction (tests), a unit of work is a savepoint.
        with (
            Session(
                self.engine, expire_on_commit=False, autoflush=False, join_transaction_mode="create_savepoint"
            ) as session,
            session.begin(),
        ):
            yield session

    def _retrying(self, operation: Callable[[Session], Any], attempts: int = 5) -> Any:
        for attempt in range(attempts):
            try:
                with self._unit_of_work() as session:
                    result = operation(session)
                written: list[CaseFile] = session.info.get(_WRITTEN, [])
                if written and self.on_commit is not None:
                    self.on_commit(written)
                return result
            except Conflict:
                if attempt == attempts - 1:
                    raise
            except OperationalError as exc:  # SQLite: another writer got there first; try again from a fresh read
                if not self.engine.dialect.name == "sqlite" or "locked" not in str(exc) or attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")

    # -- people ----------------------------------------------------------------------------------------------------

    def add_person(self, user: str, role: str, manager: str | None, actor: str) -> dict[str, Any]:
        try:
            role_value = Role(role)
        except ValueError:
            allowed = ", ".join(r.value for r in Role if r is not Role.SYSTEM)
            raise Refused(f"unknown role {role!r} (one of {allowed})") from None
        if role_value is Role.SYSTEM:
            raise Refused("the system role fires timers only; it is not given to people")
        if not user.strip() or any(c.isspace() for c in user):
            raise Refused(f"user name {user!r} must be non-empty with no spaces")

        def op(session: Session) -> dict[str, Any]:
            if session.get(PersonRow, user) is not None:
                raise Refused(f"person {user!r} already exists")
            if manager is not None and session.get(PersonRow, manager) is None:
                raise Refused(f"unknown manager {manager!r} (add them first)")
            now = self.clock()
            session.add(PersonRow(user=user, role=role_value.value, manager=manager, added_at=now))
            session.add(
                PersonChange(
                    user=user, role=role_value.value, manager=manager, change="added", actor=actor, recorded_at=now
                )
            )
            return {"user": user, "role": role_value.value, "manager": manager}

        result: dict[str, Any] = self._retrying(op)
        return result

    def people(self) -> list[dict[str, Any]]:
        with Session(self.engine) as session:
            rows = session.scalars(select(PersonRow).order_by(PersonRow.user)).all()
            return [{"user": r.user, "role": r.role, "manager": r.manager} for r in rows]

    # -- opening cases ---------------------------------------------------------------------------------------------

    def register_so(self, reg: SORegistration, actor: str, on: date) -> dict[str, Any]:
        return self._register(lambda cw: cw.register_so(reg, actor, on), reg.ref)

    def register_cp_iso(self, reg: CpIsoRegistration, actor: str, on: date) -> dict[str, Any]:
        return self._register(lambda cw: cw.register_cp_iso(reg, actor, on), reg.ref)

    def _register(self, open_case: Callable[[Casework], LogEntry], ref: str) -> dict[str, Any]:
        def op(session: Session) -> dict[str, Any]:
            cw = Casework(self.policy, _SessionDirectory(session))
            entry = open_case(cw)
            self._refuse_duplicate(session, ref)
            loaded = _Loaded(cw.last_opened, {}, {}, new=True)
            self._save(session, loaded, [entry], source=None)
            return self._show(session, loaded.case)

        result: dict[str, Any] = self._retrying(op)
        return result

    @staticmethod
    def _refuse_duplicate(session: Session, ref: str) -> None:
        if session.scalar(select(CaseRow.id).where(CaseRow.ref == ref)) is not None:
            raise Refused(f"case reference {ref!r} is already registered")

    # -- firing events ---------------------------------------------------------------------------------------------

    def fire(
        self, ref: str, event: str, fields: Mapping[str, Any], actor: str, on: date, run_id: str | None = None
    ) -> dict[str, Any]:
        """Apply a manual event on ``on``: first let any deadline due before ``on`` pass, then the event."""

        def op(session: Session) -> dict[str, Any]:
            loaded = self._load_one(session, ref)
            cw = Casework(self.policy, _SessionDirectory(session))
            entries = cw.catch_up(loaded.case, on)
            before = loaded.case.state
            entry = cw.fire(loaded.case, event, fields, actor, on)
            entries.append(entry)
            for opening in cw.openings:
                self._refuse_duplicate(session, opening.case.ref)
                self._save(session, _Loaded(opening.case, {}, {}, new=True), opening.entries, source=run_id)
            self._save(session, loaded, entries, source=run_id)
            return {
                "case": ref,
                "event": event,
                "from": before,
                "to": loaded.case.state,
                "on": on.isoformat(),
                "consequences": _jsonable(entry.consequences),
                "opened": [o.case.ref for o in cw.openings],
                "notices": notices(loaded.case, entries),
            }

        result: dict[str, Any] = self._retrying(op)
        return result

    def fire_escalation(
        self, esc_id: int, action: str, fields: Mapping[str, Any], actor: str, on: date, run_id: str | None = None
    ) -> dict[str, Any]:
        def op(session: Session) -> dict[str, Any]:
            row = session.get(EscalationRow, esc_id)
            if row is None:
                raise Refused(f"unknown escalation {escalation_id(esc_id)}")
            ref = session.scalar(select(CaseRow.ref).where(CaseRow.id == row.case_id))
            assert ref is not None
            loaded = self._load_one(session, ref)
            cw = Casework(self.policy, _SessionDirectory(session))
            entries = cw.catch_up(loaded.case, on)
            entry = cw.fire_escalation(loaded.case, row.no, action, fields, actor, on)
            self._save(session, loaded, [*entries, entry], source=run_id)
            esc = loaded.case.escalation(row.no)
            told = notices(loaded.case, [*entries, entry])
            return {
                "escalation": escalation_id(esc_id),
                "case": ref,
                "action": action,
                "from": entry.from_state,
                "to": esc.state,
                "raised_to": esc.raised_to.value,
                "on": on.isoformat(),
                "notices": told,
            }

        result: dict[str, Any] = self._retrying(op)
        return result

    def apply(self, acts: Sequence[Act], run_id: str | None = None) -> list[dict[str, Any] | Refused]:
        """Apply many manual actions in one transaction (a day's work arriving in bulk), in order.

        Each is checked and applied exactly as :meth:`fire` (or a registration) would be, catch-up of due deadlines
        first; one that is refused adds nothing of its own and comes back as its ``Refused`` in the result, the
        others land together, with their log entries, in one commit. (Deadlines due before a refused action's date
        still pass, as the morning's sweep would have let them: time passing is not the action's doing.)
        """

        def op(session: Session) -> list[dict[str, Any] | Refused]:
            refs = {a.ref for a in acts}
            ids = {
                ref: id_ for ref, id_ in session.execute(select(CaseRow.ref, CaseRow.id).where(CaseRow.ref.in_(refs)))
            }
            loaded_cases = self._load_many(session, list(ids.values()), complete=False)
            touched: dict[str, _Loaded] = {ld.case.ref: ld for ld in loaded_cases}
            entries: dict[str, list[LogEntry]] = {}
            directory = _SessionDirectory(session)
            named = [a.fields[k] for a in acts for k in ("iro", "distribution") if k in a.fields]
            split = [n.strip() for v in named for n in (v if isinstance(v, list) else str(v).split(","))]
            directory.preload([a.actor for a in acts] + split)
            cw = Casework(self.policy, directory)
            results: list[dict[str, Any] | Refused] = []

            def is_new_ref(ref: str) -> bool:
                # the batch's own references were all looked up above; only a linked opening needs a query
                if ref in touched:
                    return False
                return ref in refs or session.scalar(select(CaseRow.id).where(CaseRow.ref == ref)) is None

            for act in acts:
                try:
                    if act.registration is not None:
                        if not is_new_ref(act.ref):
                            raise Refused(f"case reference {act.ref!r} is already registered")
                        if isinstance(act.registration, SORegistration):
                            entry = cw.register_so(act.registration, act.actor, act.on)
                        else:
                            entry = cw.register_cp_iso(act.registration, act.actor, act.on)
                        touched[act.ref] = _Loaded(cw.last_opened, {}, {}, new=True)
                        entries[act.ref] = [entry]
                        results.append({"case": act.ref, "event": act.event, "to": cw.last_opened.state})
                        continue
                    loaded = touched.get(act.ref)
                    if loaded is None:
                        raise Refused(f"unknown case {act.ref!r}")
                    case = loaded.case
                    log = entries.setdefault(act.ref, [])
                    log.extend(cw.catch_up(case, act.on))
                    before = case.state
                    opened_before = len(cw.openings)
                    if act.escalation_no is not None:
                        entry = cw.fire_escalation(case, act.escalation_no, act.event, act.fields, act.actor, act.on)
                    else:
                        entry = cw.fire(case, act.event, act.fields, act.actor, act.on)
                    log.append(entry)
                    opened = []
                    for opening in cw.openings[opened_before:]:
                        if not is_new_ref(opening.case.ref):
                            # the case has already changed in memory: refuse the whole batch, as fire() would
                            raise _WholeBatchRefused(f"case reference {opening.case.ref!r} is already registered")
                        touched[opening.case.ref] = _Loaded(opening.case, {}, {}, new=True)
                        entries[opening.case.ref] = list(opening.entries)
                        opened.append(opening.case.ref)
                    results.append(
                        {"case": act.ref, "event": act.event, "from": before, "to": case.state, "opened": opened}
                    )
                except Refused as refused:
                    results.append(refused)
            writes = _Writes()
            now = self.clock()
            for ref, loaded in touched.items():
                if entries.get(ref):
                    writes.add(session, loaded, entries[ref], now, run_id)
            writes.flush(session)
            return results

        try:
            result: list[dict[str, Any] | Refused] = self._retrying(op)
        except _WholeBatchRefused as refused:
            raise Refused(str(refused)) from None
        return result

    # -- the sweep -------------------------------------------------------------------------------------------------

    def sweep(
        self, as_of: date, *, batch_size: int = 500, run_id: str | None = None, max_batches: int | None = None
    ) -> SweepReport:
        """Let every open deadline due before ``as_of`` pass, in batches of cases; idempotent for one ``as_of``.

        Reads only cases whose earliest open deadline is due (``cases.next_due_on``), so its cost grows with the
        work due, not with the caseload. On PostgreSQL each batch claims its cases ``FOR UPDATE SKIP LOCKED``,
        so several sweeps can share the work and none fires a deadline twice.
        """
        report = SweepReport(as_of)
        while max_batches is None or report.batches < max_batches:
            done = self._retrying(lambda session: self.sweep_batch(session, as_of, batch_size, report, run_id))
            if not done:
                break
        return report

    def catch_up(self, ref: str, as_of: date, run_id: str | None = None) -> int:
        """Let one case's deadlines due before ``as_of`` pass now, in its own transaction (the sweep's work for
        one case); returns how many passed."""

        def op(session: Session) -> int:
            loaded = self._load_one(session, ref)
            entries = Casework(self.policy, _SessionDirectory(session)).catch_up(loaded.case, as_of)
            if entries:
                self._save(session, loaded, entries, source=run_id)
            return len(entries)

        passed: int = self._retrying(op)
        return passed

    def sweep_once(self, as_of: date, batch_size: int, report: SweepReport, run_id: str | None = None) -> int:
        """One batch in its own transaction; returns how many cases it handled (0: nothing left)."""
        handled: int = self._retrying(lambda session: self.sweep_batch(session, as_of, batch_size, report, run_id))
        return handled

    def sweep_batch(
        self, session: Session, as_of: date, batch_size: int, report: SweepReport, run_id: str | None
    ) -> int:
        query = (
            select(CaseRow.id)
            .where(and_(CaseRow.next_due_on.is_not(None), CaseRow.next_due_on < as_of))
            .order_by(CaseRow.next_due_on, CaseRow.id)
            .limit(batch_size)
        )
        if self.is_postgres:
            query = query.with_for_update(skip_locked=True)
        ids = list(session.scalars(query))
        if not ids:
            return 0
        cw = Casework(self.policy, _SessionDirectory(session))
        local = SweepReport(as_of)
        writes = _Writes()
        now = self.clock()
        for loaded in self._load_many(session, ids, complete=False):
            entries = cw.catch_up(loaded.case, as_of)
            # (no entries can only mean a stale next_due_on: writing the case corrects it)
            writes.add(session, loaded, entries, now, run_id)
            if not entries:
                continue
            local.cases += 1
            for entry in entries:
                local.passed += 1
                kind = entry.payload.get("deadline", "")
                if entry.source is Source.TIMER and entry.event not in ("deadline_missed", "escalate"):
                    local.timers[entry.event] += 1
                if entry.consequences.get("missed"):
                    local.missed[kind] += 1
                for _no, reason, _to in entry.consequences.get("raised", []):
                    local.escalations[reason] += 1
            local.notices.extend(notices(loaded.case, entries))
        writes.flush(session)
        # Merged only once the batch's writes have all landed (this runs inside its transaction, last).
        report.passed += local.passed
        report.cases += local.cases
        report.missed.update(local.missed)
        report.timers.update(local.timers)
        report.escalations.update(local.escalations)
        report.notices.extend(local.notices)
        report.batches += 1
        return len(ids)

    # -- notifications -------------------------------------------------------------------------------------------

    def notify_escalation(self, esc_id: int, source: str, role: str | None = None) -> list[str]:
        """Record a notification for each person the escalation is raised to (``role``: the level it was raised
        at, default its current one); idempotent. Returns who was notified."""

        def op(session: Session) -> list[str]:
            esc = session.get(EscalationRow, esc_id)
            if esc is None:
                raise Refused(f"unknown escalation {escalation_id(esc_id)}")
            case = session.get(CaseRow, esc.case_id)
            assert case is not None
            try:
                to = Role(role or esc.raised_to)
            except ValueError:
                raise Refused(f"unknown role {role!r}") from None
            recipients = self._recipients(session, to, case.people)
            already = set(
                session.scalars(select(NotificationRow.recipient).where(NotificationRow.escalation_id == esc_id))
            )
            now = self.clock()
            for user in recipients:
                if user not in already:
                    session.add(
                        NotificationRow(
                            kind="escalation",
                            escalation_id=esc_id,
                            case_ref=case.ref,
                            recipient=user,
                            role=to.value,
                            reason=esc.reason,
                            subject=f"{escalation_id(esc_id)} on {case.ref}: {esc.reason}, raised to {to.value}",
                            idempotency_key=f"escalation:{esc_id}:{user}",
                            created_at=now,
                            source=source,
                        )
                    )
            return recipients

        result: list[str] = self._retrying(op)
        return result

    def escalation_row_id(self, ref: str, no: int) -> int:
        """The public id of a case's escalation number ``no``."""
        with Session(self.engine) as session:
            case_id = self._case_id(session, ref)
            found = session.scalar(
                select(EscalationRow.id).where(EscalationRow.case_id == case_id, EscalationRow.no == no)
            )
            if found is None:
                raise Refused(f"case {ref!r} has no escalation number {no}")
            return found

    @staticmethod
    def _recipients(session: Session, role: Role, case_people: Mapping[str, str]) -> list[str]:
        """The named person where the case knows them (the allocated worker's manager, and up); else every holder
        of the role."""
        people = {p.user: p for p in session.scalars(select(PersonRow))}
        for start in (case_people.get("social_worker"), case_people.get("iro")):
            seen: set[str] = set()
            user = start
            while user is not None and user in people and user not in seen:
                seen.add(user)
                if people[user].role == role.value:
                    return [user]
                user = people[user].manager
        return sorted(u for u, p in people.items() if p.role == role.value)

    def notifications(self, recipient: str | None = None) -> list[dict[str, Any]]:
        with Session(self.engine) as session:
            query = select(NotificationRow).where(NotificationRow.kind == "escalation").order_by(NotificationRow.id)
            if recipient is not None:
                query = query.where(NotificationRow.recipient == recipient)
            return [
                {
                    "escalation": escalation_id(n.escalation_id or 0),
                    "case": n.case_ref,
                    "recipient": n.recipient,
                    "role": n.role,
                    "reason": n.reason,
                    "source": n.source,
                }
                for n in session.scalars(query)
            ]

    # -- reads -----------------------------------------------------------------------------------------------------

    def show(self, ref: str, actor: str) -> dict[str, Any]:
        def op(session: Session) -> dict[str, Any]:
            loaded = self._load_one(session, ref)
            self._record_access(session, ref, "show", actor)
            return self._show(session, loaded.case)

        result: dict[str, Any] = self._retrying(op)
        return result

    def history(self, ref: str, actor: str) -> list[dict[str, Any]]:
        def op(session: Session) -> list[dict[str, Any]]:
            case_id = self._case_id(session, ref)
            self._record_access(session, ref, "history", actor)
            return [self._event_dict(session, r) for r in self._events(session, case_id)]

        result: list[dict[str, Any]] = self._retrying(op)
        return result

    def log_entries(self, ref: str) -> list[LogEntry]:
        """The case's log as domain entries (for replay)."""
        with Session(self.engine) as session:
            case_id = self._case_id(session, ref)
            return [_entry_from_row(r) for r in self._events(session, case_id)]

    def load(self, ref: str) -> CaseFile:
        with Session(self.engine) as session:
            return self._load_one(session, ref).case

    def load_many(self, refs: Iterable[str], *, complete: bool = True) -> dict[str, CaseFile]:
        """Case aggregates by reference, read-only (unknown references are left out); ``complete=False``: with
        only the deadlines still open (and those tracking a movable date), not the closed history."""
        with Session(self.engine) as session:
            ids = list(session.scalars(select(CaseRow.id).where(CaseRow.ref.in_(list(refs)))))
            return {ld.case.ref: ld.case for ld in self._load_many(session, ids, complete=complete)}

    def replay(self, ref: str) -> CaseFile:
        """Rebuild the case from its log alone."""
        with Session(self.engine) as session:
            cw = Casework(self.policy, _SessionDirectory(session))
            case_id = self._case_id(session, ref)
            return cw.replay([_entry_from_row(r) for r in self._events(session, case_id)])

    def replay_matches(self, ref: str) -> bool:
        """Does replaying the case's log reproduce its stored state, deadlines and escalations?"""
        return _fingerprint(self.load(ref)) == _fingerprint(self.replay(ref))

    def worklist(self, as_of: date, within: int = 7, role: str | None = None) -> list[dict[str, Any]]:
        """Open deadlines overdue or due within ``within`` days (and reviews from the start of month 8), soonest
        first; open escalations' deadlines are owned by the role they are raised to."""
        if role is not None:
            try:
                Role(role)
            except ValueError:
                raise Refused(f"unknown role {role!r}") from None
        horizon = as_of + timedelta(days=within)
        with Session(self.engine) as session:
            query = (
                select(DeadlineRow, CaseRow.ref, CaseRow.state, CaseRow.kind, CaseRow.dates)
                .join(CaseRow, CaseRow.id == DeadlineRow.case_id)
                .where(DeadlineRow.status == DeadlineStatus.OPEN.value)
                .where((DeadlineRow.due_on <= horizon) | (DeadlineRow.shown_from <= as_of))
                .order_by(DeadlineRow.due_on, CaseRow.ref, DeadlineRow.id)
            )
            if role is not None:
                query = query.where(DeadlineRow.owner == role)
            items = []
            esc_ids = self._escalation_ids(session)
            for d, ref, state, kind, dates in session.execute(query):
                item = {
                    "case": ref,
                    "kind": kind,
                    "state": state,
                    "deadline": d.kind,
                    "due_on": d.due_on.isoformat(),
                    "owner": d.owner,
                    "status": "overdue" if d.due_on < as_of else "due",
                    "flags": self._flags(kind, dates, d.kind),
                }
                if d.escalation_no is not None:
                    item["escalation"] = escalation_id(esc_ids[(d.case_id, d.escalation_no)])
                items.append(item)
            return items

    def escalations(self, open_only: bool = False) -> list[dict[str, Any]]:
        with Session(self.engine) as session:
            query = select(EscalationRow, CaseRow.ref).join(CaseRow, CaseRow.id == EscalationRow.case_id)
            if open_only:
                query = query.where(EscalationRow.state != "resolved")
            return [
                {
                    "id": escalation_id(e.id),
                    "case": ref,
                    "state": e.state,
                    "raised_to": e.raised_to,
                    "reason": e.reason,
                    "level": e.level,
                    "raised_on": e.raised_on.isoformat(),
                }
                for e, ref in session.execute(query.order_by(EscalationRow.id))
            ]

    def counts_by_state(self) -> dict[str, dict[str, int]]:
        from sqlalchemy import func

        with Session(self.engine) as session:
            out: dict[str, dict[str, int]] = {}
            for kind, state, n in session.execute(
                select(CaseRow.kind, CaseRow.state, func.count()).group_by(CaseRow.kind, CaseRow.state)
            ):
                out.setdefault(kind, {})[state] = n
            return out

    def _flags(self, kind: str, dates: Mapping[str, Any], deadline: str) -> list[str]:
        """Decision support: a CP review within N working days of a court hearing (§3)."""
        if kind != CaseKind.CP_ISO.value or deadline != "cp_review" or "next_review" not in dates:
            return []
        review = parse_date(dates["next_review"])
        cal = self.policy.calendar
        for hearing in ("cmh", "irh", "final_hearing"):
            if hearing in dates:
                when = parse_date(dates[hearing])
                lo, hi = sorted((review, when))
                if cal.working_days_between(lo, hi) <= self.policy.hearing_proximity_wd:
                    return ["consider moving the review to fit the court timetable"]
        return []

    # -- loading and saving aggregates -----------------------------------------------------------------------------

    def _case_id(self, session: Session, ref: str) -> int:
        case_id = session.scalar(select(CaseRow.id).where(CaseRow.ref == ref))
        if case_id is None:
            raise Refused(f"unknown case {ref!r}")
        return case_id

    def _load_one(self, session: Session, ref: str) -> _Loaded:
        case_id = self._case_id(session, ref)
        return self._load_many(session, [case_id])[0]

    def _load_many(self, session: Session, ids: Sequence[int], *, complete: bool = True) -> list[_Loaded]:
        """Case aggregates by id: three queries, read as plain rows (the hot path of the sweep).

        ``complete=False`` reads the working set the rules consult — open deadlines, and the deadlines that track a
        movable date (``_track_dates`` compares with the latest of those) — not a case's whole closed history.
        """
        connection = session.connection()
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
                    state,
                    level,
                    deadline_kind,
                    detail,
                    resolution,
                    closed,
                    id_,
                )
            )
        loaded = []
        for (id_, ref, kind, state, child_id, procedure_version, dob, dates, people, details, links, last_event_on,
             revision, last_seq) in connection.execute(_SELECT_CASES, {"ids": ids}):  # fmt: skip
            case = CaseFile(
                ref=ref,
                kind=_KINDS[kind],
                state=state,
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
                _Loaded(
                    case,
                    {d.id: d.status for d in case.deadlines if d.id is not None},
                    {e.no: _escalation_snapshot(e) for e in case.escalations},
                    last_seq,
                )
            )
        return loaded

    def _save(self, session: Session, loaded: _Loaded, entries: Iterable[LogEntry], source: str | None) -> None:
        writes = _Writes()
        writes.add(session, loaded, list(entries), self.clock(), source)
        writes.flush(session)

    def _record_access(self, session: Session, ref: str, what: str, actor: str) -> None:
        session.add(AccessRecord(case_ref=ref, what=what, actor=actor, recorded_at=self.clock()))

    def _escalation_ids(self, session: Session, case_id: int | None = None) -> dict[tuple[int, int], int]:
        query = select(EscalationRow.case_id, EscalationRow.no, EscalationRow.id)
        if case_id is not None:
            query = query.where(EscalationRow.case_id == case_id)
        return {(c, n): i for c, n, i in session.execute(query)}

    def _show(self, session: Session, case: CaseFile) -> dict[str, Any]:
        session.flush()
        assert case.id is not None
        ids = self._escalation_ids(session, case.id)
        return {
            "case": case.ref,
            "kind": case.kind.value,
            "state": case.state,
            "version": case.procedure_version,
            "child": case.child_id,
            "dates": _jsonable(case.dates),
            "links": list(case.links),
            "people": dict(case.people),
            "deadlines": [
                {"kind": d.kind, "due_on": d.due_on.isoformat(), "status": d.status.value}
                | ({"escalation": escalation_id(ids[(case.id, d.escalation_no)])} if d.escalation_no else {})
                for d in case.deadlines
            ],
            "escalations": [
                {
                    "id": escalation_id(ids[(case.id, e.no)]),
                    "state": e.state,
                    "raised_to": e.raised_to.value,
                    "reason": e.reason,
                }
                for e in case.escalations
            ],
        }

    @staticmethod
    def _events(session: Session, case_id: int) -> Sequence[EventRow]:
        return session.scalars(select(EventRow).where(EventRow.case_id == case_id).order_by(EventRow.seq)).all()

    def _event_dict(self, session: Session, r: EventRow) -> dict[str, Any]:
        item = {
            "seq": r.seq,
            "event": r.event,
            "from": r.from_state,
            "to": r.to_state,
            "actor": r.actor,
            "role": r.role,
            "source": r.source,
            "on": r.happened_on.isoformat(),
            "recorded_at": r.recorded_at.isoformat(),
            "payload": r.payload,
            "consequences": r.consequences,
        }
        if r.escalation_no is not None:
            item["escalation_no"] = r.escalation_no
        return item


_ROLES = {r.value: r for r in Role}
_STATUSES = {s.value: s for s in DeadlineStatus}
_KINDS = {k.value: k for k in CaseKind}
_CASES = cast(Table, CaseRow.__table__)
_DEADLINES = cast(Table, DeadlineRow.__table__)
_ESCALATIONS = cast(Table, EscalationRow.__table__)
_EVENTS = cast(Table, EventRow.__table__)
# Statements built once (building them is a measurable part of the sweep's hot path).
_IDS: BindParameter[list[int]] = bindparam("ids", expanding=True)
_SELECT_DEADLINES = (
    select(
        _DEADLINES.c.id,
        _DEADLINES.c.case_id,
        _DEADLINES.c.kind,
        _DEADLINES.c.due_on,
        _DEADLINES.c.owner,
        _DEADLINES.c.escalate_to,
        _DEADLINES.c.armed_in,
        _DEADLINES.c.armed_on,
        _DEADLINES.c.status,
        _DEADLINES.c.closed_on,
        _DEADLINES.c.shown_from,
        _DEADLINES.c.escalation_no,
    )
    .where(_DEADLINES.c.case_id.in_(_IDS))
    .order_by(_DEADLINES.c.id)
)
_SELECT_WORKING_DEADLINES = _SELECT_DEADLINES.where(
    or_(_DEADLINES.c.status == DeadlineStatus.OPEN.value, _DEADLINES.c.kind.in_(TRACKING_KINDS))
)
_ESCALATION_COLUMNS = ("id", "case_id", "no", "reason", "raised_to", "raised_on", "state", "level", "deadline_kind",
                       "detail", "resolution", "closed_on")  # fmt: skip
_SELECT_ESCALATIONS = (
    select(*(_ESCALATIONS.c[name] for name in _ESCALATION_COLUMNS))
    .where(_ESCALATIONS.c.case_id.in_(_IDS))
    .order_by(_ESCALATIONS.c.no)
)
_CASE_COLUMNS = ("id", "ref", "kind", "state", "child_id", "procedure_version", "dob", "dates", "people", "details",
                 "links", "last_event_on", "revision", "last_seq")  # fmt: skip
_SELECT_CASES = select(*(_CASES.c[n] for n in _CASE_COLUMNS)).where(_CASES.c.id.in_(_IDS)).order_by(_CASES.c.id)
_PEOPLE = cast(Table, PersonRow.__table__)
_SELECT_PERSON = select(_PEOPLE.c.user, _PEOPLE.c.role, _PEOPLE.c.manager).where(_PEOPLE.c.user == bindparam("user"))
_SELECT_PEOPLE = select(_PEOPLE.c.user, _PEOPLE.c.role, _PEOPLE.c.manager).where(
    _PEOPLE.c.user.in_(bindparam("users", expanding=True))
)
_UPDATE_CASE = (
    update(_CASES)
    .where(_CASES.c.id == bindparam("b_id"), _CASES.c.revision == bindparam("b_revision"))
    .values(
        state=bindparam("state"),
        dates=bindparam("dates"),
        people=bindparam("people"),
        details=bindparam("details"),
        links=bindparam("links"),
        last_event_on=bindparam("last_event_on"),
        next_due_on=bindparam("next_due_on"),
        last_seq=bindparam("last_seq"),
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

    Each value goes through its column type's own bind processor, so the rows are exactly those Core would write;
    what is skipped is Core's per-row parameter assembly, half the cost of a sweep's writes.
    """

    def __init__(self, statement: UpdateBase) -> None:
        self._statement = statement
        # per dialect *instance*: the bind processors carry the engine's own settings (its JSON serializer)
        self._compiled: weakref.WeakKeyDictionary[Dialect, dict[tuple[str, ...], _Prepared]] = (
            weakref.WeakKeyDictionary()
        )

    def _prepare(self, dialect: Dialect, keys: tuple[str, ...]) -> _Prepared:
        compiled = self._statement.compile(dialect=dialect, column_keys=list(keys))
        processors = compiled._bind_processors  # the types' own processors (SQLAlchemy's, by bind name)
        names = list(compiled.positiontup or ()) if compiled.positional else list(compiled.binds)
        # a bind not among the row's keys carries its own value (a literal in a WHERE clause)
        params = [(n, processors.get(n), compiled.binds[n].effective_value) for n in names]
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


class _Writes:
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
        self.written: list[CaseFile] = []

    def add(
        self, session: Session, loaded: _Loaded, entries: list[LogEntry], now: datetime, source: str | None
    ) -> None:
        case = loaded.case
        self.written.append(case)
        open_dues = [d.due_on for d in case.deadlines if d.is_open]
        values = {
            "state": case.state,
            "dates": {k: v.isoformat() for k, v in case.dates.items()},
            "people": dict(case.people),
            "details": _jsonable(case.details),
            "links": list(case.links),
            "last_event_on": case.last_event_on,
            "next_due_on": min(open_dues) if open_dues else None,
        }
        if loaded.new:
            # a new case needs its id before its children: inserted at once
            try:
                case.id = (
                    session.connection()
                    .execute(
                        insert(_CASES).returning(_CASES.c.id),
                        [
                            {
                                **values,
                                "ref": case.ref,
                                "kind": case.kind._value_,
                                "procedure_version": case.procedure_version,
                                "child_id": case.child_id,
                                "dob": case.dob,
                                "last_seq": len(entries),
                                "revision": 1,
                                "opened_at": now,
                            }
                        ],
                    )
                    .scalar_one()
                )
            except IntegrityError:
                raise Refused(f"case reference {case.ref!r} is already registered") from None
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
                        "armed_in": d.armed_in,
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
                "state": e.state,
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
            elif loaded.escalation_state[e.no] != _escalation_snapshot(e):
                self.changed_escalations.append({**values_e, "b_case_id": case_id, "b_no": e.no})
        first_seq = 1 if loaded.new else loaded.last_seq + 1
        for i, entry in enumerate(entries):
            self.events.append(
                {
                    "case_id": case_id,
                    "seq": first_seq + i,
                    "escalation_no": entry.escalation_no,
                    "event": entry.event,
                    "from_state": entry.from_state,
                    "to_state": entry.to_state,
                    "actor": entry.actor,
                    "role": entry.role,
                    "source": entry.source._value_ if source is None else f"{entry.source._value_}:{source}",
                    "happened_on": entry.happened_on,
                    "recorded_at": now,
                    "payload": _jsonable(entry.payload),
                    "consequences": _jsonable(entry.consequences),
                }
            )

    def flush(self, session: Session) -> None:
        session.info.setdefault(_WRITTEN, []).extend(self.written)
        connection = session.connection()
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
        self.__init__()  # type: ignore[misc]


_BULK_UPDATE_CASE = _Bulk(_UPDATE_CASE)
_BULK_CLOSE_DEADLINE = _Bulk(_CLOSE_DEADLINE)
_BULK_INSERT_DEADLINE = _Bulk(insert(_DEADLINES))
_BULK_INSERT_ESCALATION = _Bulk(insert(_ESCALATIONS))
_BULK_UPDATE_ESCALATION = _Bulk(_UPDATE_ESCALATION)
_BULK_INSERT_EVENT = _Bulk(insert(_EVENTS))


def notices(case: CaseFile, entries: Iterable[LogEntry]) -> list[dict[str, Any]]:
    """What operators are told of (as Prefect events): missed deadlines, escalations raised to someone (new, or a
    level up), and case transitions. Case references, kinds, states, roles and dates only."""
    out: list[dict[str, Any]] = []
    for entry in entries:
        if entry.consequences.get("missed"):
            out.append(
                {
                    "type": "deadline.missed",
                    "case": case.ref,
                    "deadline": entry.payload.get("deadline", ""),
                    "due_on": _jsonable(entry.payload.get("due_on")),
                }
            )
        for no, reason, to in entry.consequences.get("raised", []):
            out.append(
                {
                    "type": "escalation.raised",
                    "case": case.ref,
                    "escalation_no": no,
                    "reason": reason,
                    "raised_to": to,
                    "level": 1,
                    "on": entry.happened_on.isoformat(),
                }
            )
        if entry.event == "escalate" and entry.escalation_no is not None:
            esc = case.escalation(entry.escalation_no)
            out.append(
                {
                    "type": "escalation.raised",
                    "case": case.ref,
                    "escalation_no": esc.no,
                    "reason": esc.reason,
                    "raised_to": esc.raised_to.value,
                    "level": esc.level,
                    "on": entry.happened_on.isoformat(),
                }
            )
        if entry.from_state != entry.to_state and entry.escalation_no is None:
            out.append(
                {
                    "type": "case.transitioned",
                    "case": case.ref,
                    "event": entry.event,
                    "from": entry.from_state,
                    "to": entry.to_state,
                }
            )
    return out


def _fingerprint(case: CaseFile) -> tuple[Any, ...]:
    return (
        case.state,
        sorted((d.kind, d.due_on, d.status.value, d.escalation_no) for d in case.deadlines),
        [(e.no, e.state, e.raised_to.value, e.level) for e in case.escalations],
        {k: v for k, v in case.dates.items()},
    )


def _entry_from_row(r: EventRow) -> LogEntry:
    source = Source(r.source.split(":", 1)[0])
    return LogEntry(
        r.event,
        r.from_state,
        r.to_state,
        r.actor,
        r.role,
        source,
        r.happened_on,
        dict(r.payload),
        r.escalation_no,
        dict(r.consequences),
    )
