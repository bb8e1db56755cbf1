"""The vocabulary a procedure is declared in: fields, event specs, deadline rules, the procedure itself.

Each procedure module (``supervision_order``, ``cp_iso``, ``escalation``) declares, in one place each, its states and
machine, its events (:class:`EventSpec`: fields, who may fire it, whose it is, what it meets, writes, raises and
opens) and its deadline rules (:class:`DeadlineRule`). Everything else — the CLI's ``--set`` help, the Prefect form,
the desk's forms, the README's tables, the simulator's choices — is derived from these declarations.

>>> f = choice("Outcome", "step_down", "extend")
>>> f.parse("hold_review", "outcome", "extend")
'extend'
>>> f.parse("hold_review", "outcome", "maybe")
Traceback (most recent call last):
...
machines.errors.FieldProblem: hold_review: outcome must be one of step_down, extend (got 'maybe')

A ``FieldProblem`` is a ``Refused`` (exit 2, nothing changed) that also carries what is wrong on its own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, cast

from machines.calendar import in_range, parse_date
from machines.errors import FieldProblem, Refused
from machines.model import CaseFile, CaseKind, Directory, Person, Role
from machines.names import shown
from machines.policy import Policy

if TYPE_CHECKING:
    from statemachine import StateMachine
    from statemachine.event import Event

__all__ = [
    "DeadlineRule",
    "Effect",
    "EventSpec",
    "Field",
    "FieldKind",
    "Procedure",
    "Raised",
    "Registration",
    "Tell",
    "choice",
    "date_field",
    "deadline",
    "describe_due",
    "event",
    "flag",
    "items",
    "note",
    "people",
    "person",
    "tasks",
    "text",
]


class FieldKind(StrEnum):
    TEXT = "text"  # free text: may carry personal data, so it never becomes a Prefect parameter
    DATE = "date"
    CHOICE = "choice"
    BOOL = "bool"
    PERSON = "person"  # a user name
    PEOPLE = "people"  # user names, comma-separated on the command line
    LIST = "list"  # words (criteria, agenda items), comma-separated on the command line
    TASKS = "tasks"  # free text: "owner: task; owner: task" (an owner may be an agency, not a user)


_TRUE, _FALSE = ("true", "yes"), ("false", "no")


@dataclass(frozen=True, slots=True)
class Field:
    """One field an event carries (``--set KEY=VALUE``; a form field in the desk)."""

    kind: FieldKind
    label: str
    required: bool = True
    choices: tuple[str, ...] = ()
    hint: str = ""
    role: Role | None = None  # PERSON: the role the named person must hold
    marker: str | None = None  # TASKS: a word accepted instead of tasks ("to_follow")

    @property
    def free_text(self) -> bool:
        return self.kind in (FieldKind.TEXT, FieldKind.TASKS)

    def parse(self, event: str, key: str, raw: Any) -> Any:
        """The value, checked and typed; a malformed one is refused naming the event and the key."""
        if isinstance(raw, str):
            raw = raw.strip()
        if raw in ("", None):
            raise FieldProblem(event, key, " must not be empty")
        if self.kind is FieldKind.DATE:
            if isinstance(raw, date):
                if not in_range(raw):
                    raise FieldProblem(event, key, f": {raw} is outside the years 1900-2100")
                return raw
            try:
                return parse_date(str(raw))
            except ValueError as exc:
                raise FieldProblem(event, key, f": {exc}") from None
        if self.kind is FieldKind.CHOICE:
            if raw not in self.choices:
                raise FieldProblem(event, key, f" must be one of {', '.join(self.choices)} (got {shown(raw)})")
            return raw
        if self.kind is FieldKind.BOOL:
            if isinstance(raw, bool):
                return raw
            if str(raw).lower() in _TRUE:
                return True
            if str(raw).lower() in _FALSE:
                return False
            raise FieldProblem(event, key, f" must be true or false (got {shown(raw)})")
        if self.kind is FieldKind.PEOPLE:
            names = raw if isinstance(raw, list) else [n.strip() for n in str(raw).split(",") if n.strip()]
            if not names:
                raise FieldProblem(event, key, " must name at least one person")
            return [str(n) for n in names]
        if self.kind is FieldKind.LIST:
            return self._words(event, key, raw)
        if self.kind is FieldKind.TASKS:
            return self._tasks(event, key, raw)
        return str(raw)

    def _words(self, event: str, key: str, raw: Any) -> list[str]:
        words = [str(w).strip() for w in raw] if isinstance(raw, list) else str(raw).split(",")
        words = [w.strip() for w in words if w.strip()]
        if not words:
            raise FieldProblem(event, key, " must list at least one item")
        unknown = [w for w in words if self.choices and w not in self.choices]
        if unknown:
            raise FieldProblem(event, key, f": unknown item {unknown[0]!r} (one of {', '.join(self.choices)})")
        if len(set(words)) != len(words):
            raise FieldProblem(event, key, " lists an item twice")
        return words

    def _tasks(self, event: str, key: str, raw: Any) -> str | list[dict[str, str]]:
        if self.marker is not None and raw == self.marker:
            return self.marker
        if isinstance(raw, list):  # as stored (replay, JSON): [{"owner": ..., "task": ...}]
            pairs = [(str(t.get("owner", "")), str(t.get("task", ""))) for t in raw if isinstance(t, Mapping)]
        else:
            pairs = [(o, t) for o, _, t in (part.partition(":") for part in str(raw).split(";") if part.strip())]
        out = []
        for n, (owner, task) in enumerate(pairs, 1):
            if not owner.strip() or not task.strip():
                raise FieldProblem(event, key, f": task {n} must be 'owner: task' (who is responsible for what)")
            out.append({"owner": owner.strip(), "task": task.strip()})
        if not out:
            raise FieldProblem(event, key, " must list at least one task ('owner: task; owner: task')")
        return out

    def describe(self) -> str:
        """How the README and ``--set`` help show it: the key's value, and whether it is optional."""
        if self.kind is FieldKind.CHOICE:
            values = " | ".join(self.choices)
        elif self.kind is FieldKind.BOOL:
            values = "true | false"
        elif self.kind is FieldKind.PEOPLE:
            values = "comma-separated people"
        elif self.kind is FieldKind.PERSON:
            values = f"a person with role {self.role}" if self.role else "a person"
        elif self.kind is FieldKind.LIST:
            values = f"comma-separated of {' | '.join(self.choices)}" if self.choices else "comma-separated items"
        elif self.kind is FieldKind.TASKS:
            values = "'owner: task; owner: task'" + (f" or {self.marker}" if self.marker else "")
        else:
            values = self.kind.value
        return values if self.required else f"optional {values}"


