"""The casework: open a case, fire an event, let a deadline pass, replay a log — all pure, for every procedure.

Each operation changes a ``CaseFile`` in memory and returns the ``LogEntry`` rows that say what happened, each with
its typed domain events (``machines.events``). It either refuses (``Refused``) before touching the case, or completes.
What an event *means* is declared in its procedure's module; this engine only applies the declarations. Storage
commits the case and its log together.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from statemachine.exceptions import TransitionNotAllowed

from machines import checks
from machines import escalation as escalations
from machines.amend import AMENDED, replay_amendment
from machines.errors import Refused
from machines.escalation import EscalationMachine, next_level
from machines.events import (
    CaseFlagged,
    CaseMoved,
    CaseOpened,
    DeadlineArmed,
    DeadlineCancelled,
    DeadlineMet,
    DeadlineMissed,
    DomainEvent,
    EscalationActed,
    EscalationClimbed,
    EscalationRaised,
    InvolvementEnded,
    InvolvementStarted,
    NotificationDue,
    TimerFired,
)
from machines.model import (
    SYSTEM,
    CaseFile,
    CaseKind,
    Deadline,
    DeadlineStatus,
    Directory,
    Escalation,
    EscalationState,
    LogEntry,
    Role,
    Source,
)
from machines.names import shown
from machines.policy import Policy
from machines.procedures import MACHINES, PROCEDURES, RULES, TIMER_EVENTS, procedure_for
from machines.repolicy import POLICY_MIGRATED, apply_moves, replayed_moves
from machines.spec import DeadlineRule, EventSpec, Procedure, Raised, Registration, Tell

__all__ = ["Casework", "Fired", "Opened", "final_states"]

TIMER_ONLY = "{event} is a timer: the sweep fires it when its deadline passes, nobody fires it by hand"
NOT_ALLOWED = "{event} is not allowed when case {ref} is {state}"
ESCALATION_ACTIONS = tuple(escalations.ACTIONS)
# The people a case names whose involvement is recorded (a dated record per case, PROCEDURES §2 rev.)
INVOLVED = {"social_worker": Role.SOCIAL_WORKER, "iro": Role.IRO}


def final_states(kind: CaseKind) -> frozenset[str]:
    return PROCEDURES[kind].final


@dataclass(slots=True)
class Opened:
    """A case just opened, with its first log entry."""

    case: CaseFile
    entry: LogEntry


@dataclass(slots=True)
class Fired:
    """What firing an event did: its log entry, and any case it opened (a final SO opens a linked SO case)."""

    entry: LogEntry
    opened: list[Opened] = field(default_factory=list)


_MACHINES = MACHINES  # built once per thread: see machines.procedures


class _Changes:
    """The domain events collected while one log entry is applied."""

    __slots__ = ("case", "events", "on")

    def __init__(self, case: CaseFile, on: date) -> None:
        self.case, self.on, self.events = case.ref, on, list[DomainEvent]()

    def deadline(
        self, cls: type[DeadlineArmed | DeadlineMet | DeadlineMissed | DeadlineCancelled], d: Deadline
    ) -> None:
        self.events.append(cls(self.case, self.on, d.kind, d.due_on, d.escalation_no))


_CLOSED_BY: dict[DeadlineStatus, type[DeadlineMet | DeadlineMissed | DeadlineCancelled]] = {
    DeadlineStatus.MET: DeadlineMet,
    DeadlineStatus.MISSED: DeadlineMissed,
    DeadlineStatus.CANCELLED: DeadlineCancelled,
}


class Casework:
    """The rules of every procedure and of escalations, under one local policy and one directory of people."""

    def __init__(self, policy: Policy, people: Directory) -> None:
        self.policy = policy
        self.people = people
        self.calendar = policy.calendar

    # -- opening cases ---------------------------------------------------------------------------------------------

    def open(self, reg: Registration, actor: str, on: date, *, authorize: bool = True) -> Opened:
        """Open a case from its registration: checked, its first deadlines armed, its first log entry written."""
        proc = procedure_for(reg)
        person = checks.person(self.people, actor) if authorize else checks.trusted(self.people, actor)
        if authorize and not getattr(reg, "opened_from", None):
            checks.check_role(person, reg.event, proc.register_roles)
        checks.check_ref(reg.ref, getattr(reg, "child_id", ""))
        sw = checks.social_worker(self.people, getattr(reg, "social_worker", None), person)
        case, payload = proc.open(reg, on, sw)
        case.details["registered_by"] = person.user
        changes = _Changes(case, on)
        self._enter(case, case.state, on, changes, reentry=False)
        self._track_dates(case, on, changes)
        self._judge_at_opening(case, proc, on, changes)
        case.last_event_on = on
        changes.events.insert(0, CaseOpened(case.ref, on, case.kind, case.state, getattr(reg, "opened_from", None)))
        self._involvements(case, {}, on, changes)
        if proc.tells_on_opening is not None:
            self._tell(case, proc.tells_on_opening(case, person), on, changes)
        entry = LogEntry(reg.event, "", case.state, person.user, person.role.value, Source.MANUAL, on,
                         payload=payload, changes=changes.events)  # fmt: skip
        return Opened(case, entry)

    # -- firing events ---------------------------------------------------------------------------------------------

    def spec(self, case: CaseFile, event: str) -> EventSpec:
        """The spec of an event a person may fire on this case; refuses timers and unknown events."""
        if event in TIMER_EVENTS:
            raise Refused(TIMER_ONLY.format(event=event))
        spec = PROCEDURES[case.kind].events.get(event)
        if spec is None or spec.timer:
            raise Refused(f"unknown event {shown(event)} for a {case.kind.value} case")
        return spec

    def fire(self, case: CaseFile, event: str, raw: Mapping[str, Any], actor: str, on: date,
             *, authorize: bool = True) -> Fired:  # fmt: skip
        """Apply a manual event. Refuses (changing nothing) or returns what it did."""
        checks.in_order(case, on)
        spec = self.spec(case, event)
        person = checks.person(self.people, actor) if authorize else checks.trusted(self.people, actor)
        if authorize:
            checks.check_role(person, event, spec.roles)
            checks.check_owner(self.people, person, spec, case)
        fields = spec.parse(raw)
        checks.check_people(self.people, spec, fields)
        proc = PROCEDURES[case.kind]
        machine, model = _MACHINES.get(proc.machine, case.state)
        try:
            machine.send(event, case=case, fields=fields, on=on, people=self.people, actor=person,
                         policy=self.policy)  # fmt: skip
        except TransitionNotAllowed:
            raise Refused(NOT_ALLOWED.format(event=event, ref=case.ref, state=case.state)) from None
        # From here on nothing refuses: the case changes.
        before, after = case.state, model.state
        changes = _Changes(case, on)
        flags = spec.flags(case, fields, person, self.people, self.policy) if spec.flags is not None else []
        people_before = dict(case.people)
        self._meet(case, event, changes, spec.meets_only(case, fields) if spec.meets_only is not None else None)
        if spec.effect is not None:
            spec.effect(case, fields, on, self.policy)
        raised = spec.raises(case, fields, person) if spec.raises is not None else None
        if raised is not None:
            self._raise(case, raised, on, changes)
        if after != before or not model.internal:
            self._move(case, after, on, changes, reentry=after == before)
        self._track_dates(case, on, changes)
        self._close_if_final(case, on, changes)
        case.last_event_on = on
        if after != before:
            changes.events.append(CaseMoved(case.ref, on, event, before, after))
        self._flag(case, event, flags, on, changes)
        self._involvements(case, people_before, on, changes)
        if spec.tells is not None:
            self._tell(case, spec.tells(case, fields, person, self.people), on, changes)
        payload = dict(fields)
        fired = Fired(LogEntry(event, before, case.state, person.user, person.role.value, Source.MANUAL, on,
                               payload=payload, changes=changes.events))  # fmt: skip
        registration = spec.opens(case, fields, on) if spec.opens is not None else None
        if registration is not None:
            opened = self.open(registration, person.user, on, authorize=False)
            case.links.append(opened.case.ref)
            payload["so_case"] = opened.case.ref  # replay opens the same reference
            fired.opened.append(opened)
        return fired

    def act_on_escalation(self, case: CaseFile, no: int, action: str, raw: Mapping[str, Any], actor: str,
                          on: date, *, authorize: bool = True) -> LogEntry:  # fmt: skip
        """Acknowledge, escalate or resolve one of the case's escalations."""
        spec = escalations.ACTIONS.get(action)
        if spec is None:
            raise Refused(f"unknown escalation action {shown(action)} (acknowledge, escalate or resolve)")
        checks.in_order(case, on)
        esc = case.escalation(no)
        person = checks.person(self.people, actor) if authorize else checks.trusted(self.people, actor)
        if authorize and not escalations.may_act(esc, action, person):
            raise Refused(f"{person.user} ({person.role}) may not {action} an escalation raised to {esc.raised_to}")
        fields = spec.parse(raw)
        machine, _ = _MACHINES.get(EscalationMachine, esc.state)
        try:
            machine.send(action, raised_to=esc.raised_to.value)
        except TransitionNotAllowed:
            raise Refused(f"cannot {action} escalation {no} of case {case.ref}: it is {esc.state}") from None
        changes = _Changes(case, on)
        before = esc.state
        self._move_escalation(case, esc, action, on, changes, note=fields.get("note"))
        case.last_event_on = on
        return LogEntry(action, before, esc.state, person.user, person.role.value, Source.MANUAL, on,
                        payload=fields, escalation_no=no, changes=changes.events)  # fmt: skip

    # -- time passing ----------------------------------------------------------------------------------------------

    @staticmethod
    def due_before(case: CaseFile, as_of: date) -> Deadline | None:
        """The earliest open deadline due before ``as_of`` (a deadline due on ``as_of`` is still open)."""
        due = [d for d in case.deadlines if d.is_open and d.due_on < as_of]
        return min(due, key=lambda d: (d.due_on, d.escalation_no or 0, d.kind)) if due else None

    def catch_up(self, case: CaseFile, as_of: date) -> list[LogEntry]:
        """Let every deadline due before ``as_of`` pass, in date order (new ones armed on the way included)."""
        entries = []
        while (deadline := self.due_before(case, as_of)) is not None:
            entries.append(self.pass_deadline(case, deadline))
        return entries

    def pass_deadline(self, case: CaseFile, d: Deadline) -> LogEntry:
        """An open deadline's date has passed: it is missed (or, for a timer, it fires), the day after — or, for one
        armed with its date already past (a summary marking the plan to follow after the first CIN meeting was held),
        on the day it was armed, so the log stays in date order."""
        on = max(d.due_on + timedelta(days=1), d.armed_on)
        changes = _Changes(case, on)
        payload: dict[str, Any] = {"deadline": d.kind, "due_on": d.due_on}
        if d.escalation_no is not None:
            esc = case.escalation(d.escalation_no)
            self._close_deadline(d, DeadlineStatus.MISSED, changes)
            esc_before = esc.state
            if next_level(esc.raised_to) is not None and esc.state is not EscalationState.escalated:
                self._move_escalation(case, esc, "escalate", on, changes, note=None)
                event = "escalate"
            else:
                event = "deadline_missed"
            case.last_event_on = max(case.last_event_on or on, on)
            return LogEntry(event, esc_before, esc.state, SYSTEM.user, SYSTEM.role.value, Source.TIMER, on,
                            payload=payload, escalation_no=esc.no, changes=changes.events)  # fmt: skip
        rule = RULES[d.kind]
        before = case.state
        event = rule.timer or "deadline_missed"
        if rule.passing_is_expected:
            self._close_deadline(d, DeadlineStatus.MET, changes)
            raised = rule.passing_raises(case) if rule.passing_raises is not None else None
            if raised is not None:
                self._raise(case, raised, on, changes)
        else:
            self._close_deadline(d, DeadlineStatus.MISSED, changes)
            self._raise(case, Raised(f"missed:{d.kind}", rule.escalate_to), on, changes, deadline_kind=d.kind)
            if rule.when_missed is not None:
                rule.when_missed(case, on)
        if rule.timer is not None:
            machine, model = _MACHINES.get(PROCEDURES[case.kind].machine, case.state)
            machine.send(rule.timer)
            after = model.state
            self._move(case, after, on, changes, reentry=False)
            self._track_dates(case, on, changes)
            self._close_if_final(case, on, changes)
            changes.events.append(TimerFired(case.ref, on, rule.timer))
            if after != before:
                changes.events.append(CaseMoved(case.ref, on, rule.timer, before, after))
        case.last_event_on = max(case.last_event_on or on, on)
        return LogEntry(event, before, case.state, SYSTEM.user, SYSTEM.role.value, Source.TIMER, on,
                        payload=payload, changes=changes.events)  # fmt: skip

    # -- replay ----------------------------------------------------------------------------------------------------

    def replay(self, entries: Iterable[LogEntry], policies: Mapping[str, Policy] | None = None) -> CaseFile:
        """Rebuild a case from its log alone: the same state, dates, deadlines and escalations.

        ``self.policy`` is the policy the case was opened under; a ``policy_migrated`` entry moves what it moved
        and the rest of the log runs under the policy it names (``policies``: by content hash)."""
        case: CaseFile | None = None
        rules = self
        registrations = {p.registration.event: p.registration for p in PROCEDURES.values()}
        for e in entries:
            p = e.payload
            registration = registrations.get(e.event)
            if registration is not None:
                case = rules.open(registration.from_payload(p), e.actor, e.happened_on, authorize=False).case
            elif case is None:
                raise ValueError("a log must start with the case's registration")
            elif e.event == AMENDED:
                replay_amendment(case, p, e.happened_on)
            elif e.event == POLICY_MIGRATED:
                policy = (policies or {}).get(str(p["to"]))
                if policy is None:
                    raise ValueError(f"replay: the policy {p['to']} the case moved to is not known")
                apply_moves(case, replayed_moves(p), e.happened_on)
                rules = Casework(policy, self.people)
            elif e.source is Source.TIMER:
                kind, due = p["deadline"], date.fromisoformat(str(p["due_on"]))
                match = [d for d in case.deadlines if d.is_open and d.kind == kind and d.due_on == due
                         and d.escalation_no == e.escalation_no]  # fmt: skip
                if not match:
                    raise ValueError(f"replay: no open {kind} due {due} to pass")
                rules.pass_deadline(case, match[0])
            elif e.escalation_no is not None:
                rules.act_on_escalation(case, e.escalation_no, e.event, p, e.actor, e.happened_on, authorize=False)
            else:
                rules.fire(case, e.event, p, e.actor, e.happened_on, authorize=False)
        if case is None:
            raise ValueError("empty log")
        return case

    # -- deadlines -------------------------------------------------------------------------------------------------

    def _arm(self, case: CaseFile, rule: DeadlineRule, due: date, state: str, on: date, changes: _Changes,
             escalation: Escalation | None = None) -> None:  # fmt: skip
        owner = escalation.raised_to if escalation else rule.owner
        escalate_to = (next_level(owner) or owner) if escalation else rule.escalate_to
        shown = rule.shown_from(case, self.policy) if rule.shown_from else None
        d = Deadline(rule.kind, due, owner, escalate_to, state, on, shown_from=shown,
                     escalation_no=escalation.no if escalation else None)  # fmt: skip
        case.deadlines.append(d)
        changes.deadline(DeadlineArmed, d)

    @staticmethod
    def _close_deadline(d: Deadline, status: DeadlineStatus, changes: _Changes) -> None:
        d.status, d.closed_on = status, changes.on
        changes.deadline(_CLOSED_BY[status], d)

    def _meet(self, case: CaseFile, event: str, changes: _Changes, only: frozenset[str] | None) -> None:
        """Close what the event meets (``only``: the kinds this firing meets, when the event says which)."""
        for d in case.deadlines:
            mine = d.is_open and d.escalation_no is None and event in RULES[d.kind].met_by
            if mine and (only is None or d.kind in only):
                self._close_deadline(d, DeadlineStatus.MET, changes)

    def _due(self, case: CaseFile, rule: DeadlineRule, on: date) -> tuple[date | None, date | None]:
        """The rule's date as computed, and as armed: no later than the case's latest due date (an SO's day before
        expiry; not the expiry itself), and, for a rule that says so, no earlier than the day it is armed."""
        raw = rule.due(case, self.policy)
        if raw is None:
            return None, None
        due = raw
        latest_due = PROCEDURES[case.kind].latest_due
        if latest_due is not None and not rule.passing_is_expected:
            latest = latest_due(case)
            if latest is not None and due > latest:
                due = latest
        if rule.late_is_today and due < on:
            due = on
        return raw, due

    def _move(self, case: CaseFile, new_state: StrEnum, on: date, changes: _Changes, *, reentry: bool) -> None:
        """Leave the state (cancelling the deadlines it owned), take the new one, and arm what it arms."""
        for d in case.deadlines:
            if not d.is_open or d.escalation_no is not None:
                continue
            rule = RULES[d.kind]
            if new_state not in rule.alive_in or (reentry and new_state in rule.armed_in and not rule.tracks_date):
                self._close_deadline(d, DeadlineStatus.CANCELLED, changes)
        case.state = new_state
        self._enter(case, new_state, on, changes, reentry=reentry)

    def _enter(self, case: CaseFile, state: str, on: date, changes: _Changes, *, reentry: bool) -> None:
        open_kinds = {d.kind for d in case.deadlines if d.is_open and d.escalation_no is None}
        for rule in _ARMED_BY.get((case.kind, state), ()):
            if rule.kind in open_kinds or rule.tracks_date:
                continue
            _, due = self._due(case, rule, on)
            if due is None or (rule.skip_if_past and due < on):
                continue
            self._arm(case, rule, due, state, on, changes)

    def _track_dates(self, case: CaseFile, on: date, changes: _Changes) -> None:
        """Deadlines that follow a case date which can move or appear (expiry, the 26-week date, the next review, a
        meeting) are kept in step with it: re-armed when the date they are computed from changes, and only then."""
        tracked: dict[str, str] = case.details.setdefault("tracked", {})
        for rule in _TRACKING.get(case.kind, ()):
            if case.state not in rule.alive_in:
                continue
            raw, due = self._due(case, rule, on)
            if raw is None or due is None or tracked.get(rule.kind) == raw.isoformat():
                continue
            latest = next((d for d in reversed(case.deadlines) if d.kind == rule.kind), None)
            if rule.kind not in tracked and latest is not None and latest.due_on == due:
                tracked[rule.kind] = raw.isoformat()  # armed before its computed date was recorded
                continue
            if latest is not None and latest.is_open:
                self._close_deadline(latest, DeadlineStatus.CANCELLED, changes)
            self._arm(case, rule, due, case.state, on, changes)
            tracked[rule.kind] = raw.isoformat()

    def _judge_at_opening(self, case: CaseFile, proc: Procedure, on: date, changes: _Changes) -> None:
        """A deadline the opening itself meets or misses (the notification "upon the issuing" of the order)."""
        for rule in proc.deadlines.values():
            if not rule.at_opening:
                continue
            _, due = self._due(case, rule, on)
            if due is None:
                continue
            self._arm(case, rule, due, case.state, on, changes)
            d = case.deadlines[-1]
            if on <= due:
                self._close_deadline(d, DeadlineStatus.MET, changes)
            else:  # missed the day after its date; raised now, when orderwatch first hears of the case
                self._close_deadline(d, DeadlineStatus.MISSED, changes)
                d.closed_on = due + timedelta(days=1)
                self._raise(case, Raised(f"missed:{rule.kind}", rule.escalate_to), on, changes, deadline_kind=rule.kind)

    # -- what is recorded beside the deadlines: flags, involvements, who is told --------------------------------------

    @staticmethod
    def _flag(case: CaseFile, event: str, flags: list[tuple[str, str]], on: date, changes: _Changes) -> None:
        for flag, detail in flags:
            changes.events.append(CaseFlagged(case.ref, on, event, flag, detail))
            case.details.setdefault("flags", []).append({"on": on.isoformat(), "event": event, "flag": flag,
                                                         "detail": detail})  # fmt: skip

    @staticmethod
    def _involvements(case: CaseFile, before: dict[str, str], on: date, changes: _Changes) -> None:
        for label, role in INVOLVED.items():
            old, new = before.get(label), case.people.get(label)
            if old == new:
                continue
            if old is not None:
                changes.events.append(InvolvementEnded(case.ref, on, old, role))
            if new is not None:
                changes.events.append(InvolvementStarted(case.ref, on, new, role))

    @staticmethod
    def _tell(case: CaseFile, tells: list[Tell], on: date, changes: _Changes) -> None:
        for t in tells:
            changes.events.append(NotificationDue(case.ref, on, t.kind, t.user, t.role, t.about))

    def _close_if_final(self, case: CaseFile, on: date, changes: _Changes) -> None:
        """A final case keeps no open deadline (its escalations stay open, for people to close)."""
        if case.state not in PROCEDURES[case.kind].final:
            return
        for d in case.deadlines:
            if d.is_open:
                self._close_deadline(d, DeadlineStatus.CANCELLED, changes)
        case.details["closed_on"] = on.isoformat()

    # -- escalations -----------------------------------------------------------------------------------------------

    def _raise(self, case: CaseFile, raised: Raised, on: date, changes: _Changes,
               deadline_kind: str | None = None) -> Escalation:  # fmt: skip
        esc = Escalation(len(case.escalations) + 1, raised.reason, raised.to, on, deadline_kind=deadline_kind,
                         detail=raised.detail)  # fmt: skip
        case.escalations.append(esc)
        changes.events.append(EscalationRaised(case.ref, on, esc.no, esc.reason, esc.raised_to, deadline_kind))
        cal, p = self.calendar, self.policy
        self._arm(case, RULES["escalation_acknowledgement"], cal.add_working_days(on, p.escalation_acknowledge_wd),
                  EscalationState.raised, on, changes, esc)  # fmt: skip
        self._arm(case, RULES["escalation_resolution"], cal.add_working_days(on, p.escalation_resolve_wd),
                  EscalationState.raised, on, changes, esc)  # fmt: skip
        return esc

    def _move_escalation(self, case: CaseFile, esc: Escalation, action: str, on: date, changes: _Changes,
                         note: str | None) -> None:  # fmt: skip
        new_state = _ESCALATION_TARGET[action]
        for d in case.deadlines:
            if d.is_open and d.escalation_no == esc.no:
                rule = RULES[d.kind]
                if action in rule.met_by:
                    self._close_deadline(d, DeadlineStatus.MET, changes)
                elif new_state not in rule.alive_in or action == "escalate":
                    self._close_deadline(d, DeadlineStatus.CANCELLED, changes)
        esc.state = new_state
        if action == "escalate":
            up = next_level(esc.raised_to)
            if up is None:  # the machine's validator refuses this first; the sweep never climbs past the top
                raise Refused(escalations.AT_THE_TOP.format(role=esc.raised_to))
            esc.raised_to, esc.level = up, esc.level + 1
            changes.events.append(EscalationClimbed(case.ref, on, esc.no, esc.reason, up, esc.level))
            if case.state not in PROCEDURES[case.kind].final:
                due = self.calendar.add_working_days(on, self.policy.escalation_resolve_wd)
                self._arm(case, RULES["escalation_resolution"], due, esc.state, on, changes, esc)
        else:
            changes.events.append(EscalationActed(case.ref, on, esc.no, action, new_state))
        if action == "resolve":
            esc.resolution, esc.closed_on = note, on


_ESCALATION_TARGET = {
    "acknowledge": EscalationState.acknowledged,
    "escalate": EscalationState.escalated,
    "resolve": EscalationState.resolved,
}

# Which rules entering a state arms, and which follow a movable date: built once from the declarations.
_ARMED_BY: dict[tuple[CaseKind, str], list[DeadlineRule]] = {}
_TRACKING: dict[CaseKind, list[DeadlineRule]] = {}
for _proc in PROCEDURES.values():
    for _rule in _proc.deadlines.values():
        if _rule.tracks_date:
            _TRACKING.setdefault(_proc.kind, []).append(_rule)
        for _state in _rule.armed_in:
            _ARMED_BY.setdefault((_proc.kind, _state), []).append(_rule)
# Deadlines that follow a movable case date: the rules compare with the latest of each, open or not.
TRACKING_KINDS = frozenset(r.kind for rules in _TRACKING.values() for r in rules)
