"""The case pages' parts without a server: who may do what (checked against the rules themselves), the event log
in sentences, the form widgets, due tags, charts and the machine diagrams."""

from __future__ import annotations

import copy
import re
import xml.etree.ElementTree as ET
from datetime import date
from enum import StrEnum
from typing import Any

import pytest
from starlette.datastructures import ImmutableMultiDict

from desk.charts import bar_chart, stacked_chart
from desk.diagram import machine_svg, transitions
from desk.forms import TextInput, read_fields, widget_for
from desk.present import due_tag
from desk.routes.register import registration_fields
from machines.calendar import ENGLAND
from machines.casework import Casework
from machines.errors import Refused
from machines.escalation import ACTIONS
from machines.events import consequences
from machines.model import CaseKind, Escalation, EscalationState, MappingDirectory, Person, Role
from machines.permissions import (
    actions,
    escalation_actions,
    escalation_refusal,
    events_from,
    kinds_met_by,
    queue_kinds,
    refusal,
)
from machines.policy import DEFAULT_POLICY
from machines.procedures import PROCEDURES
from machines.spec import Field, FieldKind, choice, date_field, flag, people, person, text
from machines.wording import LogLine, sentence
from tests.desk.journeys import JOURNEYS

CAST = {
    "hos1": Person("hos1", Role.HEAD_OF_SERVICE),
    "tm1": Person("tm1", Role.TEAM_MANAGER, "hos1"),
    "tm2": Person("tm2", Role.TEAM_MANAGER, "hos1"),
    "sw1": Person("sw1", Role.SOCIAL_WORKER, "tm1"),
    "sw2": Person("sw2", Role.SOCIAL_WORKER, "tm2"),
    "irom1": Person("irom1", Role.IRO_MANAGER, "hos1"),
    "iro1": Person("iro1", Role.IRO, "irom1"),
    "iro2": Person("iro2", Role.IRO, "irom1"),
    "su1": Person("su1", Role.SAFEGUARDING_UNIT),
    "legal1": Person("legal1", Role.LEGAL),
    "cpctm1": Person("cpctm1", Role.CPC_TEAM_MANAGER, "hos1"),
    "cpc1": Person("cpc1", Role.CPC, "cpctm1"),
    "admin1": Person("admin1", Role.ADMIN),
}
DIRECTORY = MappingDirectory(CAST)


def _journey_cases() -> list[tuple[str, Any, Any, list[Any]]]:
    """Each journey run in memory: (name, casework, registration, steps)."""
    return [(name, Casework(DEFAULT_POLICY, DIRECTORY), register(f"U-{name}"), steps)
            for name, (register, steps) in JOURNEYS.items()]  # fmt: skip


# -- permissions agree with the rules ---------------------------------------------------------------------------------


def test_the_events_offered_in_a_state_are_the_machines() -> None:
    for kind, proc in PROCEDURES.items():
        for state in proc.states:
            offered = {s.name for s in events_from(kind, state)}
            machine = proc.machine
            declared = {str(e) for s in machine.states if s.value == state for t in s.transitions for e in t.events}
            assert offered == {e for e in declared if not proc.events[e].timer}, state
            if state in proc.final:
                assert offered == set()


def test_whoever_the_page_offers_an_action_to_the_rules_let_record_it_and_no_one_else() -> None:
    """At every step of every journey, for every person: offered (no refusal) exactly when firing it with the step's
    values is accepted by ``machines.casework``."""
    checked = 0
    for name, work, registration, steps in _journey_cases():
        case = work.open(registration, "sw1", getattr(registration, "notified_on", None) or registration.iso_date).case
        for step in steps:
            for user, who in CAST.items():
                trial = copy.deepcopy(case)
                why = refusal(trial, step.event, who, DIRECTORY)
                try:
                    work.catch_up(trial, step.on)
                    work.fire(trial, step.event, step.values, user, step.on)
                    accepted = True
                except Refused as refused:
                    accepted = False
                    assert why is not None, f"{name}/{step.event}/{user}: offered, but refused: {refused}"
                assert accepted == (why is None), f"{name}/{step.event}/{user}: page says {why!r}"
                checked += 1
            work.catch_up(case, step.on)
            work.fire(case, step.event, step.values, step.actor, step.on)
    assert checked > 500