def text(label: str, *, required: bool = True, hint: str = "") -> Field:
    return Field(FieldKind.TEXT, label, required, hint=hint)


def note(label: str = "Note", *, required: bool = False) -> Field:
    return Field(FieldKind.TEXT, label, required)


def date_field(label: str, *, required: bool = True, hint: str = "") -> Field:
    return Field(FieldKind.DATE, label, required, hint=hint)


def choice(label: str, *choices: str, required: bool = True, hint: str = "") -> Field:
    return Field(FieldKind.CHOICE, label, required, choices, hint)


def flag(label: str, *, required: bool = False, hint: str = "") -> Field:
    return Field(FieldKind.BOOL, label, required, hint=hint)


def person(label: str, role: Role | None = None, *, required: bool = True) -> Field:
    return Field(FieldKind.PERSON, label, required, role=role)


def people(label: str, *, required: bool = True, hint: str = "") -> Field:
    return Field(FieldKind.PEOPLE, label, required, hint=hint)


def items(label: str, *choices: str, required: bool = True, hint: str = "") -> Field:
    """Comma-separated words, each one of ``choices`` (any word when there are none: checked elsewhere)."""
    return Field(FieldKind.LIST, label, required, choices, hint)


def tasks(label: str, *, marker: str | None = None, required: bool = True, hint: str = "") -> Field:
    """Tasks, each with its owner; ``marker`` is a word accepted instead (the plan follows later)."""
    return Field(FieldKind.TASKS, label, required, hint=hint, marker=marker)


