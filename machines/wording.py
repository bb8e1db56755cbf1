"""Words for people: states, roles, deadlines, escalation reasons and dates in plain English, and a case's event log
written as sentences. Pure: made from the procedure declarations (event titles, field labels, deadline ``what``),
with a fallback for anything declared later, so a new event or state reads sensibly without touching this module.

>>> from datetime import date
>>> told = sentence(LogLine("so", "allocate_iro", "su1", "safeguarding_unit", "manual", date(2026, 1, 20),
...                 {"iro": "iro1"}, {"met": ["iro_allocation"], "armed": [["first_cin_meeting", "2026-02-05"]]},
...                 from_state="registered", to_state="awaiting_first_cin"))
>>> told.headline
'su1 (Safeguarding Unit) allocated a named IRO: the IRO iro1.'
>>> told.details
['The case moved from “Registered: waiting for a named IRO” to “Waiting for the first Child-in-Need meeting”.', 'Done in time: allocate a named IRO.', 'Now due: hold the first Child-in-Need meeting by 5 February 2026.']
>>> long_date(date(2026, 3, 2)), role_words("iro_manager"), state_words("cp-iso", "concurrent")
('2 March 2026', 'IRO manager', 'CP plan and ISO running concurrently')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from machines import escalation as escalations
from machines.calendar import parse_date
from machines.model import CaseKind
from machines.procedures import PROCEDURES, RULES
from machines.spec import EventSpec

__all__ = [
    "LogLine",
    "Told",
    "date_label",
    "deadline_words",
    "escalation_reason_words",
    "event_title",
    "long_date",
    "role_words",
    "sentence",
    "state_words",
    "value_words",
    "words",
]

ROLE_WORDS = {
    "iro": "IRO",
    "iro_manager": "IRO manager",
    "cpc": "CPC",
    "cpc_team_manager": "CPC team manager",
    "head_of_service": "Head of Service",
    "safeguarding_unit": "Safeguarding Unit",
    "safeguarding_unit_manager": "Safeguarding Unit manager",
    "system": "orderwatch",
}
# What is going on in each state (PROCEDURES §2–§4); a state declared later reads as its name.
STATE_WORDS = {
    "registered": "Registered: waiting for a named IRO",
    "awaiting_first_cin": "Waiting for the first Child-in-Need meeting",
    "quality_check_due": "Waiting for the IRO's quality check",
    "quality_escalated": "Quality check failed: escalated to management",
    "plan_in_progress": "Plan in progress",
    "review_scheduled": "Review scheduled",
    "urgent_review": "Urgent review: progress to be shown within two weeks",
    "escalated_to_hos": "No progress: escalated to the Head of Service",
    "reconvene_pending": "Progress made: the review to be reconvened",
    "minutes_pending": "Waiting for the review's minutes",
    "hos_decision_pending": "Waiting for the Head of Service's decision",
    "legal_gateway": "At Legal Gateway",
    "extension_application": "Application to extend to be filed",
    "extension_pending": "Waiting for the court to decide on an extension",
    "stepping_down": "Stepping down",
    "expired": "Expired",
    "discharged": "Discharged by the court",
    "iso_granted": "ISO granted: the CPC to be told",
    "discussion_pending": "Waiting for the 3-way discussion",
    "step_down_proposed": "Step-down proposed",
    "concurrent": "CP plan and ISO running concurrently",
    "cin_with_court_oversight": "CIN plan with the court's oversight",
    "proceedings_concluded": "Proceedings concluded",
    "raised": "Raised",
    "acknowledged": "Acknowledged",
    "escalated": "Escalated a level",
    "resolved": "Resolved",
}
REASON_WORDS = {
    "quality_check_failed": "The quality check failed",
    "urgent_review": "The review was inconclusive: urgent review",
    "disagreement": "A disagreement about the CP plan",
    "expired_with_extension_pending": "The order expired with an extension still being sought",
}
DATE_LABELS = {
    "iso_date": "ISO granted",
    "icpc": "Initial child protection conference",
    "cmh": "Case management hearing",
    "irh": "Issues resolution hearing",
    "twenty_six_weeks": "26-week date",
    "dob": "Date of birth",
    "review_due": "Review due by",
    "reconvene_by": "Reconvene by",
    "review_on": "Review date",
}
_ACRONYMS = {"iro": "IRO", "cin": "CIN", "cp": "CP", "cpc": "CPC", "iso": "ISO", "so": "SO", "hos": "Head of Service",
             "sw": "social worker", "tm": "team manager", "sgo": "SGO", "cao": "CAO"}  # fmt: skip
# The past tense of the verbs event titles begin with ("Allocate a named IRO" -> "allocated a named IRO").
PAST = {
    "allocate": "allocated", "record": "recorded", "confirm": "confirmed", "schedule": "scheduled",
    "issue": "issued", "decide": "decided", "file": "filed", "make": "made", "invite": "invited",
    "raise": "raised", "acknowledge": "acknowledged", "escalate": "escalated", "resolve": "resolved",
    "hold": "held", "complete": "completed", "inform": "informed", "extend": "extended", "discharge": "discharged",
    "approve": "approved", "decline": "declined", "register": "registered", "add": "added", "end": "ended",
    "amend": "amended", "appoint": "appointed", "send": "sent", "set": "set", "move": "moved",
}  # fmt: skip


def words(name: str) -> str:
    """A snake_case name as words, acronyms kept: ``first_cin_meeting_on`` -> ``First CIN meeting on``."""
    parts = [_ACRONYMS.get(p, p) for p in str(name).split("_") if p]
    text = " ".join(parts)
    return text[:1].upper() + text[1:] if text else text


def long_date(d: date | str | None) -> str:
    """A date as GOV.UK writes it: ``2 March 2026``."""
    if d is None:
        return ""
    if isinstance(d, str):
        d = parse_date(d)
    return f"{d.day} {d:%B %Y}"


def role_words(role: str) -> str:
    return ROLE_WORDS.get(str(role), str(role).replace("_", " "))


def state_words(kind: str, state: str) -> str:
    """What is going on in a case (or an escalation) in this state."""
    return STATE_WORDS.get(str(state), words(str(state)))


def deadline_words(kind: str) -> str:
    """What must happen by a deadline (the rule's ``what``), e.g. ``allocate a named IRO``."""
    base, _, no = kind.partition("#")
    rule = RULES.get(base)
    what = rule.what if rule else words(base).lower()
    return f"{what} (escalation {no})" if no else what


def escalation_reason_words(reason: str) -> str:
    """Why an escalation was raised, in words."""
    if reason.startswith("missed:"):
        return f"Missed: {deadline_words(reason.removeprefix('missed:'))}"
    return REASON_WORDS.get(reason, words(reason))


def date_label(key: str) -> str:
    """A case date's label: ``order_date`` -> ``Order date``."""
    return DATE_LABELS.get(key, words(key))


def value_words(value: Any) -> str:
    """A recorded value as words: dates in full, choices as words, lists joined, booleans as yes or no."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, date):
        return long_date(value)
    if isinstance(value, (list, tuple)):
        return ", ".join(value_words(v) for v in value)
    if isinstance(value, Mapping):
        return "; ".join(f"{words(str(k)).lower()} {value_words(v)}" for k, v in value.items())
    text = str(value)
    if len(text) == 10 and text[4] == "-" and text[7] == "-":
        try:
            return long_date(parse_date(text))
        except ValueError:
            return text
    return text.replace("_", " ") if text.isidentifier() else text


# -- the event log as sentences ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LogLine:
    """One event-log entry, as stored: what happened, who did it, when, with what, and what it did."""

    case_kind: str
    event: str
    actor: str
    role: str
    source: str
    on: date
    payload: Mapping[str, Any]
    consequences: Mapping[str, list[Any]]
    escalation_no: int | None = None
    from_state: str = ""
    to_state: str = ""


@dataclass(frozen=True, slots=True)
class Told:
    """An entry in words: one headline sentence, further sentences, and any free text recorded (label, text)."""

    headline: str
    details: list[str] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)


def _spec(line: LogLine) -> EventSpec | None:
    return _spec_of(line.case_kind, line.event, escalation=line.escalation_no is not None)


def _spec_of(case_kind: str, event: str, *, escalation: bool) -> EventSpec | None:
    if escalation:
        return escalations.ACTIONS.get(event)
    proc = PROCEDURES.get(CaseKind(case_kind)) if case_kind in {k.value for k in CaseKind} else None
    return proc.events.get(event) if proc else None


def event_title(case_kind: str, event: str, *, escalation: bool = False) -> str:
    """An event as people know it: its spec's title ("Allocate a named IRO"; a registration, "Register a Supervision
    Order"), else its name in words."""
    spec = _spec_of(case_kind, event, escalation=escalation)
    if spec is not None:
        return spec.title
    proc = PROCEDURES.get(CaseKind(case_kind)) if case_kind in {k.value for k in CaseKind} else None
    if proc is not None and proc.registration.event == event:
        return f"Register a {proc.title}"
    return words(event)


def _done(title: str) -> str:
    """The title as something done: the past tense of its first verb, else ``recorded: <title>``."""
    first, _, rest = title.partition(" ")
    past = PAST.get(first.lower())
    if past is None:
        return f"recorded: {title[:1].lower() + title[1:] if first in ('The', 'No') else title}"
    return f"{past} {rest}".rstrip()


def _who(line: LogLine) -> str:
    if line.role == "system":
        return "orderwatch"
    return f"{line.actor} ({role_words(line.role)})"


def _fields(spec: EventSpec | None, payload: Mapping[str, Any]) -> tuple[list[str], list[tuple[str, str]]]:
    """The values recorded, by their labels: short values for the sentence, free text as notes."""
    shown, notes = [], []
    for key, value in payload.items():
        f = spec.fields.get(key) if spec else None
        label = f.label if f else words(key)
        free = f.free_text if f is not None else isinstance(value, str) and " " in value
        if free:
            notes.append((label, value_words(value)))
        elif value not in (None, "", []):
            shown.append(f"{label[:1].lower() + label[1:]} {value_words(value)}")
    return shown, notes


def _consequences(c: Mapping[str, list[Any]]) -> list[str]:
    out = []
    if c.get("met"):
        out.append("Done in time: " + "; ".join(deadline_words(k) for k in c["met"]) + ".")
    if c.get("missed"):
        out.append("Not done in time: " + "; ".join(deadline_words(k) for k in c["missed"]) + ".")
    if c.get("raised"):
        out.append("; ".join(f"Escalation {no} raised to the {role_words(role)}: "
                             f"{escalation_reason_words(reason)[:1].lower()}{escalation_reason_words(reason)[1:]}"
                             for no, reason, role in c["raised"]) + ".")  # fmt: skip
    if c.get("armed"):
        out.append("Now due: " + "; ".join(f"{deadline_words(k)} by {long_date(due)}" for k, due in c["armed"]) + ".")
    if c.get("cancelled"):
        out.append("No longer needed: " + "; ".join(deadline_words(k) for k in c["cancelled"]) + ".")
    for flag in c.get("flagged", []):
        out.append(f"Flagged: {flag}.")
    return out


def sentence(line: LogLine) -> Told:
    """An event-log entry as sentences: who did what (with what), whether the case moved, what fell due or passed."""
    spec = _spec(line)
    details: list[str] = []
    notes: list[tuple[str, str]] = []
    if line.source.startswith("timer"):
        kind = str(line.payload.get("deadline", ""))
        due = long_date(line.payload.get("due_on"))
        rule = RULES.get(kind)
        if line.escalation_no is not None:
            headline = f"Escalation {line.escalation_no}: not done by {due}: {deadline_words(kind)}."
        elif rule is not None and rule.timer is not None and spec is not None:
            headline = f"{spec.title} ({long_date(line.payload.get('due_on'))})."
        else:
            headline = f"Not done by {due}: {deadline_words(kind)}."
    elif line.from_state == "" and line.event.startswith("register"):
        proc = PROCEDURES.get(CaseKind(line.case_kind))
        title = proc.title if proc else words(line.case_kind)
        dated = [f"{date_label(k).lower()} {long_date(v)}" for k, v in line.payload.items()
                 if isinstance(v, (str, date)) and v and (k.endswith(("date", "_on")) or k in DATE_LABELS)
                 and k != "dob"]  # fmt: skip
        headline = f"{_who(line)} registered the {title}" + (f": {', '.join(dated)}." if dated else ".")
    else:
        title = spec.title if spec else words(line.event)
        shown, notes = _fields(spec, line.payload)
        subject = f"escalation {line.escalation_no}: " if line.escalation_no is not None else ""
        headline = f"{_who(line)} {subject}{_done(title)}" + (f": {', '.join(shown)}." if shown else ".")
    if line.escalation_no is None and line.from_state and line.to_state and line.from_state != line.to_state:
        details.append(f"The case moved from “{state_words(line.case_kind, line.from_state)}” to "
                       f"“{state_words(line.case_kind, line.to_state)}”.")  # fmt: skip
    elif line.escalation_no is not None and line.from_state != line.to_state and line.to_state:
        details.append(f"Escalation {line.escalation_no} is now {state_words('', line.to_state).lower()}.")
    details.extend(_consequences(line.consequences))
    return Told(headline, details, notes)
