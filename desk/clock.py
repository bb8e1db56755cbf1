"""The desk's clock: the only module under desk/ that reads it (sessions and the rate limiter are given "now")."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

__all__ = ["Clock", "system_clock"]

Clock = Callable[[], datetime]
"""A source of the current instant (timezone-aware, UTC); tests pass one they can move."""


def system_clock() -> datetime:
    """The instant now, in UTC."""
    return datetime.now(UTC)