def test_actions_and_their_refusals_read_as_sentences() -> None:
    from machines.supervision_order import SOState

    case = Casework(DEFAULT_POLICY, DIRECTORY).open(JOURNEYS["so-extension"][0]("U-1"), "sw1", date(2026, 1, 6)).case
    assert [s.name for s in actions(case, CAST["su1"], DIRECTORY)] == ["allocate_iro"]
    assert [s.name for s in actions(case, CAST["sw1"], DIRECTORY)] == ["record_case_summary", "record_support_plan"]
    assert refusal(case, "allocate_iro", CAST["sw1"], DIRECTORY) == (
        "Only these roles may do this: safeguarding unit, safeguarding unit manager, iro manager."
    )
    assert refusal(case, "record_case_summary", CAST["sw2"], DIRECTORY) == (
        "Only the allocated social worker sw1 or their manager may do this, not sw2."
    )
    assert refusal(case, "progress_check", CAST["sw1"], DIRECTORY) == (
        "There is no action called progress_check for this kind of case."
    )
    case.state = SOState.expired
    assert actions(case, CAST["tm1"], DIRECTORY) == []


def test_escalation_actions_follow_its_machine_and_who_it_is_raised_to() -> None:
    esc = Escalation(1, "missed:first_cin_meeting", Role.TEAM_MANAGER, date(2026, 1, 27))
    assert [s.name for s in escalation_actions(esc, CAST["tm1"])] == ["acknowledge", "escalate"]
    assert [s.name for s in escalation_actions(esc, CAST["hos1"])] == ["acknowledge", "escalate"]
    assert escalation_actions(esc, CAST["sw1"]) == []
    assert "only they or a head of service may act on it" in (escalation_refusal(esc, "acknowledge", CAST["sw1"]) or "")
    esc.state = EscalationState.acknowledged
    assert [s.name for s in escalation_actions(esc, CAST["tm1"])] == ["escalate", "resolve"]
    esc.raised_to = Role.HEAD_OF_SERVICE
    assert [s.name for s in escalation_actions(esc, CAST["hos1"])] == ["resolve"]
    assert "top of the escalation ladder" in (escalation_refusal(esc, "escalate", CAST["hos1"]) or "")
    esc.state = EscalationState.escalated
    assert "it cannot be escalated" in (escalation_refusal(esc, "escalate", CAST["hos1"]) or "")
    esc.state = EscalationState.resolved
    assert escalation_refusal(esc, "resolve", CAST["hos1"]) == "This escalation is resolved, so it cannot be resolved."
    assert set(ACTIONS) == {"acknowledge", "escalate", "resolve"}


def test_the_work_a_role_does_comes_from_the_specs() -> None:
    assert kinds_met_by(Role.SOCIAL_WORKER) >= {"first_cin_meeting", "case_summary", "inform_cpc"}
    assert "quality_check" not in kinds_met_by(Role.SOCIAL_WORKER)
    assert queue_kinds(Role.SAFEGUARDING_UNIT) == {"iro_allocation"}
    assert queue_kinds(Role.LEGAL) >= {"legal_gateway", "application_filing", "twenty_six_weeks"}
    assert queue_kinds(Role.SOCIAL_WORKER) == frozenset()  # everything a social worker does is their own cases'


# -- the event log as sentences ---------------------------------------------------------------------------------------


