"""Hypothesis fires random legal and illegal events and sweeps at random dates, through the real casebook on SQLite,
and checks the invariants after every step:

- replaying a case's event log reproduces its state, deadlines and escalations;
- no open deadline belongs to a state the case has left; a final case has no open deadline;
- every missed deadline has its escalation;
- an illegal event changed nothing (every row of every table as before).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from sqlalchemy.pool import StaticPool

from machines.cp_iso import CpIsoRegistration
from machines.errors import Refused
from machines.model import CaseFile, DeadlineStatus
from machines.procedures import PROCEDURES, RULES, case_events
from machines.spec import FieldKind
from machines.supervision_order import CaseState, SORegistration
from storage.casebook import Casebook
from storage.commands import ActOnEscalation, AddPerson, Fire, Register
from storage.models import metadata
from tests.conftest import CAST, FIXED_NOW

SPECS = {spec.name: spec for _, spec in case_events()}
EVENTS = sorted(SPECS)
ACTORS = [user for user, _, _ in CAST]
START = date(2026, 1, 15)


def fingerprint(case: CaseFile) -> Any:
    return (
        case.state,
        case.dates,
        [(d.kind, d.due_on, d.status.value, d.closed_on, d.escalation_no) for d in case.deadlines],
        [(e.no, e.reason, e.state, e.raised_to.value, e.level) for e in case.escalations],
    )


def plausible_fields(event: str, case: CaseFile, on: date, pick: st.DataObject) -> dict[str, Any]:
    """Fields that are often valid for the event (and sometimes not), so that many paths are walked."""
    later = on + timedelta(days=pick.draw(st.integers(1, 200), label="days later"))
    values: dict[str, Any] = {
        "iro": pick.draw(st.sampled_from(["iro1", "iro2", "sw1"]), label="iro"),
        "other_orders": "none",
        "court_wording": "support contact",
        "plan": pick.draw(st.sampled_from(["to_follow", "sw1: weekly visits; Family Hub: parenting"]), label="plan"),
        "criteria_met": pick.draw(
            st.sampled_from(["started_timely,plan_smart,family_life_impact,la_commitment", "started_timely"]),
            label="criteria",
        ),
        "criteria_not_met": "plan_smart",
        "team_manager": pick.draw(st.sampled_from(["tm1", "tm2", "sw1"]), label="team manager"),
        "social_worker": pick.draw(st.sampled_from(["sw1", "sw2", "tm1"]), label="social worker"),
        "participants": pick.draw(st.sampled_from(["sw1,tm1", "sw1"]), label="participants"),
        "meeting_on": case.dates.get("last_meeting_on", on),
        "agenda": pick.draw(
            st.sampled_from(["support_plan_progress,threshold_remains,seek_extension", "threshold_remains"]),
            label="agenda",
        ),
        "issued": on - timedelta(days=pick.draw(st.integers(0, 200), label="issued days ago")),
        "cmh": later,
        "irh": later,
        "final_hearing": later,
        "concurrency_minuted": pick.draw(st.booleans(), label="minuted"),
        "findings": "plan not SMART",
        "note": "noted",
        "review_on": later,
        "outcome": None,
        "hos_attended": pick.draw(st.booleans(), label="hos attended"),
        "distribution": "tm1,hos1,sw1,iro1",
        "new_expiry": case.dates.get("expiry", on) + timedelta(days=pick.draw(st.integers(-10, 400))),
        "decision": None,
        "case_note": "discussed",
        "move_review_to": later,
        "next_review": later,
        "new_date": case.dates.get("twenty_six_weeks", on) + timedelta(weeks=pick.draw(st.integers(0, 9))),
        "why_unsuccessful": "a",
        "ongoing_concerns": "b",
        "proposed_plans": "c",
        "service_commitments": "d",
        "expected_outcomes": "e",
    }
    fields: dict[str, Any] = {}
    for key, spec in SPECS[event].fields.items():
        if not spec.required and pick.draw(st.booleans(), label=f"omit {key}"):
            continue
        if spec.kind is FieldKind.CHOICE:
            fields[key] = pick.draw(st.sampled_from(spec.choices), label=key)
        elif key == "so_case":
            continue
        else:
            value = values[key]
            fields[key] = value.isoformat() if isinstance(value, date) else value
    return fields


def allowed_events(case: CaseFile) -> list[str]:
    proc = PROCEDURES[case.kind]
    machine = proc.machine(model=CaseState(case.state))
    return [e.id for e in machine.allowed_events if not proc.events[e.id].timer]


def rightful_actors(event: str, case: CaseFile) -> list[str]:
    personal = SPECS[event].owner
    if personal and personal in case.people:
        return [case.people[personal]]
    return [user for user, role, _ in CAST if role in SPECS[event].roles] or ACTORS


class CaseworkMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.engine = sa.create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
        metadata.create_all(self.engine)
        self.book = Casebook(self.engine, clock=lambda: FIXED_NOW)
        for user, role, manager in CAST:
            self.book.handle(AddPerson(actor="test", user=user, role=role, manager=manager))
        self.today = START
        self.refs: list[str] = []

    def teardown(self) -> None:
        self.engine.dispose()

    def snapshot(self) -> dict[str, list[Any]]:
        with self.engine.connect() as c:
            return {t.name: sorted(map(repr, c.execute(sa.select(t)).all())) for t in metadata.sorted_tables}

    @initialize()
    def open_cases(self) -> None:
        self.book.handle(Register(actor="sw1", registration=SORegistration("SO-1", "C-1", START, notified_on=START),
                                  on=START))  # fmt: skip
        cp = CpIsoRegistration("CP-1", "C-2", START, date(2026, 3, 1), icpc=date(2026, 1, 5), issued=date(2026, 1, 2))
        self.book.handle(Register(actor="cpc1", registration=cp, on=START))
        self.refs = ["SO-1", "CP-1"]

    @rule(pick=st.data(), days=st.integers(0, 20))
    def fire_event(self, pick: st.DataObject, days: int) -> None:
        ref = pick.draw(st.sampled_from(self.refs), label="case")
        case = self.book.load(ref)
        on = max(self.today, case.last_event_on or self.today) + timedelta(days=days)
        legal = allowed_events(case)
        if legal and pick.draw(st.integers(0, 9), label="legal?") < 8:
            # Mostly a legal event by a rightful actor, so that the walk goes deep; absorbing ends rarely.
            ending = {"discharge", "record_final_hearing"}
            choices = [e for e in legal if e not in ending] or legal
            if pick.draw(st.integers(0, 19), label="end?") == 0:
                choices = legal
            event = pick.draw(st.sampled_from(sorted(choices)), label="event")
            actor = pick.draw(st.sampled_from(rightful_actors(event, case)), label="actor")
        else:
            event = pick.draw(st.sampled_from(EVENTS), label="event")
            actor = pick.draw(st.sampled_from(ACTORS), label="actor")
        fields = plausible_fields(event, case, on, pick)
        before = self.snapshot()
        try:
            result = self.book.handle(Fire(actor=actor, ref=ref, event=event, on=on, fields=fields))
        except Refused:
            assert self.snapshot() == before, "a refused event changed the database"
            return
        self.today = on
        for opened in result.opened:
            self.refs.append(opened)

    @rule(days=st.integers(0, 30))
    def sweep(self, days: int) -> None:
        as_of = self.today + timedelta(days=days)
        first = self.book.sweep(as_of)
        assert self.book.sweep(as_of).passed == 0, "a second sweep for the same date fired something"
        del first
        self.today = as_of

    @rule(pick=st.data(), action=st.sampled_from(["acknowledge", "escalate", "resolve"]))
    def act_on_escalation(self, pick: st.DataObject, action: str) -> None:
        open_ones = self.book.escalations(open_only=True)
        if not open_ones:
            return
        esc = pick.draw(st.sampled_from(open_ones), label="escalation")
        actor = pick.draw(st.sampled_from(ACTORS), label="actor")
        fields = {"note": "sorted"} if pick.draw(st.booleans(), label="with note") else {}
        last = self.book.load(esc.case).last_event_on or self.today
        on = max(self.today, last)
        before = self.snapshot()
        try:
            esc_id = int(esc.id.split("-")[1])
            self.book.handle(ActOnEscalation(actor=actor, escalation=esc_id, action=action, on=on, fields=fields))
        except Refused:
            assert self.snapshot() == before, "a refused escalation action changed the database"
            return
        self.today = on

    @invariant()
    def replay_reproduces_every_case(self) -> None:
        for ref in self.refs:
            assert fingerprint(self.book.replay(ref)) == fingerprint(self.book.load(ref)), ref

    @invariant()
    def deadlines_agree_with_states(self) -> None:
        for ref in self.refs:
            case = self.book.load(ref)
            final = case.state in PROCEDURES[case.kind].final
            escalated_kinds = [e.deadline_kind for e in case.escalations]
            for d in case.deadlines:
                if d.is_open:
                    assert not final, f"{ref} is {case.state} (final) but {d.kind} is open"
                    if d.escalation_no is None:
                        assert case.state in RULES[d.kind].alive_in, f"{ref}: {d.kind} open in {case.state}"
                    else:
                        assert case.escalation(d.escalation_no).state in RULES[d.kind].alive_in
                if d.status is DeadlineStatus.MISSED and d.escalation_no is None:
                    assert d.kind in escalated_kinds, f"{ref}: {d.kind} missed without an escalation"
            missed = sorted(d.kind for d in case.deadlines if d.status is DeadlineStatus.MISSED and not d.escalation_no)
            assert missed == sorted(k for k in escalated_kinds if k is not None), ref


TestCasework = CaseworkMachine.TestCase
TestCasework.settings = settings(
    max_examples=50,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
