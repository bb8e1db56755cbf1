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

import os
import random
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from cli.simulate_behaviour import Behaviour, Response, Staff, staff_for
from cli.simulate_report import replay_check, statistics
from machines.calendar import add_months, extension_limit
from machines.cp_iso import CpIsoRegistration
from machines.errors import Refused
from machines.model import CaseFile, CaseKind, Deadline, Role
from machines.policy import Policy
from machines.procedures import PROCEDURES, RULES
from machines.supervision_order import FIVE_QUESTIONS, QUALITY_CRITERIA, SORegistration
from storage import models as tables
from storage.casebook import Casebook
from storage.commands import ActOnEscalation, AddPerson, Command, Fire, Register

__all__ = ["Behaviour", "Response", "SimulationResult", "simulate"]

TO_FOLLOW = "to_follow"
TASKS = "social worker: weekly home visits; Family Hub: parenting course"


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
    issued: dict[str, date] = field(default_factory=dict)  # CP+ISO: the issue date, known to the social worker
    refused: Counter[str] = field(default_factory=Counter)
    acts: int = 0
    never: int = 0
    late_reviews: int = 0

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
        known = self.chance(self.behaviour.issued_at_registration)  # else the SW tells the CPC with inform_cpc
        self.issued[ref] = issued
        creg = CpIsoRegistration(
            ref,
            child,
            on,
            next_review,
            last_review=last_review,
            icpc=icpc,
            issued=issued if known else None,
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
        last_contact = case.dates.get("last_guardian_contact", case.dates.get("iso_date"))
        if case.kind is CaseKind.CP_ISO and ("contact", last_contact) not in seen:
            seen.add(("contact", last_contact))  # the CPC and the Guardian keep in touch (§3, rev.)
            on = max(today, last_contact or today) + timedelta(
                days=self.rng.randint(*self.behaviour.guardian_contact_days)
            )
            self.plan(on, _fire(case.ref, "record_guardian_contact", self.person(case, Role.CPC), on))

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
                plan = TO_FOLLOW if self.chance(b.plan_to_follow) else TASKS
                act("record_case_summary", Role.SOCIAL_WORKER,
                    {"other_orders": "none", "court_wording": "as sealed", "plan": plan})  # fmt: skip
            case "first_cin_meeting":
                act("record_first_cin_meeting", Role.SOCIAL_WORKER)
            case "support_plan":
                act("record_support_plan", Role.SOCIAL_WORKER, {"plan": TASKS})
            case "quality_check":
                if self.chance(b.quality_check_fails):
                    act("fail_quality_check", Role.IRO,
                        {"criteria_not_met": "plan_smart", "findings": "plan actions are not SMART"})  # fmt: skip
                else:
                    act("pass_quality_check", Role.IRO, {"criteria_met": ",".join(QUALITY_CRITERIA)})
            case "management_response":
                act("confirm_remedial_action", Role.TEAM_MANAGER, {"note": "actions re-agreed"})
            case "month9_review":
                if case.state == "plan_in_progress":
                    self._review(case, d, today, on)
            case "minutes" | "reconvened_minutes":
                people = {self.person(case, r) for r in (Role.SOCIAL_WORKER, Role.IRO, Role.TEAM_MANAGER)}
                distribution = ",".join(sorted(people | {self.staff.pick(Role.HEAD_OF_SERVICE, 0)}))
                held = case.dates["review_held_on" if d.kind == "minutes" else "reconvened_on"]
                fields = {"distribution": distribution, "meeting_on": held.isoformat()}
                if self.chance(b.agenda_partly_covered):
                    fields["agenda"] = self.policy.review_agenda[0]
                act("issue_minutes", Role.IRO, fields)
            case "progress_check":
                act("record_progress", Role.SOCIAL_WORKER)
            case "reconvene":
                act("hold_reconvened_review", Role.IRO,
                    {"outcome": self.choose(b.reconvened_outcomes), "hos_attended": "true"})  # fmt: skip
            case "hos_decision":
                with_tm = {"team_manager": self.person(case, Role.TEAM_MANAGER)}  # decided with the TM (rev.)
                if self.chance(b.seek_extension):
                    act("decide_seek_extension", Role.HEAD_OF_SERVICE,
                        {**with_tm, **{q: "recorded" for q in FIVE_QUESTIONS}})  # fmt: skip
                else:
                    act("decide_step_down", Role.HEAD_OF_SERVICE, with_tm)
            case "legal_gateway":
                act("approve_application" if self.chance(b.gateway_approves) else "decline_application", Role.LEGAL)
            case "application_filing":
                act("file_application", Role.LEGAL)
            case "inform_cpc":
                act(
                    "inform_cpc",
                    Role.SOCIAL_WORKER,
                    {"issued": self.issued.get(ref, case.dates["iso_date"]).isoformat()},
                )
            case "three_way_discussion":
                decision = "step_down" if self.chance(b.three_way_step_down) else "concurrent"
                present = [self.person(case, Role.SOCIAL_WORKER)]
                if not self.chance(b.three_way_without_tm):
                    present.append(self.person(case, Role.TEAM_MANAGER))
                act("hold_three_way_discussion", Role.CPC,
                    {"decision": decision, "case_note": f"CN-{ref}", "participants": ",".join(present)})  # fmt: skip
            case "single_assessment":
                act("complete_single_assessment", Role.SOCIAL_WORKER)
            case "midway_discussion":
                act("hold_midway_discussion", Role.CPC,
                    {"decision": "step_down" if self.chance(b.midway_step_down) else "continue"})  # fmt: skip
            case "guardian_invitation":
                act("invite_guardian", Role.CPC)
            case "cp_review":
                held = max(on, d.due_on) if on >= d.due_on - timedelta(days=3) else d.due_on  # held on its day
                minuted = {"concurrency_minuted": "true" if self.chance(b.concurrency_minuted) else "false"}
                if self.chance(b.review_ends_plan.get(case.state, 0.5)):
                    since, done = case.dates.get("step_down_proposed_on"), case.dates.get("single_assessment_on")
                    if case.state == "step_down_proposed" and since and (done is None or done < since):
                        # the review considers the single assessment: it is completed first (§3, rev.)
                        act("complete_single_assessment", Role.SOCIAL_WORKER, when=held)
                    act("hold_cp_review", Role.CPC, {"outcome": "end_plan", **minuted}, held)
                else:
                    nxt = add_months(held, 6) - timedelta(days=self.rng.randint(1, 60))
                    act("hold_cp_review", Role.CPC,
                        {"outcome": "continue_plan", "next_review": nxt.isoformat(), **minuted}, held)  # fmt: skip
            case "twenty_six_weeks":
                self._court_timetable(case, d, today)

    def _review(self, case: CaseFile, d: Deadline, today: date, on: date) -> None:
        """Scheduled a few weeks ahead for a day in the review window and held that day; or, when the IRO is late,
        scheduled after the review was missed, for a day before the order expires (a late review, never a dead end)."""
        last = case.dates["expiry"] - timedelta(days=1)
        iro = self.person(case, Role.IRO)
        if on <= d.due_on:
            start = case.dates.get("review_window_start", case.dates.get("period_start", today))
            review_on = min(max(on, start), d.due_on)
            scheduled = max(today + timedelta(days=1), review_on - timedelta(days=self.rng.randint(7, 40)))
        else:
            scheduled = on
            review_on = min(on + timedelta(days=self.rng.randint(0, 14)), last)
            if review_on < scheduled:
                return  # too late even for a late review: the order ends first
            self.late_reviews += 1
        self.plan(scheduled, _fire(case.ref, "schedule_review", iro, scheduled, {"review_on": review_on.isoformat()}))
        outcome = self.choose(self.behaviour.review_outcomes)
        self.plan(review_on, _fire(case.ref, "hold_review", iro, review_on, {"outcome": outcome}))

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
    admin: str = "simulate",
) -> SimulationResult:
    """Open ``cases`` cases over the first ``years`` years from ``start`` and live every day of the period
    (``admin``: who adds its staff — an admin, once the database has one)."""
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
    w = _World(book, policy, behaviour or Behaviour(), random.Random(seed), staff_for(cases), start)
    started = time.perf_counter()
    for role, users in w.staff.by_role.items():
        for user in users:
            book.handle(AddPerson(actor=admin, user=user, role=role.value, manager=w.staff.manager[user]))
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
    stats = statistics(engine, w.acts, w.refused, w.never, w.late_reviews, cases, days, wall, swept)
    stats["replay_check"] = replay_check(engine, book, w.rng, replay_sample)
    return SimulationResult(stats)


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


def _admin() -> str:  # who adds the staff: ORDERWATCH_ACTOR (an admin, once one exists), else the server's account
    from storage.access import os_account

    return os.environ.get("ORDERWATCH_ACTOR") or os_account()


def run_simulation(args: Any) -> dict[str, Any]:
    """``orderwatch simulate``: on ``--db``, or a fresh SQLite file of its own (never the working database)."""
    from pydantic import ValidationError

    from storage.config import load_policy
    from storage.db import make_engine
    from storage.migrate import upgrade

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
                              progress=progress, admin=_admin()).as_dict()  # fmt: skip
    finally:
        engine.dispose()
    result["database"] = url
    if not result["replay_check"]["ok"]:
        raise RuntimeError(f"replaying sampled logs did not reproduce {result['replay_check']['differ']}")
    return result