def test_every_entry_of_every_journey_reads_as_sentences() -> None:
    told = []
    for _, work, registration, steps in _journey_cases():
        on = getattr(registration, "notified_on", None) or registration.iso_date
        opened = work.open(registration, "sw1", on)
        case, entries = opened.case, [opened.entry]
        for step in steps:
            entries += work.catch_up(case, step.on)
            entries.append(work.fire(case, step.event, step.values, step.actor, step.on).entry)
        for e in entries:
            line = LogLine(case.kind.value, e.event, e.actor, e.role, e.source.value, e.happened_on, e.payload,
                           consequences(e.changes), e.escalation_no, str(e.from_state), str(e.to_state))  # fmt: skip
            told.append(sentence(line))
    words = [t.headline for t in told] + [d for t in told for d in t.details]
    for w in words:
        assert w.endswith((".", "”.")), w
        assert not re.search(r"\[|\]|\{|\}|None|_", w), w  # no Python lists, no None, no snake_case
    assert "tm1 (team manager) raised a disagreement about the CP plan." in [t.headline for t in told]
    assert any(t.notes == [("What the disagreement is", "the ISO gives enough oversight")] for t in told)
    assert "legal1 (legal) recorded: the court extends the order: new expiry 4 July 2027." in [t.headline for t in told]
    assert any(h.startswith("iro1 (IRO) issued the minutes: distribution sw1, iro1, tm1, hos1.") for h in words)


# -- form widgets -----------------------------------------------------------------------------------------------------


def _read(fields: dict[str, Field], data: list[tuple[str, str]]) -> dict[str, Any]:
    read = read_fields(fields, ImmutableMultiDict(data))
    return {f.key: f.error or f.value for f in read.fields}


def test_each_field_kind_is_read_with_govuk_messages() -> None:
    fields = {"review_on": date_field("Review date"), "outcome": choice("Outcome", "step_down", "extend"),
              "attended": flag("The Head of Service attended"), "iro": person("The IRO", Role.IRO),
              "distribution": people("Distribution"), "findings": text("Findings")}  # fmt: skip
    assert _read(fields, []) == {
        "review_on": "Enter review date", "outcome": "Select outcome", "attended": None, "iro": "Select the IRO",
        "distribution": "Select at least one person for distribution", "findings": "Enter findings",
    }  # fmt: skip
    good = [("field-review_on-day", "2"), ("field-review_on-month", "3"), ("field-review_on-year", "2026"),
            ("field-outcome", "extend"), ("field-attended", "no"), ("field-iro", "iro1"),
            ("field-distribution", "sw1"), ("field-distribution", "tm1"), ("field-distribution-others", "hos1, x y"),
            ("field-findings", "  not SMART  ")]  # fmt: skip
    assert _read(fields, good) == {"review_on": date(2026, 3, 2), "outcome": "extend", "attended": False,
                                   "iro": "iro1", "distribution": ["sw1", "tm1", "hos1", "x y"],
                                   "findings": "not SMART"}  # fmt: skip
    bad = [("field-review_on-day", "30"), ("field-review_on-month", "2"), ("field-review_on-year", "2026"),
           ("field-outcome", "maybe")]  # fmt: skip
    assert _read(fields, bad)["review_on"] == "Review date must be a real date"
    assert _read(fields, bad)["outcome"] == "Select one of the options for outcome"
    partial = [("field-review_on-day", "3"), ("field-review_on-year", "26")]
    assert _read(fields, partial)["review_on"] == "Review date must include a month"


class Novel(StrEnum):
    LIST = "list"
    TASKS = "tasks"
    UNHEARD_OF = "unheard_of"


def test_a_new_field_kind_is_drawn_and_read_until_it_has_a_widget() -> None:
    novel = Field(Novel.UNHEARD_OF, "Something new")  # type: ignore[arg-type]
    widget = widget_for(novel)
    assert isinstance(widget, TextInput) and widget.macro == "govukInput"
    assert _read({"x": novel}, [("field-x", " a value ")]) == {"x": "a value"}
    criteria = Field(Novel.LIST, "Criteria", choices=("timely", "smart"))  # type: ignore[arg-type]
    assert widget_for(criteria).macro == "govukCheckboxes"
    assert _read({"c": criteria}, [("field-c", "smart")]) == {"c": ["smart"]}
    open_list = Field(Novel.LIST, "Agenda items")  # type: ignore[arg-type]
    assert widget_for(open_list).macro == "govukInput"
    tasks = Field(Novel.TASKS, "Plan")  # type: ignore[arg-type]
    assert _read({"p": tasks}, [("field-p", "sw1: visit weekly\r\nschool: report termly\n")]) == {
        "p": "sw1: visit weekly; school: report termly"
    }


