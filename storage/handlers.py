"""One handler per command, each over a unit of work: take the cases, ask ``machines`` what happens, record it.

A handler either returns its result with everything recorded in the unit of work, or raises ``Refused`` having
recorded nothing of its own (the caller's transaction then changes nothing). The caller flushes and commits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from machines import checks
from machines.amend import AMENDED, latest_registration
from machines.amend import amend as amend_registration
from machines.errors import Refused
from machines.events import consequences
from machines.procedures import PROCEDURES
from storage import accounts, delivery, digest, operations, people, retention
from storage.commands import (
    ActOnEscalation,
    AddPerson,
    Amend,
    Amended,
    CatchUp,
    ChangePerson,
    Command,
    DeactivatePerson,
    EscalationMove,
    Fire,
    Opened,
    ReactivatePerson,
    Register,
    SetEmail,
    SweepBatch,
    SweepReport,
    Transition,
    WholeBatchRefused,
    transition,
)
from storage.ids import escalation_id
from storage.models import events as _EVENTS
from storage.notifications import NotifyEscalation, notify_escalation
from storage.uow import UnitOfWork

__all__ = ["HANDLERS", "handle"]


def register(uow: UnitOfWork, cmd: Register) -> Opened:
    uow.reserve("case", cmd.registration.ref)  # the reference first: every read after it (people, the reference)
    opened = uow.casework.open(cmd.registration, cmd.actor, cmd.on)
    uow.open(opened.case, opened.entry)
    return Opened(opened.case.ref, str(opened.case.state))


def fire(uow: UnitOfWork, cmd: Fire) -> Transition:
    """Deadlines due before the event's date pass first (as the morning's sweep would have let them), then the
    event; in a batch, a refused event keeps that catch-up (time passing is not the event's doing)."""
    loaded = uow.case(cmd.ref)
    case = loaded.case
    rules = uow.rules(loaded)  # the policy the case records
    caught_up = rules.catch_up(case, cmd.on)
    uow.record(loaded, caught_up)
    before = case.state
    fired = rules.fire(case, cmd.event, cmd.fields, cmd.actor, cmd.on)
    for opened in fired.opened:
        if uow.exists(opened.case.ref):
            # the case has already changed in memory: nothing of this unit of work may land
            raise WholeBatchRefused(f"case reference {opened.case.ref!r} is already registered")
        uow.open(opened.case, opened.entry, like=loaded)
    uow.record(loaded, [fired.entry])
    everything = [e for entry in [*caught_up, fired.entry] for e in entry.changes]
    return transition(cmd.ref, cmd.event, before, case.state, cmd.on, fired.entry.changes,
                      [o.case.ref for o in fired.opened], everything)  # fmt: skip


def act_on_escalation(uow: UnitOfWork, cmd: ActOnEscalation) -> EscalationMove:
    found = uow.locate_escalation(cmd.escalation, cmd.ref, cmd.no)  # locks the escalation's case
    if found is None:
        if cmd.escalation is not None:
            raise Refused(f"unknown escalation {escalation_id(cmd.escalation)}")
        raise Refused(f"case {cmd.ref!r} has no escalation number {cmd.no}")
    esc_id, ref, no = found
    loaded = uow.case(ref)
    rules = uow.rules(loaded)
    caught_up = rules.catch_up(loaded.case, cmd.on)
    uow.record(loaded, caught_up)
    entry = rules.act_on_escalation(loaded.case, no, cmd.action, cmd.fields, cmd.actor, cmd.on)
    uow.record(loaded, [entry])
    esc = loaded.case.escalation(no)
    everything = [e for item in [*caught_up, entry] for e in item.changes]
    return EscalationMove(escalation_id(esc_id), ref, cmd.action, str(entry.from_state), str(esc.state),
                          esc.raised_to, cmd.on, everything)  # fmt: skip


def amend(uow: UnitOfWork, cmd: Amend) -> Amended:
    """Correct a registration: deadlines due before the day pass first (as for any event), then the amendment."""
    loaded = uow.case(cmd.ref)
    case = loaded.case
    rules = uow.rules(loaded)
    actor = checks.person(uow.people, cmd.actor)
    checks.in_order(case, cmd.on)
    uow.record(loaded, rules.catch_up(case, cmd.on))
    registrations = {p.registration.event for p in PROCEDURES.values()} | {AMENDED}
    rows = uow.connection.execute(
        select(_EVENTS.c.event, _EVENTS.c.payload, _EVENTS.c.happened_on)
        .where(_EVENTS.c.case_id == case.id, _EVENTS.c.event.in_(sorted(registrations)))
        .order_by(_EVENTS.c.seq)
    ).all()
    registration = latest_registration([(event, payload) for event, payload, _on in rows])
    entry = amend_registration(case, registration, rows[0][2], cmd.field, cmd.value, cmd.reason, actor, cmd.on,
                               rules.policy)  # fmt: skip
    uow.record(loaded, [entry])
    return Amended(cmd.ref, cmd.field, cmd.on, sorted(entry.payload["dates"]), consequences(entry.changes))


def catch_up(uow: UnitOfWork, cmd: CatchUp) -> int:
    loaded = uow.case(cmd.ref)
    entries = uow.rules(loaded).catch_up(loaded.case, cmd.as_of)
    if entries:
        uow.record(loaded, entries)
    return len(entries)


def sweep_batch(uow: UnitOfWork, cmd: SweepBatch) -> SweepReport:
    """One batch of the sweep: its cases claimed, caught up to ``as_of`` (its report has ``handled`` 0 when
    nothing is left)."""
    report = SweepReport(cmd.as_of)
    claimed = uow.claim_due(cmd.as_of, cmd.batch_size)
    for loaded in claimed:
        entries = uow.rules(loaded).catch_up(loaded.case, cmd.as_of)
        uow.touch(loaded)  # no entries can only mean a stale next_due_on: writing the case corrects it
        if entries:
            uow.record(loaded, entries)
            report.count(len(entries), [e for entry in entries for e in entry.changes])
    report.handled = len(claimed)
    report.batches = 1 if claimed else 0
    return report


HANDLERS: dict[type[Command], Callable[[UnitOfWork, Any], Any]] = {
    AddPerson: people.add_person,
    ChangePerson: people.change_person,
    DeactivatePerson: people.deactivate_person,
    ReactivatePerson: people.reactivate_person,
    Amend: amend,
    # desk accounts (storage.accounts)
    accounts.SetPassword: accounts.set_password,
    accounts.ChangeOwnPassword: accounts.change_own_password,
    accounts.IssueLink: accounts.issue_link,
    accounts.UseLink: accounts.use_link,
    accounts.SignInAttempt: accounts.sign_in_attempt,
    accounts.LinkIdentity: accounts.link_identity,
    SetEmail: people.set_email,
    Register: register,
    Fire: fire,
    ActOnEscalation: act_on_escalation,
    CatchUp: catch_up,
    SweepBatch: sweep_batch,
    NotifyEscalation: notify_escalation,
    # delivering the outbox: claims and outcomes (storage.delivery)
    delivery.ClaimNotifications: delivery.claim_notifications,
    delivery.RecordDelivery: delivery.record_delivery,
    digest.MakeDigests: digest.make_digests,
    retention.Dispose: retention.dispose,
    # the system's own record: the sweep's runs, operators' alarms
    operations.StartSweepRun: operations.start_sweep_run,
    operations.FinishSweepRun: operations.finish_sweep_run,
    operations.NotifyOperators: operations.notify_operators,
}


def handle(uow: UnitOfWork, command: Command) -> Any:
    """Run the command's handler in the unit of work."""
    handler = HANDLERS.get(type(command))
    if handler is None:
        raise TypeError(f"no handler for {type(command).__name__}")
    uow.enter(command.entered_by, command.via)
    return handler(uow, command)