# -- what an event does --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Raised:
    """An escalation an event raises of its own accord (a failed quality check, an inconclusive review, …)."""

    reason: str
    to: Role
    detail: str | None = None  # free text: stays in the database


@dataclass(frozen=True, slots=True)
class Tell:
    """Someone told of what happened (PROCEDURES §7): a named person, or every holder of a role. ``about`` is what
    the notice says — references, dates, user names; never personal data (storage adds the child's identifier to
    the one notice the seed names: the Safeguarding Unit's registration notice)."""

    kind: str  # registration | iro_allocated
    user: str | None = None
    role: Role | None = None
    about: tuple[tuple[str, str], ...] = ()


Effect = Callable[[CaseFile, dict[str, Any], date, Policy], None]  # what the event writes on the case


Raises = Callable[[CaseFile, dict[str, Any], Person], "Raised | None"]
Opens = Callable[[CaseFile, dict[str, Any], date], "Registration | None"]  # a case this event opens
# Flags on the record of an event accepted although not as the procedure would have it: (flag, detail) pairs.
Flags = Callable[[CaseFile, dict[str, Any], Person, Directory, Policy], list[tuple[str, str]]]
Tells = Callable[[CaseFile, dict[str, Any], Person, Directory], list[Tell]]
MeetsOnly = Callable[[CaseFile, dict[str, Any]], frozenset[str]]


