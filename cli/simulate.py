"""``orderwatch simulate``: a synthetic caseload lived day by day through the casebook.

Cases of both kinds open on dates spread over the simulated period. Each morning the sweep runs; then the people of
each role do the day's work through the same commands a manager's would be (``Casebook.handle_all``: every
event checked by the state machines and written with its log entry). What each person does, and when, is drawn when
the work appears on their worklist (a deadline is armed): mostly on time, some late, some never, from per-role
distributions (``Behaviour``, configurable from a TOML file). A late action may find the case moved on; the casebook
refuses it, as it would a real one, and the simulation counts the refusal.

Only generated identifiers (``SIM-…``, ``CHILD-…``, ``sim.sw.0001``): no personal data, ever.
"""

from __future__ import annotations

import random
import sys
import time
import tomllib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import Engine, func, select

from machines.calendar import add_months, extension_limit
from machines.cp_iso import CpIsoRegistration
from machines.errors import Refused
from machines.model import CaseFile, CaseKind, Deadline, Role
from machines.policy import Policy
from machines.procedures import PROCEDURES, RULES
from machines.supervision_order import FIVE_QUESTIONS, SORegistration
from storage import models as tables
from storage.casebook import Casebook
from storage.commands import ActOnEscalation, AddPerson, Command, Fire, Register

__all__ = ["Behaviour", "Response", "SimulationResult", "simulate"]


# -- how people respond: the configurable distributions ---------------------------------------------------------------


class Response(BaseModel):
    """How one role answers its work: on time (a uniform day up to the due date), late (an exponential delay past
    it, mean ``late_days_mean``), or never (the rest)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    on_time: float = Field(default=0.85, ge=0, le=1)
    late: float = Field(default=0.12, ge=0, le=1)
    late_days_mean: float = Field(default=7.0, gt=0)

    @model_validator(mode="after")
    def _shares(self) -> Response:
        if self.on_time + self.late > 1:
            raise ValueError("on_time + late must not exceed 1 (the rest never act)")
        return self


class Behaviour(BaseModel):
    """The simulated authority: who responds how, and how decisions fall. Defaults are plausible, not data."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    so_share: float = Field(default=0.4, ge=0, le=1)  # of the cases opened, the share that are Supervision Orders
    default: Response = Response()
    roles: dict[Role, Response] = {
        Role.LEGAL: Response(on_time=0.9, late=0.1),  # the court's timetable mostly holds
        Role.HEAD_OF_SERVICE: Response(on_time=0.8, late=0.17),
    }
    quality_check_fails: float = 0.1
    review_outcomes: dict[str, float] = {"step_down": 0.5, "extend": 0.3, "inconclusive": 0.2}
    reconvened_outcomes: dict[str, float] = {"step_down": 0.6, "extend": 0.4}
    seek_extension: float = 0.4  # the Head of Service's decision after the minutes
    gateway_approves: float = 0.8
    court_extends: float = 0.75
    three_way_step_down: float = 0.4
    midway_step_down: float = 0.15
    review_ends_plan: dict[str, float] = {"step_down_proposed": 0.7, "concurrent": 0.35}
    final_hearing_outcomes: dict[str, float] = {
        "supervision_order": 0.3,
        "care_order": 0.3,
        "no_order": 0.3,
        "other": 0.1,
    }
    disagreement: float = 0.08  # share of CP+ISO cases with a professional disagreement
    discharge: float = 0.02  # share of SO cases the court discharges early

    def response(self, role: Role) -> Response:
        return self.roles.get(role, self.default)

    @classmethod
    def from_toml(cls, path: Path) -> Behaviour:
        """Top-level keys as the fields above; ``[default]`` and ``[roles.<role>]`` tables for responses."""
        with path.open("rb") as fh:
            return cls.model_validate(tomllib.load(fh))


# -- the people of a simulated authority ------------------------------------------------------------------------------


@dataclass
class Staff:
    """Generated users by role, and who manages whom (so escalations reach a real person)."""

    by_role: dict[Role, list[str]] = field(default_factory=lambda: defaultdict(list))
    manager: dict[str, str | None] = field(default_factory=dict)

    def add(self, role: Role, n: int, managers: list[str] | None = None) -> None:
        for i in range(n):
            user = f"sim.{role.value}.{i + 1:04d}"
            self.by_role[role].append(user)
            self.manager[user] = managers[i % len(managers)] if managers else None

    def pick(self, role: Role, key: int) -> str:
        people = self.by_role[role]
        return people[key % len(people)]


