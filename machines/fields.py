"""The fields each event carries (``--set KEY=VALUE``), parsed and checked before any rule runs.

>>> parse_fields("hold_review", {"outcome": "extend"})
{'outcome': 'extend'}
>>> parse_fields("hold_review", {"outcome": "maybe"})
Traceback (most recent call last):
...
machines.errors.Refused: hold_review: outcome must be one of step_down, extend, inconclusive (got 'maybe')
>>> parse_fields("schedule_review", {})
Traceback (most recent call last):
...
machines.errors.Refused: schedule_review: review_on is required
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from machines.calendar import parse_date
from machines.errors import Refused
from machines.supervision_order import FIVE_QUESTIONS

__all__ = ["EVENT_FIELDS", "Field", "parse_fields"]


@dataclass(frozen=True, slots=True)
class Field:
    kind: str  # text | date | choice | bool | person | people
    required: bool = True
    choices: tuple[str, ...] = ()

    def parse(self, event: str, key: str, raw: Any) -> Any:
        if isinstance(raw, str):
            raw = raw.strip()
        if raw in ("", None):
            raise Refused(f"{event}: {key} must not be empty")
        if self.kind == "date":
            if isinstance(raw, date):
                return raw
            try:
                return parse_date(str(raw))
            except ValueError as exc:
                raise Refused(f"{event}: {key}: {exc}") from None
        if self.kind == "choice":
            if raw not in self.choices:
                raise Refused(f"{event}: {key} must be one of {', '.join(self.choices)} (got {raw!r})")
            return raw
        if self.kind == "bool":
            if isinstance(raw, bool):
                return raw
            if str(raw).lower() in ("true", "yes"):
                return True
            if str(raw).lower() in ("false", "no"):
                return False
            raise Refused(f"{event}: {key} must be true or false (got {raw!r})")
        if self.kind == "people":
            names = raw if isinstance(raw, list) else [n.strip() for n in str(raw).split(",") if n.strip()]
            if not names:
                raise Refused(f"{event}: {key} must name at least one person")
            return names
        return str(raw)


TEXT = Field("text")
NOTE = Field("text", required=False)

EVENT_FIELDS: dict[str, dict[str, Field]] = {
    "allocate_iro": {"iro": Field("person")},
    "record_case_summary": {"other_orders": TEXT, "court_wording": TEXT, "plan": TEXT},
    "fail_quality_check": {"findings": TEXT},
    "confirm_remedial_action": {"note": TEXT},
    "schedule_review": {"review_on": Field("date")},
    "hold_review": {"outcome": Field("choice", choices=("step_down", "extend", "inconclusive"))},
    "hold_reconvened_review": {
        "outcome": Field("choice", choices=("step_down", "extend")),
        "hos_attended": Field("bool", required=False),
    },
    "issue_minutes": {"distribution": Field("people")},
    "decide_seek_extension": {key: TEXT for key in FIVE_QUESTIONS},
    "court_extends": {"new_expiry": Field("date")},
    "hold_three_way_discussion": {
        "decision": Field("choice", choices=("step_down", "concurrent")),
        "case_note": TEXT,
        "move_review_to": Field("date", required=False),
    },
    "hold_midway_discussion": {"decision": Field("choice", choices=("continue", "step_down")), "note": NOTE},
    "hold_cp_review": {
        "outcome": Field("choice", choices=("end_plan", "continue_plan")),
        "next_review": Field("date", required=False),
    },
    "record_final_hearing": {
        "outcome": Field("choice", choices=("supervision_order", "care_order", "no_order", "other")),
        "so_case": Field("text", required=False),  # the reference for the SO case a final SO opens
    },
    "extend_proceedings": {"new_date": Field("date")},
    "raise_disagreement": {"note": TEXT},
    # escalations
    "acknowledge": {"note": NOTE},
    "escalate": {"note": NOTE},
    "resolve": {"note": TEXT},
}
for _event in (
    "discharge", "court_refuses", "approve_application", "decline_application", "file_application",
    "pass_quality_check", "record_first_cin_meeting", "record_progress", "inform_cpc", "complete_single_assessment",
    "decide_step_down", "invite_guardian",
):  # fmt: skip
    EVENT_FIELDS[_event] = {"note": NOTE}


def parse_fields(event: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    """Check an event's fields against its spec: unknown keys, missing required ones, malformed values."""
    spec = EVENT_FIELDS.get(event, {})
    unknown = sorted(set(raw) - set(spec))
    if unknown:
        allowed = ", ".join(spec) or "none"
        raise Refused(f"{event}: unknown field {unknown[0]!r} (allowed: {allowed})")
    parsed: dict[str, Any] = {}
    for key, field in spec.items():
        if key not in raw:
            if field.required:
                raise Refused(f"{event}: {key} is required")
            continue
        parsed[key] = field.parse(event, key, raw[key])
    return parsed
