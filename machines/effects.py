"""The common effects an event declares (``effect=``): what it writes on the case, as small builders."""

from __future__ import annotations

from datetime import date
from typing import Any

from machines.model import CaseFile
from machines.policy import Policy
from machines.spec import Effect

__all__ = ["hand_over", "stamp"]


def hand_over(key: str) -> Effect:
    """A named person's part handed to another (a leaver's cases): ``case.people[key]`` changes, and the handover is
    kept with its date; the involvements follow from the change."""

    def effect(case: CaseFile, fields: dict[str, Any], on: date, policy: Policy) -> None:
        case.details.setdefault("handovers", []).append(
            {"role": key, "from": case.people.get(key), "to": fields[key], "on": on.isoformat()}
        )
        case.people[key] = fields[key]

    return effect


def stamp(key: str, *detail_keys: str) -> Effect:
    """The common effect: the event's date kept as ``case.dates[key]``, and the named fields (when given) as details."""

    def effect(case: CaseFile, fields: dict[str, Any], on: date, policy: Policy) -> None:
        case.dates[key] = on
        for k in detail_keys:
            if k in fields:
                case.details[k] = fields[k]

    return effect
