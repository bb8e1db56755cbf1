"""The casework rules: open a case, fire an event, let a deadline pass, replay a log — all pure.

Each operation changes a ``CaseFile`` in memory and returns the ``LogEntry`` rows that say what happened,
with their consequences (deadlines armed, met, missed or cancelled; escalations raised). It either refuses
(``Refused``) before touching the case, or completes. Storage commits the case and its log together.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from statemachine import StateMachine
from statemachine.exceptions import TransitionNotAllowed

from machines.calendar import (
    SO_MAX_AGE_AT_ORDER,
    SO_MONTHS,
    age_on,
    end_of_month,
    extension_limit,
    parse_date,
    so_expiry,
    start_of_month,
    twenty_six_weeks_date,
)
from machines.cp_iso import CpIsoMachine, CpIsoState, review_limit
from machines.errors import Refused
from machines.escalation import EscalationMachine, EscalationState, next_level
from machines.fields import parse_fields
from machines.model import (
    SYSTEM,
    CaseFile,
    CaseKind,
    Deadline,
    DeadlineStatus,
    Directory,
    Escalation,
    LogEntry,
    Person,
    Role,
    Source,
)
from machines.policy import Policy
from machines.rules import EVENT_ROLES, PERSONAL_EVENTS, RULES, TIMER_EVENTS, DeadlineRule
from machines.supervision_order import SOState, SupervisionOrderMachine

__all__ = [
    "ESCALATION_ACTIONS",
    "PROCEDURE_VERSIONS",
    "TRACKING_KINDS",
    "CaseOpening",
    "Casework",
    "CpIsoRegistration",
    "SORegistration",
]

PROCEDURE_VERSIONS = {CaseKind.SUPERVISION_ORDER: "wirral-so-2022.03", CaseKind.CP_ISO: "bradford-cp-iso-1"}
ESCALATION_ACTIONS = ("acknowledge", "escalate", "resolve")
# States in which an extension is being sought: expiry there is an escalation too (§2).
EXTENSION_SOUGHT = frozenset({SOState.legal_gateway, SOState.extension_application, SOState.extension_pending})

OUT_OF_ORDER = "events are recorded in date order: case {ref} already runs to {last}, so {on} is too early"
TIMER_ONLY = "{event} is a timer: the sweep fires it when its deadline passes, nobody fires it by hand"
NOT_ALLOWED = "{event} is not allowed when case {ref} is {state}"
UNKNOWN_PERSON = "unknown person {user!r} (add them with 'orderwatch people add')"
ROLE_NOT_ALLOWED = "{user} ({role}) may not {event}: allowed roles are {allowed}"
NOT_THE_OWNER = "{event} belongs to the allocated {label} {owner}: only they or their manager may fire it, not {user}"
SO_CHILD_TOO_OLD = "a Supervision Order cannot be made for a child aged 17 or over (CA89 s.31(3)): aged {age} on {on}"
SO_CHILD_TOO_OLD_PUBLIC = "a Supervision Order cannot be made for a child aged 17 or over (CA89 s.31(3))"
SO_EXPIRY_TOO_LATE = "a supervision order runs at most one year (CA89 Sch 3 para 6(1)): expiry no later than {limit}"


_BUILT = threading.local()  # state machines built in this thread (see Casework._machine)


class _Tracked:
    """A machine's model: the state, and whether the transition taken was internal."""

    __slots__ = ("internal", "state")

    def __init__(self, state: StrEnum) -> None:
        self.state = state
        self.internal = False


def _tracking(machine: type[StateMachine]) -> type[StateMachine]:
    def after_transition(self: StateMachine, transition: Any) -> None:
        self.model.internal = transition.internal

    return type(machine.__name__, (machine,), {"after_transition": after_transition})


MACHINES: dict[CaseKind, tuple[type[StateMachine], type[StrEnum]]] = {
    CaseKind.SUPERVISION_ORDER: (_tracking(SupervisionOrderMachine), SOState),
    CaseKind.CP_ISO: (_tracking(CpIsoMachine), CpIsoState),
}
EVENTS = {kind: frozenset(e.id for e in m._events) - TIMER_EVENTS for kind, (m, _) in MACHINES.items()}
FINAL_STATES = {
    CaseKind.SUPERVISION_ORDER: frozenset({SOState.expired.value, SOState.discharged.value}),
    CaseKind.CP_ISO: frozenset({CpIsoState.proceedings_concluded.value}),
}


@dataclass(frozen=True, slots=True)
class SORegistration:
    """What the social worker notifies when the court makes a final Supervision Order."""

    ref: str
    child_id: str
    order_date: date
    expiry: date | None = None  # as stated on the sealed order, when it states one
    dob: date | None = None
    notified_on: date | None = None
    social_worker: str | None = None
    opened_from: str | None = None  # the CP+ISO case whose final hearing made the order


