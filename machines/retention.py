"""Retention (PROCEDURES §6): when a case's personal data is due for disposal.

A case is kept until the child's 25th birthday (*default*, ``retention_age``); where the date of birth is unknown,
25 years after the case ended (``retention_years_after_end``). A case still running is never due, whatever the
dates say: it is still being worked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from machines.model import CaseKind
from machines.policy import Policy
from machines.procedures import PROCEDURES

__all__ = ["BIRTHDAY", "DISPOSED", "ENDED", "Retention", "retention"]

DISPOSED = "disposed"  # the log entry a disposal appends (the last of a case's log)
BIRTHDAY = "birthday"
ENDED = "ended"


@dataclass(frozen=True, slots=True)
class Retention:
    """When the case is due for disposal, and on what basis."""

    due_on: date
    basis: str  # BIRTHDAY (the child's Nth birthday) or ENDED (N years after the case ended)


def _years_after(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February, in a year that has none: the day after 28 February
        return date(day.year + years, 3, 1)


def has_ended(kind: CaseKind, state: str) -> bool:
    return state in PROCEDURES[kind].final


def retention(kind: CaseKind, state: str, dob: date | None, ended_on: date | None, policy: Policy) -> Retention | None:
    """When the case is due for disposal (``None``: it is still running)."""
    if not has_ended(kind, state) or ended_on is None:
        return None
    if dob is not None:
        return Retention(max(_years_after(dob, policy.retention_age), ended_on), BIRTHDAY)
    return Retention(_years_after(ended_on, policy.retention_years_after_end), ENDED)
