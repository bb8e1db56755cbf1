"""The only place orderwatch reads the clock: the outermost entry points ask here for "today" and "now"."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

__all__ = ["LONDON", "Clock", "now", "today"]

LONDON = "Europe/London"
Clock = Callable[[], datetime]
"""A source of the current instant (timezone-aware, UTC); tests pass one they can move."""


def today() -> date:
    """Today's date in England and Wales (every deadline is a date there).

    ``ORDERWATCH_TODAY=YYYY-MM-DD`` pins it (demos, rehearsals, tests of a known day).
    """
    pinned = os.environ.get("ORDERWATCH_TODAY")
    if pinned:
        from machines.calendar import parse_date
        from machines.errors import Refused

        try:
            return parse_date(pinned)
        except ValueError as exc:
            raise Refused(f"ORDERWATCH_TODAY: {exc}") from None
    return datetime.now(ZoneInfo(LONDON)).date()


def now() -> datetime:
    """The instant, in UTC, for ``recorded_at`` stamps."""
    return datetime.now(UTC)