def _staff_for(cases: int) -> Staff:
    """Roughly an English authority's ratios: ~25 children per social worker, ~60 per IRO."""
    staff = Staff()
    staff.add(Role.HEAD_OF_SERVICE, max(1, cases // 5000))
    hos = staff.by_role[Role.HEAD_OF_SERVICE]
    staff.add(Role.TEAM_MANAGER, max(1, cases // 150), hos)
    staff.add(Role.SOCIAL_WORKER, max(2, cases // 25), staff.by_role[Role.TEAM_MANAGER])
    staff.add(Role.IRO_MANAGER, max(1, cases // 500), hos)
    staff.add(Role.IRO, max(2, cases // 60), staff.by_role[Role.IRO_MANAGER])
    staff.add(Role.CPC_TEAM_MANAGER, max(1, cases // 500), hos)
    staff.add(Role.CPC, max(2, cases // 60), staff.by_role[Role.CPC_TEAM_MANAGER])
    staff.add(Role.SAFEGUARDING_UNIT, max(1, cases // 2000))
    staff.add(Role.LEGAL, max(1, cases // 1000))
    return staff


# -- the simulation ------------------------------------------------------------------------------------------------


@dataclass
class SimulationResult:
    stats: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return self.stats


Progress = Callable[[int, int], None]


@dataclass
class _World:
    book: Casebook
    policy: Policy
    behaviour: Behaviour
    rng: random.Random
    staff: Staff
    start: date
    plans: dict[date, list[Command]] = field(default_factory=lambda: defaultdict(list))
    planned: dict[str, set[tuple[Any, ...]]] = field(default_factory=lambda: defaultdict(set))
    index: dict[str, int] = field(default_factory=dict)  # case ref -> a stable number (to pick its people)
    refused: Counter[str] = field(default_factory=Counter)
    acts: int = 0
    never: int = 0

    # -- drawing ---------------------------------------------------------------------------------------------------

    def when(self, role: Role, today: date, due: date) -> date | None:
        """The day the person acts on work due ``due`` that reached them ``today`` (None: they never do)."""
        r = self.behaviour.response(role)
        x = self.rng.random()
        first = today + timedelta(days=1)
        if x < r.on_time:
            span = (due - first).days
            return first + timedelta(days=self.rng.randint(0, span)) if span > 0 else first
        if x < r.on_time + r.late:
            return max(first, due + timedelta(days=1 + int(self.rng.expovariate(1 / r.late_days_mean))))
        self.never += 1
        return None

    def choose(self, weights: dict[str, float]) -> str:
        return self.rng.choices(list(weights), weights=list(weights.values()))[0]

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def plan(self, on: date, act: Command) -> None:
        self.plans[on].append(act)

    # -- who --------------------------------------------------------------------------------------------------------

    def person(self, case: CaseFile, role: Role) -> str:
        """The person of ``role`` who would act on this case: its own social worker and IRO, their managers."""
        n = self.index.setdefault(case.ref, len(self.index))
        sw = case.people.get("social_worker") or self.staff.pick(Role.SOCIAL_WORKER, n)
        iro = case.people.get("iro") or self.staff.pick(Role.IRO, n)
        if role is Role.SOCIAL_WORKER:
            return sw
        if role is Role.IRO:
            return iro
        if role is Role.TEAM_MANAGER:
            return self.staff.manager[sw] or self.staff.pick(role, n)
        if role is Role.IRO_MANAGER:
            return self.staff.manager[iro] or self.staff.pick(role, n)
        if role is Role.CPC_TEAM_MANAGER:
            return self.staff.manager[self.staff.pick(Role.CPC, n)] or self.staff.pick(role, n)
        return self.staff.pick(role, n)

    # -- opening cases ----------------------------------------------------------------------------------------------

    def open_case(self, n: int, on: date) -> Command:
        ref = f"SIM-{n + 1:07d}"
        self.index[ref] = n
        sw = self.staff.pick(Role.SOCIAL_WORKER, n)
        age_days = self.rng.randint(30, 16 * 365)  # SOs are not made for children of 17 (s.31(3))
        dob = on - timedelta(days=age_days)
        child = f"CHILD-{n + 1:07d}"
        if self.rng.random() < self.behaviour.so_share:
            order = on - timedelta(days=self.rng.randint(0, 3))
            reg: SORegistration | CpIsoRegistration = SORegistration(
                ref, child, order, dob=dob, notified_on=on, social_worker=sw
            )
            return Register(actor=sw, registration=reg, on=on)
        icpc = on - timedelta(days=self.rng.randint(10, 400))
        last_review = None
        if (on - icpc).days > 80:
            last_review = on - timedelta(days=self.rng.randint(5, min(150, (on - icpc).days - 1)))
            next_review = max(on + timedelta(days=7), add_months(last_review, 6) - timedelta(self.rng.randint(0, 30)))
        else:
            next_review = add_months(icpc, 3) - timedelta(days=self.rng.randint(0, 10))
        issued = on - timedelta(days=self.rng.randint(0, 21))
        final = issued + timedelta(days=self.rng.randint(140, 215))  # some run past the 26-week date
        creg = CpIsoRegistration(
            ref,
            child,
            on,
            next_review,
            last_review=last_review,
            icpc=icpc,
            issued=issued,
            cmh=issued + timedelta(days=self.rng.randint(12, 20)),
            irh=issued + timedelta(days=self.rng.randint(100, 130)),
            final_hearing=final,
            dob=dob,
            social_worker=sw,
        )
        return Register(actor=sw, registration=creg, on=on)

    # -- the work that reaches people ---------------------------------------------------------------------------

    def notice(self, case: CaseFile, today: date) -> None:
        """Plan what people will do about every piece of work on this case not yet planned for."""
        if case.state in PROCEDURES[case.kind].final:
            self.planned.pop(case.ref, None)
            return
        seen = self.planned[case.ref]
        if ("opened",) not in seen:
            seen.add(("opened",))
            self._once_per_case(case, today)
        for d in case.deadlines:
            key = ("deadline", d.kind, d.due_on, d.escalation_no, case.state if d.kind == "month9_review" else "")
            if d.is_open and key not in seen:
                seen.add(key)
                self._work(case, d, today)
        if case.state == "extension_pending" and ("court", case.dates["expiry"]) not in seen:
            seen.add(("court", case.dates["expiry"]))
            self._court_decides(case, today)

    def _once_per_case(self, case: CaseFile, today: date) -> None:
        if case.kind is CaseKind.CP_ISO and self.chance(self.behaviour.disagreement):
            on = today + timedelta(days=self.rng.randint(5, 60))
            note = {"note": "disagreement about whether the CP plan should remain"}
            self.plan(on, _fire(case.ref, "raise_disagreement", self.person(case, Role.TEAM_MANAGER), on, note))
        if case.kind is CaseKind.SUPERVISION_ORDER and self.chance(self.behaviour.discharge):
            on = today + timedelta(days=self.rng.randint(30, 300))
            self.plan(on, _fire(case.ref, "discharge", self.staff.pick(Role.LEGAL, 0), on))

    def _work(self, case: CaseFile, d: Deadline, today: date) -> None:
        rule = RULES[d.kind]
        if d.escalation_no is not None:
            self._escalation_work(case, d, today)
            return
        if rule.passing_is_expected:  # the order running its course: nobody acts
            return
        on = self.when(rule.owner, today, d.due_on)
        if on is None:
            return
        b, ref = self.behaviour, case.ref

        def act(event: str, role: Role, fields: dict[str, Any] | None = None, when: date = on) -> None:
            self.plan(when, _fire(ref, event, self.person(case, role), when, fields or {}))

        match d.kind:
            case "iro_allocation":
                act("allocate_iro", Role.SAFEGUARDING_UNIT, {"iro": self.person(case, Role.IRO)})
            case "case_summary":
                act("record_case_summary", Role.SOCIAL_WORKER,
                    {"other_orders": "none", "court_wording": "as sealed", "plan": "to follow first CIN"})  # fmt: skip
            case "first_cin_meeting":
                act("record_first_cin_meeting", Role.SOCIAL_WORKER)
            case "quality_check":
                if self.chance(b.quality_check_fails):
                    act("fail_quality_check", Role.IRO, {"findings": "plan actions are not SMART"})
                else:
                    act("pass_quality_check", Role.IRO)
            case "management_response":
                act("confirm_remedial_action", Role.TEAM_MANAGER, {"note": "actions re-agreed"})
            case "month9_review":
                if case.state == "plan_in_progress":
                    # scheduled a few weeks ahead, for a day no later than the limit; held that day, or late
                    review_on = min(on, d.due_on)
                    scheduled = max(today + timedelta(days=1), review_on - timedelta(days=self.rng.randint(7, 40)))
                    act("schedule_review", Role.IRO, {"review_on": review_on.isoformat()}, scheduled)
                    act("hold_review", Role.IRO, {"outcome": self.choose(b.review_outcomes)}, max(on, scheduled))
            case "minutes":
                people = {self.person(case, r) for r in (Role.SOCIAL_WORKER, Role.IRO, Role.TEAM_MANAGER)}
                distribution = ",".join(sorted(people | {self.staff.pick(Role.HEAD_OF_SERVICE, 0)}))
                act("issue_minutes", Role.IRO, {"distribution": distribution})
            case "progress_check":
                act("record_progress", Role.SOCIAL_WORKER)
            case "reconvene":
                act("hold_reconvened_review", Role.IRO,
                    {"outcome": self.choose(b.reconvened_outcomes), "hos_attended": "true"})  # fmt: skip
            case "hos_decision":
                if self.chance(b.seek_extension):
                    act("decide_seek_extension", Role.HEAD_OF_SERVICE, {q: "recorded" for q in FIVE_QUESTIONS})
                else:
                    act("decide_step_down", Role.HEAD_OF_SERVICE)
            case "legal_gateway":
                act("approve_application" if self.chance(b.gateway_approves) else "decline_application", Role.LEGAL)
            case "application_filing":
                act("file_application", Role.LEGAL)
            case "inform_cpc":
                act("inform_cpc", Role.SOCIAL_WORKER)
            case "three_way_discussion":
                decision = "step_down" if self.chance(b.three_way_step_down) else "concurrent"
                act("hold_three_way_discussion", Role.CPC, {"decision": decision, "case_note": f"CN-{ref}"})
            case "single_assessment":
                act("complete_single_assessment", Role.SOCIAL_WORKER)
            case "midway_discussion":
                act("hold_midway_discussion", Role.CPC,
                    {"decision": "step_down" if self.chance(b.midway_step_down) else "continue"})  # fmt: skip
            case "guardian_invitation":
                act("invite_guardian", Role.CPC)
            case "cp_review":
                held = max(on, d.due_on) if on >= d.due_on - timedelta(days=3) else d.due_on  # held on its day
                if self.chance(b.review_ends_plan.get(case.state, 0.5)):
                    act("hold_cp_review", Role.CPC, {"outcome": "end_plan"}, held)
                else:
                    nxt = add_months(held, 6) - timedelta(days=self.rng.randint(1, 60))
                    act("hold_cp_review", Role.CPC, {"outcome": "continue_plan", "next_review": nxt.isoformat()}, held)
            case "twenty_six_weeks":
                self._court_timetable(case, d, today)

    def _court_timetable(self, case: CaseFile, d: Deadline, today: date) -> None:
        """The final hearing on its listed day; when that is past the 26-week date, the court extends first."""
        hearing = case.dates.get("final_hearing", d.due_on)
        legal = self.staff.pick(Role.LEGAL, self.index.setdefault(case.ref, len(self.index)))
        if hearing > d.due_on:
            on = max(today + timedelta(days=1), d.due_on - timedelta(days=self.rng.randint(0, 14)))
            new = min(hearing, d.due_on + timedelta(weeks=8))
            self.plan(on, _fire(case.ref, "extend_proceedings", legal, on, {"new_date": new.isoformat()}))
            return
        on = max(today + timedelta(days=1), hearing)
        outcome = self.choose(self.behaviour.final_hearing_outcomes)
        self.plan(on, _fire(case.ref, "record_final_hearing", legal, on, {"outcome": outcome}))

    def _court_decides(self, case: CaseFile, today: date) -> None:
        expiry = case.dates["expiry"]
        on = max(
            today + timedelta(days=1), min(expiry - timedelta(days=1), today + timedelta(self.rng.randint(14, 40)))
        )
        legal = self.staff.pick(Role.LEGAL, self.index.setdefault(case.ref, len(self.index)))
        new = min(add_months(expiry, 12), extension_limit(case.dates["order_date"], case.dob))
        if self.chance(self.behaviour.court_extends) and new > expiry:
            self.plan(on, _fire(case.ref, "court_extends", legal, on, {"new_expiry": new.isoformat()}))
        else:
            self.plan(on, _fire(case.ref, "court_refuses", legal, on))

    def _escalation_work(self, case: CaseFile, d: Deadline, today: date) -> None:
        esc = case.escalation(d.escalation_no or 0)
        on = self.when(esc.raised_to, today, d.due_on)
        if on is None:
            return
        actor = self.person(case, esc.raised_to)
        if d.kind == "escalation_acknowledgement":
            self.plan(on, ActOnEscalation(actor=actor, ref=case.ref, no=esc.no, action="acknowledge", on=on))
        else:
            # resolved after it is acknowledged (the acknowledgement, if any, is due sooner)
            on = max(on, today + timedelta(days=2))
            self.plan(
                on,
                ActOnEscalation(
                    actor=actor, ref=case.ref, no=esc.no, action="resolve", on=on, fields={"note": "resolved"}
                ),
            )


def _fire(ref: str, event: str, actor: str, on: date, fields: dict[str, Any] | None = None) -> Fire:
    return Fire(actor=actor, ref=ref, event=event, on=on, fields=fields or {})


def _event_name(command: Command) -> str:
    if isinstance(command, Register):
        return command.registration.event
    if isinstance(command, ActOnEscalation):
        return command.action
    return str(getattr(command, "event", type(command).__name__))


def _sim_clock(day: list[date]) -> Callable[[], datetime]:
    return lambda: datetime(day[0].year, day[0].month, day[0].day, 9, 0, tzinfo=UTC)


def simulate(
    engine: Engine,
    policy: Policy,
    *,
    cases: int,
    years: float,
    seed: int,
    start: date = date(2025, 1, 1),
    behaviour: Behaviour | None = None,
    replay_sample: int = 200,
    progress: Progress | None = None,
) -> SimulationResult:
    """Open ``cases`` cases over the first ``years`` years from ``start`` and live every day of the period."""
    if cases < 1:
        raise Refused("--cases must be at least 1")
    if not 0 < years <= 10:
        raise Refused("--years must be more than 0 and at most 10")
    if not 0 <= replay_sample <= 10_000_000:
        raise Refused("--replay-sample must be 0 to 10,000,000 cases")
    with engine.connect() as c:
        if c.scalar(select(func.count()).select_from(tables.cases)):
            raise Refused("simulate needs an empty database (it would mix generated cases with real ones)")
    today = [start]
    changed: dict[str, CaseFile] = {}  # the day's changed cases, as the casebook wrote them (no read-back)

    def written(cases: list[CaseFile]) -> None:
        changed.update((c.ref, c) for c in cases)

    book = Casebook(engine, policy, clock=_sim_clock(today), on_commit=written)
    w = _World(book, policy, behaviour or Behaviour(), random.Random(seed), _staff_for(cases), start)
    started = time.perf_counter()
    for role, users in w.staff.by_role.items():
        for user in users:
            book.handle(AddPerson(actor="simulate", user=user, role=role.value, manager=w.staff.manager[user]))
    days = max(1, round(years * 365.25))
    opening_days = sorted(start + timedelta(days=w.rng.randrange(days)) for _ in range(cases))
    for n, on in enumerate(opening_days):
        w.plan(on, w.open_case(n, on))
    swept = Counter[str]()
    for i in range(days + 1):
        day = start + timedelta(days=i)
        today[0] = day
        changed.clear()
        report = book.sweep(day)
        swept["passed"] += report.passed
        acts = w.plans.pop(day, [])
        if acts:
            w.acts += len(acts)
            for act, result in zip(acts, book.handle_all(acts), strict=True):
                if isinstance(result, Refused):
                    w.refused[_event_name(act)] += 1
        for case in changed.values():
            w.notice(case, day)
        if progress is not None:
            progress(i + 1, days + 1)
    wall = time.perf_counter() - started
    stats = _statistics(engine, w, cases, days, wall, swept)
    stats["replay_check"] = _replay_check(engine, book, w.rng, replay_sample)
    return SimulationResult(stats)


def _statistics(engine: Engine, w: _World, cases: int, days: int, wall: float, swept: Counter[str]) -> dict[str, Any]:
    with engine.connect() as c:
        deadlines: dict[str, dict[str, int]] = defaultdict(dict)
        for kind, status, n in c.execute(
            select(tables.deadlines.c.kind, tables.deadlines.c.status, func.count()).group_by(
                tables.deadlines.c.kind, tables.deadlines.c.status
            )
        ):
            deadlines[kind][status] = n
        escalations: dict[str, dict[str, int]] = defaultdict(dict)
        for reason, state, n in c.execute(
            select(tables.escalations.c.reason, tables.escalations.c.state, func.count())
            .group_by(tables.escalations.c.reason, tables.escalations.c.state)
            .order_by(tables.escalations.c.reason)
        ):
            escalations[reason][state] = n
        states: dict[str, dict[str, int]] = defaultdict(dict)
        for kind, state, n in c.execute(
            select(tables.cases.c.kind, tables.cases.c.state, func.count()).group_by(
                tables.cases.c.kind, tables.cases.c.state
            )
        ):
            states[kind][state] = n
        events = c.scalar(select(func.count()).select_from(tables.events)) or 0
        opened = c.scalar(select(func.count()).select_from(tables.cases)) or 0
    return {
        "cases_generated": cases,
        "cases_opened": opened,  # more than generated: a final Supervision Order opens a linked SO case
        "days": days + 1,
        "wall_seconds": round(wall, 2),
        "events_logged": events,
        "actions_attempted": w.acts,
        "actions_refused": dict(sorted(w.refused.items())),
        "work_never_done": w.never,
        "deadlines_passed_by_sweep": swept["passed"],
        "deadlines": {k: dict(sorted(v.items())) for k, v in sorted(deadlines.items())},
        "escalations": {k: dict(sorted(v.items())) for k, v in sorted(escalations.items())},
        "final_states": {k: dict(sorted(v.items())) for k, v in sorted(states.items())},
    }


def _replay_check(engine: Engine, book: Casebook, rng: random.Random, sample: int) -> dict[str, Any]:
    """Replay a random sample of cases' logs and compare with what is stored."""
    with engine.connect() as c:
        refs = sorted(c.scalars(select(tables.cases.c.ref)))
    chosen = rng.sample(refs, min(sample, len(refs)))
    differ = [ref for ref in chosen if not book.replay_matches(ref)]
    return {"sampled": len(chosen), "reproduced": len(chosen) - len(differ), "differ": differ[:20], "ok": not differ}


@contextmanager
def progress_bar(enabled: bool) -> Iterator[Progress | None]:
    """A progress bar on stderr (rich, which Prefect already brings), or nothing when not wanted."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("simulating days"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
    ) as bar:
        task = bar.add_task("days", total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def run_simulation(args: Any) -> dict[str, Any]:
    """``orderwatch simulate``: on ``--db``, or a fresh SQLite file of its own (never the working database)."""
    from pydantic import ValidationError

    from cli.config import load_policy
    from storage.db import make_engine, upgrade

    if not 0 <= args.replay_sample <= 10_000_000:  # before any database is made
        raise Refused("--replay-sample must be 0 to 10,000,000 cases")
    if args.cases > 10_000_000:
        raise Refused("--cases must be at most 10,000,000")
    try:
        behaviour = Behaviour.from_toml(Path(args.behaviour)) if args.behaviour else Behaviour()
    except (OSError, ValueError, ValidationError) as exc:
        raise Refused(f"--behaviour {args.behaviour}: {str(exc).splitlines()[0]}") from None
    url = getattr(args, "db", None)
    if url is None:
        path = Path("var") / f"simulate-{args.seed}.db"
        path.parent.mkdir(exist_ok=True)
        for stale in path.parent.glob(path.name + "*"):
            stale.unlink()
        url = f"sqlite:///{path}"
    engine = make_engine(url)
    try:
        upgrade(engine)
        with progress_bar(not args.no_progress and sys.stderr.isatty()) as progress:
            result = simulate(engine, load_policy(), cases=args.cases, years=args.years, seed=args.seed,
                              start=args.start, behaviour=behaviour, replay_sample=args.replay_sample,
                              progress=progress).as_dict()  # fmt: skip
    finally:
        engine.dispose()
    result["database"] = url
    if not result["replay_check"]["ok"]:
        raise RuntimeError(f"replaying sampled logs did not reproduce {result['replay_check']['differ']}")
    return result
