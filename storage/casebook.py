"""The casebook: orderwatch's database as the entry points see it — commands in, typed results out.

``handle`` runs one command in its own unit of work; ``handle_all`` runs many in one (a day's work arriving in bulk);
``sweep`` drives the sweep's batches. Everything else here reads. The clock is injected: "today" arrives in the
commands, and ``now`` (for ``recorded_at``) from the caller's clock.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, select

from machines.casework import Casework
from machines.errors import Refused
from machines.model import CaseFile, LogEntry
from machines.policy import DEFAULT_POLICY, Policy
from machines.repolicy import POLICY_MIGRATED
from storage import access, accounts, idempotency, queries
from storage.access import Reader
from storage.commands import ActOnEscalation, Command, Fire, Register, SweepBatch, SweepReport, WholeBatchRefused
from storage.export import CaseExport, export_case
from storage.handlers import handle
from storage.models import cases, escalations, policies
from storage.notifications import NotificationView, notifications
from storage.policies import PolicyBook
from storage.policy_migration import PolicyPlan, StoredPolicy, apply_plan, plan, stored_policies
from storage.retention import DueCase, due
from storage.rows import load_cases
from storage.uow import Directory, UnitOfWork, transaction
from storage.validate import check_command, check_reference, check_request_id, check_user

__all__ = ["WITHHELD", "Casebook"]

Clock = Callable[[], datetime]
WITHHELD = "(withheld: another person's notice)"
R = TypeVar("R")


class Casebook:
    """All reads and changes of cases, people and escalations, on one database."""

    def __init__(
        self,
        engine: Engine,
        policy: Policy = DEFAULT_POLICY,
        *,
        clock: Clock,
        on_commit: Callable[[list[CaseFile]], None] | None = None,
    ) -> None:
        """``on_commit``, if given, is handed the case aggregates each unit of work wrote, once it has committed
        (the simulator reacts to them without reading them back)."""
        self.engine = engine
        self.policy = policy  # the policy in force: new cases run under it; each existing case under its own
        self.policies = PolicyBook(policy)
        self.clock = clock
        self.on_commit = on_commit

    # -- commands --------------------------------------------------------------------------------------------------

    def handle(self, command: Command) -> Any:
        """Run one command in its own transaction; ``Refused`` leaves the database as it was. A command with a
        ``request_id`` already recorded records nothing and returns the first answer (``storage.idempotency``)."""
        check_command(command)
        written: list[CaseFile] = []

        def work(connection: Connection) -> Any:
            key = command.request_id
            if key is not None:
                idempotency.lock(connection, key)
                stored = idempotency.recall(connection, key, command)
                if stored is not idempotency.MISSING:
                    written.clear()
                    return stored
            uow = self._unit(connection, command.source)
            result = handle(uow, command)
            written[:] = uow.written()
            uow.flush()
            if isinstance(command, Register):
                # registration answers with the case as stored (the contract's `show` shape)
                result = queries.case_view(connection, queries.load(connection, result.case))
            if key is not None:
                idempotency.remember(connection, key, command, result, uow.now)
            return result

        result = transaction(self.engine, work)
        self._committed(written)
        return result

    def handle_all(self, commands: Sequence[Command], source: str | None = None) -> list[Any]:
        """Many commands in one transaction, in order: each checked and applied as ``handle`` would; one that is
        refused adds nothing of its own and comes back as its ``Refused``, the rest land together."""
        checked: list[Refused | None] = []
        for command in commands:
            try:
                check_command(command)
                checked.append(None)
            except Refused as refused:
                checked.append(refused)
        keys = [c.request_id for c in commands if c.request_id is not None]
        if len(keys) != len(set(keys)):
            raise Refused("a batch names one request id twice")
        written: list[CaseFile] = []

        def work(connection: Connection) -> list[Any]:
            for key in sorted(keys):  # in one order: two batches sharing ids queue, never deadlock
                idempotency.lock(connection, key)
            uow = self._unit(connection, source)
            valid = [c for c, bad in zip(commands, checked, strict=True) if bad is None]
            # every case the batch names, taken at once (an escalation by its case and number too)
            named = [c.ref for c in valid if isinstance(c, (Fire, ActOnEscalation)) and c.ref is not None]
            uow.take_all(named, [c.registration.ref for c in valid if isinstance(c, Register)])
            uow.people.preload(_named(valid))
            results: list[Any] = []
            remember: list[tuple[Command, Any]] = []
            for command, bad in zip(commands, checked, strict=True):
                if bad is not None:
                    results.append(bad)
                    continue
                if command.request_id is not None:
                    stored = idempotency.recall(connection, command.request_id, command)
                    if stored is not idempotency.MISSING:
                        results.append(stored)
                        continue
                try:
                    results.append(handle(uow, command))
                except WholeBatchRefused:
                    raise
                except Refused as refused:
                    results.append(refused)
                    continue
                if command.request_id is not None:
                    remember.append((command, results[-1]))
            written[:] = uow.written()
            uow.flush()
            for command, result in remember:
                if command.request_id is not None:  # only those were put aside
                    idempotency.remember(connection, command.request_id, command, result, uow.now)
            return results

        try:
            results = transaction(self.engine, work)
        except WholeBatchRefused as refused:
            raise Refused(str(refused)) from None
        self._committed(written)
        return results

    def sweep(self, as_of: date, *, batch_size: int = 500, source: str | None = None,
              max_batches: int | None = None, request_id: str | None = None) -> SweepReport:  # fmt: skip
        """Let every open deadline due before ``as_of`` pass, a batch of cases per transaction; idempotent.

        Reads only cases whose earliest open deadline is due (``cases.next_due_on``), so its cost grows with the
        work due, not with the caseload. On PostgreSQL each batch claims its cases ``FOR UPDATE SKIP LOCKED``,
        so several sweeps can share the work and none fires a deadline twice.

        With a ``request_id``, batch N is sent as ``<request_id>/batch-N``: the same sweep run again (after a crash
        half-way, say) answers the batches that committed from their records, does the rest, and reports the same
        totals as a sweep that was never interrupted.
        """
        if request_id is not None:
            check_request_id(request_id)
        total = SweepReport(as_of)
        while max_batches is None or total.batches < max_batches:
            key = None if request_id is None else f"{request_id}/batch-{total.batches + 1}"
            part: SweepReport = self.handle(
                SweepBatch(as_of=as_of, batch_size=batch_size, source=source, request_id=key)
            )
            if not part.handled:
                break
            total.add(part)
        return total

    def policy_plan(self, on: date) -> PolicyPlan:
        """``orderwatch policy migrate --dry-run``: what moving live cases to the policy in force would move."""
        return plan(self.engine, self.policies, on, self.clock)

    def migrate_policy(self, on: date, plan_id: str, actor: str) -> PolicyPlan:
        """Move live cases to the policy in force, as the dry run ``plan_id`` said (audited in each case's log)."""
        check_user(actor, "user name")
        return apply_plan(self.engine, self.policies, on, self.clock, plan_id=plan_id, actor=actor)

    def stored_policies(self) -> list[StoredPolicy]:
        """Every policy cases have run under (``orderwatch policy list``)."""
        return stored_policies(self.engine, self.policies)

    def _unit(self, connection: Connection, source: str | None) -> UnitOfWork:
        return UnitOfWork(connection, self.policy, now=self.clock(), source=source, policies=self.policies)

    def _committed(self, written: list[CaseFile]) -> None:
        self.policies.committed()
        if written and self.on_commit is not None:
            self.on_commit(written)

    # -- reads -----------------------------------------------------------------------------------------------------

    def _read(self, query: Callable[[Connection], R]) -> R:
        return transaction(self.engine, query, write=False)

    def show(self, ref: str, reader: str | Reader, as_of: date | None = None) -> queries.CaseView:
        """The case, its deadlines, escalations and involvements (``as_of``: today, for the figures that count days
        up to it), if ``reader`` may read it (``storage.access``); the read is logged, refused or not."""
        return self._read_case(ref, reader, "show", lambda c: queries.case_view(c, queries.load(c, ref), as_of))

    def history(self, ref: str, reader: str | Reader) -> list[queries.HistoryEntry]:
        """The case's event log, oldest first, if ``reader`` may read it; the read is logged, refused or not."""
        return self._read_case(ref, reader, "history", lambda c: queries.history(c, ref))

    def may_read(self, ref: str, reader: str | Reader) -> bool:
        """Whether ``reader`` may read the case (nothing logged: for deciding what to offer, not for reading)."""
        who = access.as_reader(reader)
        return self._read(lambda c: access.may_read_case(c, access.scope_of(c, who), ref))

    def _read_case(self, ref: str, reader: str | Reader, what: str, query: Callable[[Connection], R]) -> R:
        check_reference(ref)
        who = access.as_reader(reader)
        check_user(who.user, "reader")
        refused: list[bool] = []

        def read(connection: Connection) -> R | None:
            refused.clear()
            allowed = access.may_read_case(connection, access.scope_of(connection, who), ref)
            access.log_read(connection, ref, what, who, self.clock(), allowed=allowed)
            if not allowed:
                refused.append(True)  # committed with its log row; refused after the transaction
                return None
            return query(connection)

        result = transaction(self.engine, read)
        if refused:
            raise access.refuse_read(ref)
        return result  # type: ignore[return-value]

    def _read_list(self, what: str, reader: Reader, query: Callable[[Connection, Any], R]) -> R:
        """A list read, filtered to the reader's cases and logged (``*``); a reader who may read nothing is
        refused, and that is logged too."""
        check_user(reader.user, "reader")
        refused: list[bool] = []

        def read(connection: Connection) -> R | None:
            refused.clear()
            scope = access.scope_of(connection, reader)
            access.log_read(connection, "*", what, reader, self.clock(), allowed=scope.lists())
            if not scope.lists():
                refused.append(True)
                return None
            return query(connection, access.case_filter(scope))

        result = transaction(self.engine, read)
        if refused:
            raise Refused(f"{reader.user} may not read the {what}: not an active person orderwatch knows")
        return result  # type: ignore[return-value]

    def export(self, ref: str, reader: str | Reader) -> CaseExport:
        """Everything held about the case, for a subject access request, if ``reader`` may read it; the read is
        logged, refused or not (and is in the export's own access log)."""
        return self._read_case(ref, reader, "export", lambda c: export_case(c, ref))

    def retention_due(self, on: date) -> list[DueCase]:
        """Cases due for disposal on ``on`` (``orderwatch retention --dry-run``), under the policy in force."""
        return self._read(lambda c: due(c, self.policy, on))

    def worklist(self, as_of: date, within: int = 7, role: str | None = None,
                 reader: Reader = access.SYSTEM_READER) -> list[queries.WorkItem]:  # fmt: skip
        """Open deadlines due soon, of the cases ``reader`` may read; the read is logged."""
        return self._read_list("worklist", reader, lambda c, where: queries.worklist(c, self.policy, as_of, within,
                                                                                        role, where))  # fmt: skip

    def escalations(self, open_only: bool = False,
                    reader: Reader = access.SYSTEM_READER) -> list[queries.EscalationItem]:  # fmt: skip
        """Escalations of the cases ``reader`` may read; the read is logged."""
        return self._read_list("escalations", reader, lambda c, where: queries.escalations(c, open_only, where))

    def people(self) -> list[queries.PersonView]:
        return self._read(queries.people)

    def people_named(self, users: list[str]) -> list[queries.PersonView]:
        """The people of these user names (one indexed read: the desk asks on every request)."""
        return self._read(lambda c: queries.people(c, users))

    def account(self, user: str) -> accounts.Account | None:
        """A person's desk account as sign-in sees it (None: nobody of that name)."""
        return self._read(lambda c: accounts.account(c, user))

    def link_usable(self, token: str) -> bool:
        """Whether a one-time link can still set its person's password (unused, unexpired, the person active)."""
        return self._read(lambda c: accounts.link_usable(c, accounts.hash_token(token), self.clock()))

    def person_for_identity(self, issuer: str, subject: str) -> str | None:
        """The person an OpenID Connect identity is linked to, if any."""
        return self._read(lambda c: accounts.person_for_identity(c, issuer, subject))

    def notifications(self, recipient: str | None = None,
                      reader: Reader = access.SYSTEM_READER) -> list[NotificationView]:  # fmt: skip
        """The outbox: a person reads their own notices; a Head of Service or an admin anyone's; an operator (and
        the system) anyone's with the text of other people's withheld (a registration notice names the child)."""
        if recipient is not None:
            check_user(recipient, "recipient")
        check_user(reader.user, "reader")
        refused: list[bool] = []

        def read(connection: Connection) -> list[NotificationView]:
            refused.clear()
            scope = access.scope_of(connection, reader).scope
            mine_only = scope is access.Scope.SOME
            allowed = scope is not access.Scope.NONE and (not mine_only or recipient in (None, reader.user))
            access.log_read(connection, "*", "notifications", reader, self.clock(), allowed=allowed)
            if not allowed:
                refused.append(True)
                return []
            found = notifications(connection, reader.user if mine_only else recipient)
            if scope is access.Scope.LISTS:
                found = [n if n.recipient == reader.user else dataclasses.replace(n, body=WITHHELD) for n in found]
            return found

        result = transaction(self.engine, read)
        if refused:
            raise Refused(f"{reader.user} may read only their own notifications")
        return result

    def replay_checked(self, ref: str, reader: Reader) -> bool:
        """``replay_matches`` for a reader who may at least read lists (operators check replays); logged."""
        check_reference(ref)

        def read(connection: Connection) -> bool:
            allowed = access.scope_of(connection, reader).lists()
            access.log_read(connection, ref, "replay", reader, self.clock(), allowed=allowed)
            return allowed

        if not transaction(self.engine, read):
            raise access.refuse_read(ref)
        return self.replay_matches(ref)

    def delivery_counts(self) -> dict[str, int]:
        """Notifications by delivery status, and how many wait for their recipient's e-mail address."""
        from storage.delivery import waiting

        return self._read(waiting)

    def caseload_notes(self, as_of: date) -> queries.CaseloadNotes:
        return self._read(lambda c: queries.caseload_notes(c, as_of))

    def counts_by_state(self) -> dict[str, dict[str, int]]:
        return self._read(queries.counts_by_state)

    def load(self, ref: str) -> CaseFile:
        """The whole case aggregate, read-only."""
        check_reference(ref)
        return self._read(lambda c: queries.load(c, ref))

    def load_many(self, refs: Iterable[str], *, complete: bool = True) -> dict[str, CaseFile]:
        """Case aggregates by reference, read-only (unknown references are left out)."""

        def read(connection: Connection) -> dict[str, CaseFile]:
            ids = list(connection.scalars(select(cases.c.id).where(cases.c.ref.in_(list(refs)))))
            return {ld.case.ref: ld.case for ld in load_cases(connection, ids, complete=complete)}

        return self._read(read)

    def replay(self, ref: str) -> CaseFile:
        """Rebuild the case from its log alone, under the policy it was opened with (and those it moved to)."""
        check_reference(ref)

        def read(connection: Connection) -> CaseFile:
            entries = queries.log_entries(connection, ref)
            stored = self.policies.all(connection)
            opened_under = _first_policy(entries) or _recorded_policy(connection, ref)
            policy = stored[opened_under] if opened_under is not None else self.policy
            return Casework(policy, Directory(connection)).replay(entries, stored)

        return self._read(read)

    def replay_matches(self, ref: str) -> bool:
        """Does replaying the case's log reproduce its stored state, deadlines and escalations?"""
        return _fingerprint(self.load(ref)) == _fingerprint(self.replay(ref))

    def escalation_row_id(self, ref: str, no: int) -> int:
        """The public id of a case's escalation number ``no``."""
        check_reference(ref)

        def read(connection: Connection) -> int:
            cid = queries.case_id(connection, ref)
            found: int | None = connection.scalar(
                select(escalations.c.id).where(escalations.c.case_id == cid, escalations.c.no == no)
            )
            if found is None:
                raise Refused(f"case {ref!r} has no escalation number {no}")
            return found

        return self._read(read)


def _first_policy(entries: Sequence[LogEntry]) -> str | None:
    """The policy a case was opened under, when it has moved since: the first move's "from"."""
    for entry in entries:
        if entry.event == POLICY_MIGRATED:
            return str(entry.payload["from"])
    return None


def _recorded_policy(connection: Connection, ref: str) -> str | None:
    """The content hash of the policy the case records (``None`` for a case that records none)."""
    query = select(policies.c.hash).join(cases, cases.c.policy_id == policies.c.id).where(cases.c.ref == ref)
    found: str | None = connection.execute(query).scalar()
    return found


def _named(commands: Sequence[Command]) -> list[str]:
    """Everyone a batch names: its actors and the people in its fields (looked up in one query)."""
    names = [c.actor for c in commands]
    for c in commands:
        for key in ("iro", "distribution", "team_manager", "participants"):
            value = getattr(c, "fields", {}).get(key)
            if value is not None:
                names.extend(n.strip() for n in (value if isinstance(value, list) else str(value).split(",")))
    return names


def _fingerprint(case: CaseFile) -> tuple[Any, ...]:
    return (
        case.state,
        sorted((d.kind, d.due_on, d.status.value, d.escalation_no) for d in case.deadlines),
        [(e.no, e.state, e.raised_to.value, e.level) for e in case.escalations],
        dict(case.dates),
    )