def test_registration_forms_come_from_the_registration_dataclasses() -> None:
    so = registration_fields(PROCEDURES[CaseKind.SUPERVISION_ORDER].registration)
    assert list(so) == ["ref", "child_id", "order_date", "expiry", "dob", "notified_on", "social_worker"]
    assert so["order_date"].kind is FieldKind.DATE and so["order_date"].required
    assert so["expiry"].kind is FieldKind.DATE and not so["expiry"].required
    assert so["social_worker"].kind is FieldKind.PERSON and so["social_worker"].role is Role.SOCIAL_WORKER
    cp = registration_fields(PROCEDURES[CaseKind.CP_ISO].registration)
    assert {"iso_date", "next_review", "issued", "final_hearing"} <= set(cp)


# -- due tags, charts, diagrams -----------------------------------------------------------------------------------------


def test_due_tags_count_working_days() -> None:
    friday, monday = date(2026, 11, 20), date(2026, 11, 23)
    assert due_tag(monday, friday, ENGLAND) == ("Due in 1 working day", "govuk-tag--yellow")
    assert due_tag(friday, monday, ENGLAND) == ("Overdue by 1 working day", "govuk-tag--red")
    assert due_tag(date(2026, 11, 21), date(2026, 11, 22), ENGLAND)[0] == "Overdue since 21 November 2026"
    assert due_tag(date(2026, 12, 24), date(2026, 12, 24), ENGLAND)[0] == "Due today"
    assert due_tag(date(2027, 1, 4), date(2026, 12, 24), ENGLAND) == ("Due in 4 working days", "govuk-tag--grey")
    assert due_tag(friday, friday, ENGLAND, missed=True)[1] == "govuk-tag--red"


def _svg(markup: str) -> ET.Element:
    root = ET.fromstring(markup)  # well-formed XML
    assert root.tag.endswith("svg") and root.get("role") == "img"
    ids = root.get("aria-labelledby", "").split()
    titled = {e.get("id") for e in root if e.tag.endswith(("title", "desc"))}
    assert ids and set(ids) == titled
    assert "style=" not in markup and "<script" not in markup
    return root


def test_charts_are_accessible_svg_with_their_numbers() -> None:
    bars = bar_chart("a", "Overdue", "By team", [("tm1's team", 3), ("Legal <queue>", 0)])
    _svg(bars)
    assert ">3<" in bars and "Legal &lt;queue&gt;" in bars
    stacked = stacked_chart("b", "On time", "By month", ["Met", "Missed"], [("Jan", [3, 1]), ("Feb", [0, 0])],
                            notes=["75% on time", "no deadlines"])  # fmt: skip
    _svg(stacked)
    assert "75% on time" in stacked and ">Met<" in stacked
    assert "Nothing to show" in bar_chart("c", "Empty", "Nothing", [])


@pytest.mark.parametrize("use_dot", [True, False], ids=["graphviz", "own-layout"])
@pytest.mark.parametrize("kind", ["so", "cp-iso", "escalation"])
def test_the_machine_diagram_highlights_the_current_state(kind: str, use_dot: bool) -> None:
    import shutil

    if use_dot:
        assert shutil.which("dot"), "Graphviz's dot is needed (.ci/run installs graphviz)"
    drawing = transitions(kind)
    current = drawing.states[1][0]
    markup = machine_svg(kind, current, use_dot=use_dot)
    root = _svg(markup)
    words = dict((sid, w) for sid, w, _ in drawing.states)
    assert f"The current state, {words[current]}, is highlighted." in markup
    texts = " ".join(t.text or "" for t in root.iter() if t.tag.endswith("text"))
    assert "#1d70b8" in markup  # the highlight
    for sid, w, _ in drawing.states:
        assert w.split()[0] in texts, (sid, w)
    if kind == "so":
        assert any(src == "__any__" for src, _, _ in drawing.edges)  # expiry and discharge drawn once