@dataclass(frozen=True, slots=True)
class CpIsoRegistration:
    """A child on a CP plan for whom an Interim Supervision Order has been granted, with the court timetable."""

    ref: str
    child_id: str
    iso_date: date
    next_review: date
    last_review: date | None = None
    icpc: date | None = None
    issued: date | None = None
    cmh: date | None = None
    irh: date | None = None
    final_hearing: date | None = None
    dob: date | None = None
    social_worker: str | None = None


@dataclass(slots=True)
class CaseOpening:
    """A case opened as a consequence (a final SO opens an SO case), with its first log entries."""

    case: CaseFile
    entries: list[LogEntry]


@dataclass(slots=True)
class _Changes:
    """Consequences collected while one event is applied, for the audit record."""

    armed: list[list[Any]] = field(default_factory=list)
    met: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    raised: list[list[Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[Any]]:
        return {k: v for k, v in (("armed", self.armed), ("met", self.met), ("missed", self.missed),
                                  ("cancelled", self.cancelled), ("raised", self.raised)) if v}  # fmt: skip


def _label(d: Deadline) -> str:
    return d.kind if d.escalation_no is None else f"{d.kind}#{d.escalation_no}"


class Casework:
    """The rules of both procedures and of escalations, under one local policy and one directory of people."""

    def __init__(self, policy: Policy, people: Directory) -> None:
        self.policy = policy
        self.people = people
        self.calendar = policy.calendar
        self.openings: list[CaseOpening] = []

    @staticmethod
    def _machine(key: CaseKind | None, state: str) -> tuple[StateMachine, _Tracked]:
        """A machine (``key`` None: the escalation machine) set to ``state``. Built once per thread and reused:
        building one registers every callback, far dearer than a transition; the state lives on the model, which
        the machine reads afresh on every event (and the guards and validators read only what ``send`` passes)."""
        machines: dict[Any, tuple[StateMachine, _Tracked]] = _BUILT.__dict__.setdefault("machines", {})
        bound = machines.get(key)
        if bound is not None and bound[0].is_terminated:
            # It reached a final state (SCXML: the machine terminates). A new engine restarts it on the model's
            # state for the next case; if the library ever stops allowing that, build a new machine instead.
            try:
                bound[0]._engine = bound[0]._get_engine()  # type: ignore[no-untyped-call]
                bound[0]._engine.start()
            except AttributeError:  # pragma: no cover - a future python-statemachine
                bound = None
        if bound is None:
            machine_cls = MACHINES[key][0] if key is not None else EscalationMachine
            model = _Tracked(Casework._state_enum(key)(state))
            bound = machines[key] = (machine_cls(model=model), model)
        machine, model = bound
        model.state, model.internal = Casework._state_enum(key)(state), False
        return machine, model

    @staticmethod
    def _state_enum(key: CaseKind | None) -> type[StrEnum]:
        return MACHINES[key][1] if key is not None else EscalationState

    # -- opening cases ---------------------------------------------------------------------------------------------

    def register_so(self, reg: SORegistration, actor: str, on: date, *, authorize: bool = True) -> LogEntry:
        """Open a Supervision Order case; returns ``(case, entry)`` via ``self.last_opened``."""
        person = self._person(actor) if authorize else self._trusted(actor)
        if authorize and not reg.opened_from:
            self._check_role(person, "register_so")
        self._check_ref(reg.ref, reg.child_id)
        if reg.order_date > on:
            raise Refused(f"order date {reg.order_date} is in the future (registered on {on})")
        if reg.dob is not None:
            if reg.dob > reg.order_date:
                raise Refused(
                    f"date of birth {reg.dob} is after the order date {reg.order_date}",
                    public="the date of birth is after the order date",
                )
            age = age_on(reg.dob, reg.order_date)
            if age >= SO_MAX_AGE_AT_ORDER:
                raise Refused(SO_CHILD_TOO_OLD.format(age=age, on=reg.order_date), public=SO_CHILD_TOO_OLD_PUBLIC)
        year_end = end_of_month(reg.order_date, SO_MONTHS)
        if reg.expiry is not None:
            if reg.expiry <= reg.order_date:
                raise Refused(f"expiry {reg.expiry} must be after the order date {reg.order_date}")
            if reg.expiry > year_end:
                raise Refused(SO_EXPIRY_TOO_LATE.format(limit=year_end))
        notified = reg.notified_on or on
        if notified < reg.order_date:
            raise Refused(f"notified on {notified} is before the order date {reg.order_date}")
        if notified > on:
            raise Refused(f"notified on {notified} is in the future (registered on {on})")
        expiry = so_expiry(reg.order_date, reg.expiry, reg.dob)
        if expiry < notified:
            raise Refused(
                f"the order expired on {expiry}, before it was notified ({notified})",
                public="the order expired before it was notified",
            )
        sw = self._social_worker(reg.social_worker, person)
        case = CaseFile(
            ref=reg.ref,
            kind=CaseKind.SUPERVISION_ORDER,
            state=SOState.registered.value,
            child_id=reg.child_id,
            procedure_version=PROCEDURE_VERSIONS[CaseKind.SUPERVISION_ORDER],
            dob=reg.dob,
            dates={
                "order_date": reg.order_date,
                "expiry": expiry,
                "extension_limit": extension_limit(reg.order_date, reg.dob),
                "notified_on": notified,
                "review_due": end_of_month(reg.order_date, 9),  # seed: "no later than the end of month 9"
                "reconvene_by": end_of_month(reg.order_date, 10),  # seed: "by the end of month 10"
            },
            people={"social_worker": sw} if sw else {},
            links=[reg.opened_from] if reg.opened_from else [],
        )
        payload = {
            "ref": reg.ref,
            "child_id": reg.child_id,
            "order_date": reg.order_date,
            "expiry": reg.expiry,
            "dob": reg.dob,
            "notified_on": notified,
            "social_worker": sw,
            "opened_from": reg.opened_from,
        }
        return self._opened(case, "register_so", person, on, payload)

    def register_cp_iso(self, reg: CpIsoRegistration, actor: str, on: date, *, authorize: bool = True) -> LogEntry:
        person = self._person(actor) if authorize else self._trusted(actor)
        if authorize:
            self._check_role(person, "register_cp_iso")
        self._check_ref(reg.ref, reg.child_id)
        if reg.iso_date > on:
            raise Refused(f"ISO date {reg.iso_date} is in the future (registered on {on})")
        if reg.last_review is None and reg.icpc is None:
            raise Refused(
                "one of last_review or icpc is required: the Working Together limit on the next review needs it"
            )
        for name in ("last_review", "icpc", "issued"):
            value = getattr(reg, name)
            if value is not None and value > reg.iso_date and name != "issued":
                raise Refused(f"{name} {value} is after the ISO date {reg.iso_date}")
        if reg.issued is not None and reg.issued > reg.iso_date:
            raise Refused(f"issue date {reg.issued} is after the ISO date {reg.iso_date}")
        if reg.dob is not None and reg.dob > reg.iso_date:
            raise Refused(
                f"date of birth {reg.dob} is after the ISO date {reg.iso_date}",
                public="the date of birth is after the ISO date",
            )
        dates: dict[str, date] = {"iso_date": reg.iso_date, "next_review": reg.next_review}
        for name in ("last_review", "icpc", "issued", "cmh", "irh", "final_hearing"):
            value = getattr(reg, name)
            if value is not None:
                dates[name] = value
        if reg.issued is not None:
            dates["twenty_six_weeks"] = twenty_six_weeks_date(reg.issued)
        start = reg.last_review or reg.icpc
        assert start is not None
        dates["cycle_start"] = start
        sw = self._social_worker(reg.social_worker, person)
        case = CaseFile(
            ref=reg.ref,
            kind=CaseKind.CP_ISO,
            state=CpIsoState.iso_granted.value,
            child_id=reg.child_id,
            procedure_version=PROCEDURE_VERSIONS[CaseKind.CP_ISO],
            dob=reg.dob,
            dates=dates,
            people={"social_worker": sw} if sw else {},
        )
        if reg.next_review <= start:
            raise Refused(f"the next CP review {reg.next_review} must be after {start}")
        limit, message = review_limit(case)
        if reg.next_review > limit:
            raise Refused(message)
        payload: dict[str, Any] = {k: getattr(reg, k) for k in CpIsoRegistration.__dataclass_fields__}
        payload["social_worker"] = sw
        return self._opened(case, "register_cp_iso", person, on, payload)

    def _opened(self, case: CaseFile, event: str, person: Person, on: date, payload: dict[str, Any]) -> LogEntry:
        changes = _Changes()
        self._enter(case, case.state, on, changes, reentry=False)
        self._track_dates(case, on, changes)
        case.last_event_on = on
        entry = LogEntry(event, "", case.state, person.user, person.role.value, Source.MANUAL, on,
                         payload=payload, consequences=changes.as_dict())  # fmt: skip
        self.last_opened = case
        return entry

    # -- firing events ---------------------------------------------------------------------------------------------

    def fire(self, case: CaseFile, event: str, raw: Mapping[str, Any], actor: str, on: date,
             *, authorize: bool = True) -> LogEntry:  # fmt: skip
        """Apply a manual event. Refuses (changing nothing) or returns the log entry of what it did."""
        if case.last_event_on is not None and on < case.last_event_on:
            raise Refused(OUT_OF_ORDER.format(ref=case.ref, last=case.last_event_on, on=on))
        if event in TIMER_EVENTS:
            raise Refused(TIMER_ONLY.format(event=event))
        if event not in EVENTS[case.kind]:
            raise Refused(f"unknown event {event!r} for a {case.kind.value} case")
        person = self._person(actor) if authorize else self._trusted(actor)
        if authorize:
            self._check_role(person, event)
            self._check_owner(person, event, case)
        fields = parse_fields(event, raw)
        self._check_people(event, fields)
        machine, model = self._machine(case.kind, case.state)
        try:
            machine.send(event, case=case, fields=fields, on=on, people=self.people, actor=person)
        except TransitionNotAllowed:
            raise Refused(NOT_ALLOWED.format(event=event, ref=case.ref, state=case.state)) from None
        # From here on nothing refuses: the case changes.
        before, after = case.state, str(model.state)
        changes = _Changes()
        self._meet(case, event, on, changes)
        _EFFECTS.get(event, _no_effect)(self, case, fields, on)
        escalation = _EVENT_ESCALATIONS.get(event)
        if escalation is not None:
            raised = escalation(case, fields, person)
            if raised is not None:
                self._raise(case, raised[0], raised[1], on, changes, detail=raised[2])
        if after != before or not model.internal:
            self._leave(case, after, on, changes, reentry=after == before)
            case.state = after
            self._enter(case, after, on, changes, reentry=after == before)
        self._track_dates(case, on, changes)
        if case.state in FINAL_STATES[case.kind]:
            self._close(case, on, changes)
        case.last_event_on = on
        payload = {k: v for k, v in fields.items()}
        if event == "record_final_hearing" and fields["outcome"] == "supervision_order":
            payload["so_case"] = self._open_linked_so(case, fields, person, on)
        return LogEntry(event, before, case.state, person.user, person.role.value, Source.MANUAL, on,
                        payload=payload, consequences=changes.as_dict())  # fmt: skip

    def fire_escalation(self, case: CaseFile, no: int, action: str, raw: Mapping[str, Any], actor: str, on: date,
                        *, authorize: bool = True) -> LogEntry:  # fmt: skip
        """Acknowledge, escalate or resolve one of the case's escalations."""
        if action not in ESCALATION_ACTIONS:
            raise Refused(f"unknown escalation action {action!r} (acknowledge, escalate or resolve)")
        if case.last_event_on is not None and on < case.last_event_on:
            raise Refused(OUT_OF_ORDER.format(ref=case.ref, last=case.last_event_on, on=on))
        esc = case.escalation(no)
        person = self._person(actor) if authorize else self._trusted(actor)
        if authorize:
            allowed = {esc.raised_to, Role.HEAD_OF_SERVICE}
            if action == "escalate" and esc.reason == "disagreement":
                allowed |= {Role.TEAM_MANAGER, Role.CPC_TEAM_MANAGER}
            if person.role not in allowed:
                raise Refused(f"{person.user} ({person.role}) may not {action} an escalation raised to {esc.raised_to}")
        fields = parse_fields(action, raw)
        machine, _ = self._machine(None, esc.state)
        try:
            machine.send(action, raised_to=esc.raised_to.value)
        except TransitionNotAllowed:
            raise Refused(f"cannot {action} escalation {no} of case {case.ref}: it is {esc.state}") from None
        changes = _Changes()
        before = esc.state
        self._move_escalation(case, esc, action, on, changes, note=fields.get("note"))
        case.last_event_on = on
        return LogEntry(action, before, esc.state, person.user, person.role.value, Source.MANUAL, on,
                        payload=fields, escalation_no=no, consequences=changes.as_dict())  # fmt: skip

    # -- time passing ----------------------------------------------------------------------------------------------

    def due_before(self, case: CaseFile, as_of: date) -> Deadline | None:
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
        """An open deadline's date has passed: it is missed (or, for a timer, it fires), the day after."""
        on = d.due_on + timedelta(days=1)
        changes = _Changes()
        before = case.state
        if d.escalation_no is not None:
            esc = case.escalation(d.escalation_no)
            self._close_deadline(d, DeadlineStatus.MISSED, on, changes)
            before = esc.state
            if next_level(esc.raised_to) is not None and esc.state != EscalationState.escalated:
                self._move_escalation(case, esc, "escalate", on, changes, note=None)
                event = "escalate"
            else:
                event = "deadline_missed"
            case.last_event_on = max(case.last_event_on or on, on)
            return LogEntry(event, before, esc.state, SYSTEM.user, SYSTEM.role.value, Source.TIMER, on,
                            payload={"deadline": d.kind, "due_on": d.due_on}, escalation_no=esc.no,
                            consequences=changes.as_dict())  # fmt: skip
        rule = RULES[d.kind]
        event = rule.timer or "deadline_missed"
        if rule.passing_is_expected:
            self._close_deadline(d, DeadlineStatus.MET, on, changes)
            if case.state in EXTENSION_SOUGHT:
                self._raise(case, "expired_with_extension_pending", Role.HEAD_OF_SERVICE, on, changes)
        else:
            self._close_deadline(d, DeadlineStatus.MISSED, on, changes)
            self._raise(case, f"missed:{d.kind}", rule.escalate_to, on, changes, deadline_kind=d.kind)
        if rule.timer is not None:
            machine, model = self._machine(case.kind, case.state)
            machine.send(rule.timer)
            after = str(model.state)
            self._leave(case, after, on, changes, reentry=False)
            case.state = after
            self._enter(case, after, on, changes, reentry=False)
            self._track_dates(case, on, changes)
            if case.state in FINAL_STATES[case.kind]:
                self._close(case, on, changes)
        case.last_event_on = max(case.last_event_on or on, on)
        return LogEntry(event, before, case.state, SYSTEM.user, SYSTEM.role.value, Source.TIMER, on,
                        payload={"deadline": d.kind, "due_on": d.due_on}, consequences=changes.as_dict())  # fmt: skip

    # -- replay ----------------------------------------------------------------------------------------------------

    def replay(self, entries: Iterable[LogEntry]) -> CaseFile:
        """Rebuild a case from its log alone: the same state, dates, deadlines and escalations."""
        case: CaseFile | None = None
        for e in entries:
            p = e.payload
            if e.event == "register_so":
                self.register_so(SORegistration(**_registration(p, SORegistration, ref=_ref(p))), e.actor,
                                 e.happened_on, authorize=False)  # fmt: skip
                case = self.last_opened
            elif e.event == "register_cp_iso":
                self.register_cp_iso(CpIsoRegistration(**_registration(p, CpIsoRegistration, ref=_ref(p))),
                                     e.actor, e.happened_on, authorize=False)  # fmt: skip
                case = self.last_opened
            elif case is None:
                raise ValueError("a log must start with the case's registration")
            elif e.source is Source.TIMER:
                kind, due = p["deadline"], _as_date(p["due_on"])
                match = [d for d in case.deadlines if d.is_open and d.kind == kind and d.due_on == due
                         and d.escalation_no == e.escalation_no]  # fmt: skip
                if not match:
                    raise ValueError(f"replay: no open {kind} due {due} to pass")
                self.pass_deadline(case, match[0])
            elif e.escalation_no is not None:
                self.fire_escalation(case, e.escalation_no, e.event, p, e.actor, e.happened_on, authorize=False)
            else:
                self.fire(case, e.event, p, e.actor, e.happened_on, authorize=False)
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
        changes.armed.append([_label(d), due])

    def _close_deadline(self, d: Deadline, status: DeadlineStatus, on: date, changes: _Changes) -> None:
        d.status, d.closed_on = status, on
        {DeadlineStatus.MET: changes.met, DeadlineStatus.MISSED: changes.missed,
         DeadlineStatus.CANCELLED: changes.cancelled}[status].append(_label(d))  # fmt: skip

    def _meet(self, case: CaseFile, event: str, on: date, changes: _Changes) -> None:
        for d in case.deadlines:
            if d.is_open and d.escalation_no is None and event in RULES[d.kind].met_by:
                self._close_deadline(d, DeadlineStatus.MET, on, changes)

    def _leave(self, case: CaseFile, new_state: str, on: date, changes: _Changes, *, reentry: bool) -> None:
        for d in case.deadlines:
            if not d.is_open or d.escalation_no is not None:
                continue
            rule = RULES[d.kind]
            if new_state not in rule.alive_in or (reentry and new_state in rule.arms_in and not rule.tracks_date):
                self._close_deadline(d, DeadlineStatus.CANCELLED, on, changes)

    def _enter(self, case: CaseFile, state: str, on: date, changes: _Changes, *, reentry: bool) -> None:
        open_kinds = {d.kind for d in case.deadlines if d.is_open and d.escalation_no is None}
        for rule in _ARMED_BY.get((case.kind, state), ()):
            if rule.kind in open_kinds or rule.tracks_date:
                continue
            due = rule.due(case, self.policy)
            if due is None or (rule.skip_if_past and due < on):
                continue
            self._arm(case, rule, due, state, on, changes)

    def _track_dates(self, case: CaseFile, on: date, changes: _Changes) -> None:
        """Deadlines that follow a case date which can move (expiry, the 26-week date) are kept in step with it."""
        for rule in _TRACKING.get(case.kind, ()):
            if case.state not in rule.alive_in:
                continue
            due = rule.due(case, self.policy)
            if due is None:
                continue
            latest = next((d for d in reversed(case.deadlines) if d.kind == rule.kind), None)
            if latest is not None and latest.due_on == due:
                continue
            if latest is not None and latest.is_open:
                self._close_deadline(latest, DeadlineStatus.CANCELLED, on, changes)
            self._arm(case, rule, due, case.state, on, changes)

    def _close(self, case: CaseFile, on: date, changes: _Changes) -> None:
        """A final case keeps no open deadline (its escalations stay open, for people to close)."""
        for d in case.deadlines:
            if d.is_open:
                self._close_deadline(d, DeadlineStatus.CANCELLED, on, changes)
        case.details["closed_on"] = on.isoformat()

    # -- escalations -----------------------------------------------------------------------------------------------

    def _raise(self, case: CaseFile, reason: str, to: Role, on: date, changes: _Changes,
               deadline_kind: str | None = None, detail: str | None = None) -> Escalation:  # fmt: skip
        esc = Escalation(len(case.escalations) + 1, reason, to, on, deadline_kind=deadline_kind, detail=detail)
        case.escalations.append(esc)
        changes.raised.append([esc.no, reason, to.value])
        cal, p = self.calendar, self.policy
        self._arm(case, RULES["escalation_acknowledgement"], cal.add_working_days(on, p.escalation_acknowledge_wd),
                  EscalationState.raised.value, on, changes, esc)  # fmt: skip
        self._arm(case, RULES["escalation_resolution"], cal.add_working_days(on, p.escalation_resolve_wd),
                  EscalationState.raised.value, on, changes, esc)  # fmt: skip
        return esc

    def _move_escalation(self, case: CaseFile, esc: Escalation, action: str, on: date, changes: _Changes,
                         note: str | None) -> None:  # fmt: skip
        new_state = {"acknowledge": EscalationState.acknowledged, "escalate": EscalationState.escalated,
                     "resolve": EscalationState.resolved}[action]  # fmt: skip
        for d in case.deadlines:
            if d.is_open and d.escalation_no == esc.no:
                rule = RULES[d.kind]
                if action in rule.met_by:
                    self._close_deadline(d, DeadlineStatus.MET, on, changes)
                elif new_state.value not in rule.alive_in or action == "escalate":
                    self._close_deadline(d, DeadlineStatus.CANCELLED, on, changes)
        esc.state = new_state.value
        if action == "escalate":
            up = next_level(esc.raised_to)
            assert up is not None
            esc.raised_to, esc.level = up, esc.level + 1
            if case.state not in FINAL_STATES[case.kind]:
                due = self.calendar.add_working_days(on, self.policy.escalation_resolve_wd)
                self._arm(case, RULES["escalation_resolution"], due, esc.state, on, changes, esc)
        if action == "resolve":
            esc.resolution, esc.closed_on = note, on

    # -- people ----------------------------------------------------------------------------------------------------

    def _person(self, user: str) -> Person:
        person = self.people.get(user)
        if person is None:
            raise Refused(UNKNOWN_PERSON.format(user=user))
        return person

    def _trusted(self, user: str) -> Person:
        return self.people.get(user) or Person(user, Role.SYSTEM)

    def _check_role(self, person: Person, event: str) -> None:
        allowed = EVENT_ROLES[event]
        if person.role not in allowed:
            raise Refused(ROLE_NOT_ALLOWED.format(user=person.user, role=person.role.value, event=event,
                                                  allowed=", ".join(r.value for r in allowed)))  # fmt: skip

    def _check_owner(self, person: Person, event: str, case: CaseFile) -> None:
        label = PERSONAL_EVENTS.get(event)
        owner = case.people.get(label) if label else None
        if owner is None or person.user == owner:
            return
        owner_person = self.people.get(owner)
        if owner_person is not None and owner_person.manager == person.user:
            return
        raise Refused(NOT_THE_OWNER.format(event=event, label=label, owner=owner, user=person.user))

    def _check_people(self, event: str, fields: dict[str, Any]) -> None:
        if event == "allocate_iro":
            iro = self._person(fields["iro"])
            if iro.role is not Role.IRO:
                raise Refused(f"allocate_iro: {iro.user} is a {iro.role.value}, not an iro")
        for user in fields.get("distribution", ()):
            self._person(user)

    def _social_worker(self, named: str | None, actor: Person) -> str | None:
        if named is not None:
            sw = self._person(named)
            if sw.role is not Role.SOCIAL_WORKER:
                raise Refused(f"{named} is a {sw.role.value}, not a social_worker")
            return named
        return actor.user if actor.role is Role.SOCIAL_WORKER else None

    @staticmethod
    def _check_ref(ref: str, child_id: str) -> None:
        if not ref.strip() or ref != ref.strip() or any(c.isspace() for c in ref):
            raise Refused(f"case reference {ref!r} must be non-empty with no spaces")
        if ref.upper().startswith("ESC-"):
            raise Refused(f"case reference {ref!r} may not start with ESC- (that names escalations)")
        if not child_id.strip():
            raise Refused("the child identifier must not be empty")

    def _open_linked_so(self, case: CaseFile, fields: dict[str, Any], person: Person, on: date) -> str:
        ref = fields.get("so_case") or f"{case.ref}-SO"
        reg = SORegistration(ref=ref, child_id=case.child_id, order_date=on, dob=case.dob, notified_on=on,
                             social_worker=case.people.get("social_worker"), opened_from=case.ref)  # fmt: skip
        entry = self.register_so(reg, person.user, on, authorize=False)
        opened = self.last_opened
        self.openings.append(CaseOpening(opened, [entry]))
        case.links.append(ref)
        return ref


# -- what each event writes on the case (dates the deadlines hang from; decisions and free text) ------------------

Effect = Callable[[Casework, CaseFile, dict[str, Any], date], None]


def _no_effect(cw: Casework, case: CaseFile, fields: dict[str, Any], on: date) -> None:
    return None


def _stamp(key: str, *detail_keys: str) -> Effect:
    def effect(cw: Casework, case: CaseFile, fields: dict[str, Any], on: date) -> None:
        case.dates[key] = on
        for k in detail_keys:
            if k in fields:
                case.details[k] = fields[k]

    return effect


def _allocate_iro(cw: Casework, case: CaseFile, fields: dict[str, Any], on: date) -> None:
    case.people["iro"] = fields["iro"]
    case.dates["iro_allocated_on"] = on


def _case_summary(cw: Casework, case: CaseFile, fields: dict[str, Any], on: date) -> None:
    case.dates["case_summary_on"] = on
    case.details["case_summary"] = dict(fields)


def _meeting(key: str) -> Effect:
    def effect(cw: Casework, case: CaseFile, fields: dict[str, Any], on: date) -> None:
        case.dates[key] = case.dates["last_meeting_on"] = on
        case.details[f"{key}_outcome"] = fields["outcome"]
        if "hos_attended" in fields:
            case.details["hos_attended"] = fields["hos_attended"]

    return effect


def _seek_extension(cw: Casework, case: CaseFile, fields: dict[str, Any], on: date) -> None:
    case.dates["extension_sought_on"] = on
    case.details["extension_case"] = dict(fields)


def _court_extends(cw: Casework, case: CaseFile, fields: dict[str, Any], on: date) -> None:
    start = case.dates["expiry"] + timedelta(days=1)
    new: date = fields["new_expiry"]
    case.dates["expiry"] = new
    case.details.setdefault("extensions", []).append({"from": start.isoformat(), "to": new.isoformat()})
    # The next review at the start of the last quarter of the extended period (default, by analogy with month 9).
    months = max(1, _whole_months(start, new + timedelta(days=1)))
    review_month = months - months // cw.policy.extension_review_quarter + 1
    case.dates["review_due"] = start_of_month(start, review_month) if review_month > 1 else start
    case.dates["reconvene_by"] = end_of_month(start, review_month)


def _whole_months(start: date, end: date) -> int:
    months = (end.year - start.year) * 12 + end.month - start.month
    return months - (1 if end.day < start.day else 0)


def _three_way(cw: Casework, case: CaseFile, fields: dict[str, Any], on: date) -> None:
    case.dates["three_way_discussion_on"] = on
    case.details["three_way_decision"] = fields["decision"]
    case.details["case_note"] = fields["case_note"]
    if "move_review_to" in fields:
        case.dates["next_review"] = fields["move_review_to"]


def _cp_review(cw: Casework, case: CaseFile, fields: dict[str, Any], on: date) -> None:
    case.dates["last_review"] = case.dates["cycle_start"] = on
    case.details["last_review_outcome"] = fields["outcome"]
    if fields["outcome"] == "continue_plan":
        case.dates["next_review"] = fields["next_review"]
    else:
        case.dates.pop("next_review", None)


def _final_hearing(cw: Casework, case: CaseFile, fields: dict[str, Any], on: date) -> None:
    case.dates["final_hearing"] = on
    case.details["final_outcome"] = fields["outcome"]


def _extend_proceedings(cw: Casework, case: CaseFile, fields: dict[str, Any], on: date) -> None:
    case.dates["twenty_six_weeks"] = fields["new_date"]
    case.details.setdefault("proceedings_extensions", []).append(fields["new_date"].isoformat())


_EFFECTS: dict[str, Effect] = {
    "allocate_iro": _allocate_iro,
    "record_case_summary": _case_summary,
    "record_first_cin_meeting": _stamp("first_cin_meeting_on"),
    "pass_quality_check": _stamp("quality_checked_on"),
    "fail_quality_check": _stamp("quality_failed_on", "findings"),
    "confirm_remedial_action": _stamp("remedial_action_on", "note"),
    "schedule_review": lambda cw, case, fields, on: case.dates.__setitem__("review_on", fields["review_on"]),
    "hold_review": _meeting("review_held_on"),
    "record_progress": _stamp("progress_on"),
    "hold_reconvened_review": _meeting("reconvened_on"),
    "issue_minutes": _stamp("minutes_issued_on", "distribution"),
    "decide_step_down": _stamp("stepped_down_on"),
    "decide_seek_extension": _seek_extension,
    "approve_application": _stamp("application_approved_on"),
    "decline_application": _stamp("application_declined_on"),
    "file_application": _stamp("application_filed_on"),
    "court_extends": _court_extends,
    "court_refuses": _stamp("extension_refused_on"),
    "discharge": _stamp("discharged_on"),
    "inform_cpc": _stamp("cpc_informed_on"),
    "hold_three_way_discussion": _three_way,
    "complete_single_assessment": _stamp("single_assessment_on"),
    "hold_midway_discussion": _stamp("midway_discussion_on"),
    "hold_cp_review": _cp_review,
    "invite_guardian": _stamp("guardian_invited_on"),
    "record_final_hearing": _final_hearing,
    "extend_proceedings": _extend_proceedings,
}

# Events that raise an escalation of their own: (reason, raised to, free-text detail).
EventEscalation = Callable[[CaseFile, dict[str, Any], Person], "tuple[str, Role, str | None] | None"]
_EVENT_ESCALATIONS: dict[str, EventEscalation] = {
    # "an immediate escalation should be raised with management to ensure agreed actions are fully applied"
    "fail_quality_check": lambda case, f, p: ("quality_check_failed", Role.TEAM_MANAGER, f["findings"]),
    # "an immediate escalation should be raised for an urgent review"
    "hold_review": lambda case, f, p: ("urgent_review", Role.TEAM_MANAGER, None)
    if f["outcome"] == "inconclusive" else None,
    # Bradford: SW's Team Manager ↔ CPC Team Manager first
    "raise_disagreement": lambda case, f, p: (
        "disagreement",
        Role.CPC_TEAM_MANAGER if p.role in (Role.SOCIAL_WORKER, Role.TEAM_MANAGER) else Role.TEAM_MANAGER,
        f["note"],
    ),
}  # fmt: skip

_ARMED_BY: dict[tuple[CaseKind, str], list[DeadlineRule]] = {}
_TRACKING: dict[CaseKind, list[DeadlineRule]] = {}
for _kind, (_machine, _states) in MACHINES.items():
    for _rule in RULES.values():
        if _rule.arms_in & {s.value for s in _states}:
            if _rule.tracks_date:
                _TRACKING.setdefault(_kind, []).append(_rule)
            for _state in _rule.arms_in:
                _ARMED_BY.setdefault((_kind, _state), []).append(_rule)
# Deadlines that follow a movable case date: the rules compare with the latest of each, open or not.
TRACKING_KINDS = frozenset(r.kind for rules in _TRACKING.values() for r in rules)


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else parse_date(str(value))


def _ref(payload: Mapping[str, Any]) -> str:
    return str(payload["ref"])


def _registration(
    payload: Mapping[str, Any], cls: type[SORegistration] | type[CpIsoRegistration], ref: str
) -> dict[str, Any]:
    out: dict[str, Any] = {"ref": ref}
    for name, f in cls.__dataclass_fields__.items():
        if name == "ref" or payload.get(name) is None:
            continue
        value = payload[name]
        out[name] = _as_date(value) if "date" in str(f.type) and not isinstance(value, date) else value
    return out
