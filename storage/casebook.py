"""The casebook: every operation on cases, each one atomic.

An operation opens a unit of work, loads the case aggregates it needs, asks ``machines`` what happens, and commits
the case row, its deadlines, its escalations and its log entries together — or nothing at all. The clock is
injected: "today" arrives as an argument and ``now`` (for ``recorded_at``) from the caller's clock.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from machines.calendar import parse_date
from machines.casework import Casework, CpIsoRegistration, SORegistration
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

__all__ = ["Casebook", "Conflict", "SweepReport", "escalation_id", "parse_escalation_id"]

Clock = Callable[[], datetime]
ESCALATION_PREFIX = "ESC-"


class Conflict(Exception):
    """Another transaction changed the case first; the operation is retried from a fresh read."""


def escalation_id(row_id: int) -> str:
    return f"{ESCALATION_PREFIX}{row_id}"


def parse_escalation_id(text: str) -> int | None:
    """``ESC-12`` → 12; anything else → ``None`` (it is a case reference)."""
    if text.upper().startswith(ESCALATION_PREFIX) and text[len(ESCALATION_PREFIX) :].isdigit():
        return int(text[len(ESCALATION_PREFIX) :])
    return None


def _jsonable(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


class _SessionDirectory:
    """People looked up through the unit of work's session, each at most once."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._cache: dict[str, Person | None] = {}

    def get(self, user: str) -> Person | None:
        if user not in self._cache:
            row = self._session.get(PersonRow, user)
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

    def __init__(self, engine: Engine | Connection, policy: Policy = DEFAULT_POLICY, *, clock: Clock) -> None:
        self.engine = engine
        self.policy = policy
        self.clock = clock
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
                    return operation(session)
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
        for loaded in self._load_many(session, ids):
            entries = cw.catch_up(loaded.case, as_of)
            if not entries:
                continue
            self._save(session, loaded, entries, source=run_id)
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
        # Merged only once the batch's transaction is certain to commit (this runs inside it, last).
        session.flush()
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
                            escalation_id=esc_id,
                            case_ref=case.ref,
                            recipient=user,
                            role=to.value,
                            reason=esc.reason,
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
            query = select(NotificationRow).order_by(NotificationRow.id)
            if recipient is not None:
                query = query.where(NotificationRow.recipient == recipient)
            return [
                {
                    "escalation": escalation_id(n.escalation_id),
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

    def replay(self, ref: str) -> CaseFile:
        """Rebuild the case from its log alone."""
        with Session(self.engine) as session:
            cw = Casework(self.policy, _SessionDirectory(session))
            case_id = self._case_id(session, ref)
            return cw.replay([_entry_from_row(r) for r in self._events(session, case_id)])

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

    def _load_many(self, session: Session, ids: Sequence[int]) -> list[_Loaded]:
        rows = session.scalars(select(CaseRow).where(CaseRow.id.in_(ids)).order_by(CaseRow.id)).all()
        deadlines: dict[int, list[DeadlineRow]] = {}
        for d in session.scalars(select(DeadlineRow).where(DeadlineRow.case_id.in_(ids)).order_by(DeadlineRow.id)):
            deadlines.setdefault(d.case_id, []).append(d)
        escalations: dict[int, list[EscalationRow]] = {}
        for e in session.scalars(
            select(EscalationRow).where(EscalationRow.case_id.in_(ids)).order_by(EscalationRow.no)
        ):
            escalations.setdefault(e.case_id, []).append(e)
        loaded = []
        for row in rows:
            case = CaseFile(
                ref=row.ref,
                kind=CaseKind(row.kind),
                state=row.state,
                child_id=row.child_id,
                procedure_version=row.procedure_version,
                dob=row.dob,
                dates={k: parse_date(v) for k, v in row.dates.items()},
                people=dict(row.people),
                details=dict(row.details),
                links=list(row.links),
                last_event_on=row.last_event_on,
                id=row.id,
                revision=row.revision,
            )
            case.deadlines = [
                Deadline(
                    d.kind,
                    d.due_on,
                    Role(d.owner),
                    Role(d.escalate_to),
                    d.armed_in,
                    d.armed_on,
                    DeadlineStatus(d.status),
                    d.closed_on,
                    d.shown_from,
                    d.escalation_no,
                    d.id,
                )
                for d in deadlines.get(row.id, [])
            ]
            case.escalations = [
                Escalation(
                    e.no,
                    e.reason,
                    Role(e.raised_to),
                    e.raised_on,
                    e.state,
                    e.level,
                    e.deadline_kind,
                    e.detail,
                    e.resolution,
                    e.closed_on,
                    e.id,
                )
                for e in escalations.get(row.id, [])
            ]
            loaded.append(
                _Loaded(
                    case,
                    {d.id: d.status for d in case.deadlines if d.id is not None},
                    {e.no: _escalation_snapshot(e) for e in case.escalations},
                    row.last_seq,
                )
            )
        return loaded

    def _save(self, session: Session, loaded: _Loaded, entries: Iterable[LogEntry], source: str | None) -> None:
        case = loaded.case
        now = self.clock()
        entries = list(entries)
        open_dues = [d.due_on for d in case.deadlines if d.is_open]
        next_due = min(open_dues) if open_dues else None
        values = {
            "state": case.state,
            "dates": _jsonable(case.dates),
            "people": dict(case.people),
            "details": _jsonable(case.details),
            "links": list(case.links),
            "last_event_on": case.last_event_on,
            "next_due_on": next_due,
        }
        if loaded.new:
            try:
                case.id = session.execute(
                    insert(CaseRow).returning(CaseRow.id),
                    [
                        {
                            **values,
                            "ref": case.ref,
                            "kind": case.kind.value,
                            "procedure_version": case.procedure_version,
                            "child_id": case.child_id,
                            "dob": case.dob,
                            "last_seq": len(entries),
                            "revision": 1,
                            "opened_at": now,
                        }
                    ],
                ).scalar_one()
            except IntegrityError:
                raise Refused(f"case reference {case.ref!r} is already registered") from None
            first_seq = 1
        else:
            assert case.id is not None
            first_seq = loaded.last_seq + 1
            result = session.execute(
                update(CaseRow)
                .where(CaseRow.id == case.id, CaseRow.revision == case.revision)
                .values(**values, last_seq=CaseRow.last_seq + len(entries), revision=CaseRow.revision + 1)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                raise Conflict(case.ref)
        assert case.id is not None
        # deadlines: new ones inserted, closed ones updated only if still open (the claim)
        new_deadlines = [d for d in case.deadlines if d.id is None]
        if new_deadlines:
            session.execute(
                insert(DeadlineRow),
                [
                    {
                        "case_id": case.id,
                        "kind": d.kind,
                        "due_on": d.due_on,
                        "status": d.status.value,
                        "owner": d.owner.value,
                        "escalate_to": d.escalate_to.value,
                        "armed_in": d.armed_in,
                        "armed_on": d.armed_on,
                        "closed_on": d.closed_on,
                        "shown_from": d.shown_from,
                        "escalation_no": d.escalation_no,
                    }
                    for d in new_deadlines
                ],
            )
        closed = [d for d in case.deadlines if d.id is not None and loaded.deadline_status.get(d.id) != d.status]
        for d in closed:
            result = session.execute(
                update(DeadlineRow)
                .where(DeadlineRow.id == d.id, DeadlineRow.status == DeadlineStatus.OPEN.value)
                .values(status=d.status.value, closed_on=d.closed_on)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                raise Conflict(case.ref)
        for e in case.escalations:
            values_e = {
                "state": e.state,
                "raised_to": e.raised_to.value,
                "level": e.level,
                "resolution": e.resolution,
                "closed_on": e.closed_on,
            }
            if e.no not in loaded.escalation_state:
                session.execute(
                    insert(EscalationRow),
                    [
                        {
                            **values_e,
                            "case_id": case.id,
                            "no": e.no,
                            "reason": e.reason,
                            "raised_on": e.raised_on,
                            "deadline_kind": e.deadline_kind,
                            "detail": e.detail,
                        }
                    ],
                )
            elif loaded.escalation_state[e.no] != _escalation_snapshot(e):
                session.execute(
                    update(EscalationRow)
                    .where(EscalationRow.case_id == case.id, EscalationRow.no == e.no)
                    .values(**values_e)
                )
        if entries:
            session.execute(
                insert(EventRow),
                [
                    {
                        "case_id": case.id,
                        "seq": first_seq + i,
                        "escalation_no": e.escalation_no,
                        "event": e.event,
                        "from_state": e.from_state,
                        "to_state": e.to_state,
                        "actor": e.actor,
                        "role": e.role,
                        "source": e.source.value if source is None else f"{e.source.value}:{source}",
                        "happened_on": e.happened_on,
                        "recorded_at": now,
                        "payload": _jsonable(e.payload),
                        "consequences": _jsonable(e.consequences),
                    }
                    for i, e in enumerate(entries)
                ],
            )

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