@dataclass(frozen=True, slots=True)
class EventSpec:
    """An event of a procedure, declared once: its fields, who may fire it, and what it does besides moving."""

    name: str
    title: str  # what it records, as a manager says it ("Allocate a named IRO")
    roles: tuple[Role, ...]
    fields: Mapping[str, Field] = field(default_factory=dict)
    owner: str | None = None  # the case's person it belongs to ("iro", "social_worker"): they or their manager
    meets: frozenset[str] = frozenset()  # the deadline kinds it meets
    effect: Effect | None = None
    raises: Raises | None = None
    opens: Opens | None = None
    confirm: bool = False  # consequential: the desk asks to check the answers first
    timer: bool = False  # fired by the sweep when its deadline passes, never by hand
    meets_only: MeetsOnly | None = None  # which of ``meets`` this firing meets (minutes: the meeting they minute)
    flags: Flags | None = None
    tells: Tells | None = None  # who is told (PROCEDURES §7)

    @property
    def free_text(self) -> bool:
        """Does a required field carry free text (so it is never offered through Prefect)?"""
        return any(f.free_text and f.required for f in self.fields.values())

    def parse(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """Check fields against the spec: unknown keys, missing required ones, malformed values."""
        unknown = sorted(set(raw) - set(self.fields))
        if unknown:
            allowed = ", ".join(self.fields) or "none"
            raise Refused(f"{self.name}: unknown field {shown(unknown[0])} (allowed: {allowed})")
        parsed: dict[str, Any] = {}
        for key, spec in self.fields.items():
            if key not in raw:
                if spec.required:
                    raise Refused(f"{self.name}: {key} is required")
                continue
            parsed[key] = spec.parse(self.name, key, raw[key])
        return parsed


def event(
    name: str,
    title: str,
    roles: Iterable[Role],
    *,
    fields: Mapping[str, Field] | None = None,
    owner: str | None = None,
    meets: Iterable[str] = (),
    effect: Effect | None = None,
    raises: Raises | None = None,
    opens: Opens | None = None,
    confirm: bool = False,
    timer: bool = False,
    meets_only: MeetsOnly | None = None,
    flags: Flags | None = None,
    tells: Tells | None = None,
) -> EventSpec:
    """An event spec; a plain event takes an optional note."""
    return EventSpec(
        name,
        title,
        tuple(roles),
        dict(fields) if fields is not None else {"note": note()},
        owner,
        frozenset(meets),
        effect,
        raises,
        opens,
        confirm,
        timer,
        meets_only,
        flags,
        tells,
    )


# -- deadlines -----------------------------------------------------------------------------------------------------

Due = Callable[[CaseFile, Policy], "date | None"]


@dataclass(frozen=True, slots=True)
class DeadlineRule:
    """A deadline: armed on entering a state, due when, met by what, escalated to whom when missed."""

    kind: str
    what: str  # what must happen by the due date, in the domain's words
    owner: Role  # who must act (the worklist's role)
    escalate_to: Role  # who hears of it when it is missed
    armed_in: frozenset[str]  # entering one of these states arms it
    alive_in: frozenset[str]  # it stays open only while the case is in one of these
    due: Due
    met_by: frozenset[str] = frozenset()  # derived from the events' ``meets``
    timer: str | None = None  # the event its passing fires on the case
    tracks_date: bool = False  # follows a case date that can move (expiry, 26-week date): re-armed when it does
    skip_if_past: bool = False  # not armed when its date has already passed on arming
    passing_is_expected: bool = False  # its passing is the order running its course, not a miss
    shown_from: Due | None = None  # the worklist shows it from this date, however far off it is
    passing_raises: Callable[[CaseFile], Raised | None] | None = None  # an escalation its passing raises anyway
    at_opening: bool = False  # judged once, when the case opens: met if it opens by the due date, else missed
    late_is_today: bool = False  # a date already past when it is armed is due that day (not skipped)
    when_missed: Callable[[CaseFile, date], None] | None = None  # what its being missed writes on the case


def _states(value: str | Iterable[str]) -> frozenset[str]:
    return frozenset([value] if isinstance(value, str) else value)


def deadline(
    kind: str,
    what: str,
    *,
    owner: Role,
    escalate_to: Role,
    armed_in: str | Iterable[str],
    due: Due,
    alive_in: str | Iterable[str] | None = None,
    timer: str | None = None,
    tracks_date: bool = False,
    skip_if_past: bool = False,
    passing_is_expected: bool = False,
    shown_from: Due | None = None,
    passing_raises: Callable[[CaseFile], Raised | None] | None = None,
    at_opening: bool = False,
    late_is_today: bool = False,
    when_missed: Callable[[CaseFile, date], None] | None = None,
) -> DeadlineRule:
    """A deadline rule; by default it stays alive only in the states that arm it."""
    armed = _states(armed_in)
    alive = armed if alive_in is None else _states(alive_in)
    return DeadlineRule(kind, what, owner, escalate_to, armed, alive, due, frozenset(), timer, tracks_date,
                        skip_if_past, passing_is_expected, shown_from, passing_raises, at_opening,
                        late_is_today, when_missed)  # fmt: skip


# -- registrations and procedures ----------------------------------------------------------------------------------


class Registration:
    """What opens a case (the procedure's registration dataclass derives from this)."""

    kind: ClassVar[CaseKind]
    event: ClassVar[str]  # the log entry that opens the case ("register_so")
    ref: str

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Registration:
        """Rebuild the registration from its log entry's payload (replay)."""
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            value = payload.get(f.name)
            if value is None:
                continue
            if "date" in str(f.type) and not isinstance(value, date):
                value = parse_date(str(value))
            values[f.name] = value
        return cls(**values)


@dataclass(frozen=True)
class Procedure:
    """A case procedure: its states, machine, events and deadline rules, and how a case of it opens."""

    kind: CaseKind
    version: str  # recorded on every case (``show``'s ``version``)
    title: str
    states: type[StrEnum]
    machine: type[StateMachine]
    events: Mapping[str, EventSpec]
    deadlines: Mapping[str, DeadlineRule]
    register_roles: tuple[Role, ...]
    registration: type[Registration]
    open: Callable[..., tuple[CaseFile, dict[str, Any]]]  # (registration, actor, on, people) -> case, payload
    final: frozenset[str] = frozenset()
    latest_due: Callable[[CaseFile], date | None] | None = None  # no deadline of the case falls after this date
    tells_on_opening: Callable[[CaseFile, Person], list[Tell]] | None = None

    @property
    def live(self) -> frozenset[str]:
        return frozenset(s.value for s in self.states) - self.final


def declare(
    *,
    kind: CaseKind,
    version: str,
    title: str,
    states: type[StrEnum],
    machine: type[StateMachine],
    events: Iterable[EventSpec],
    deadlines: Iterable[DeadlineRule],
    register_roles: Iterable[Role],
    registration: type[Registration],
    open: Callable[..., tuple[CaseFile, dict[str, Any]]],
    latest_due: Callable[[CaseFile], date | None] | None = None,
    tells_on_opening: Callable[[CaseFile, Person], list[Tell]] | None = None,
) -> Procedure:
    """Check a procedure's declarations against each other and derive what follows from them.

    Every event of the machine has exactly one spec and every spec an event; every deadline an event meets, and
    every timer a deadline fires, exists. ``met_by`` of each deadline is derived from the events' ``meets``.
    """
    specs = {s.name: s for s in events}
    machine_events = {e.id for e in cast("list[Event]", machine.events)}
    if set(specs) != machine_events:
        missing, extra = sorted(machine_events - set(specs)), sorted(set(specs) - machine_events)
        raise TypeError(f"{title}: events without a spec {missing}, specs without an event {extra}")
    rules = {r.kind: r for r in deadlines}
    for spec in specs.values():
        unknown = spec.meets - set(rules)
        if unknown:
            raise TypeError(f"{title}: {spec.name} meets unknown deadlines {sorted(unknown)}")
    for rule in rules.values():
        if rule.timer is not None and (rule.timer not in specs or not specs[rule.timer].timer):
            raise TypeError(f"{title}: deadline {rule.kind} fires {rule.timer!r}, which is not a timer event")
    rules = {
        k: dataclasses.replace(r, met_by=frozenset(s.name for s in specs.values() if k in s.meets))
        for k, r in rules.items()
    }
    final = frozenset(s.value for s in machine.final_states)
    return Procedure(kind, version, title, states, machine, specs, rules, tuple(register_roles), registration,
                     open, final, latest_due, tells_on_opening)  # fmt: skip


# -- due dates, by keyword: the common shapes of PROCEDURES' timescales ---------------------------------------------


@dataclass(frozen=True, slots=True)
class _DueRule:
    """A due-date rule that can say what it is (the README's deadline table is made from ``text``)."""

    text: str
    rule: Due

    def __call__(self, case: CaseFile, policy: Policy) -> date | None:
        return self.rule(case, policy)


def _days(policy: Policy, days: str | int) -> int:
    return days if isinstance(days, int) else int(getattr(policy, days))


def _days_text(days: str | int) -> str:
    if isinstance(days, int):
        return f"{days} WD"
    return f"{getattr(Policy(), days)} WD (*default*, `{days}`)"


def working_days_after(date_key: str, days: str | int) -> Due:
    """``days`` working days after the case date ``date_key`` (``days``: a number, or a policy setting's name)."""

    def due(case: CaseFile, policy: Policy) -> date | None:
        anchor = case.dates.get(date_key)
        return None if anchor is None else policy.calendar.add_working_days(anchor, _days(policy, days))

    return _DueRule(f"{_days_text(days)} after `{date_key}`", due)


def working_days_before(date_key: str, days: str | int) -> Due:
    """``days`` working days before the case date ``date_key``."""

    def due(case: CaseFile, policy: Policy) -> date | None:
        anchor = case.dates.get(date_key)
        return None if anchor is None else policy.calendar.subtract_working_days(anchor, _days(policy, days))

    return _DueRule(f"{_days_text(days)} before `{date_key}`", due)


def on_date(date_key: str) -> Due:
    """The case date ``date_key`` itself."""
    return _DueRule(f"`{date_key}`", lambda case, policy: case.dates.get(date_key))


def describe_due(due: Due) -> str:
    """What a due-date rule is, in words: its own text, else its docstring's first line."""
    text = getattr(due, "text", None)
    if isinstance(text, str):
        return text
    doc = (getattr(due, "__doc__", None) or "").strip().splitlines()
    return doc[0].rstrip(".") if doc else getattr(due, "__name__", "see the procedure module")
