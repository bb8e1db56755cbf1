"""Start-up configuration: the local policy file and the sweep alarm's settings, validated before anything runs."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from machines.errors import Refused
from machines.names import shown
from machines.policy import DEFAULT_POLICY, Policy
from storage.clock import LONDON

__all__ = ["SweepAlarm", "load_policy", "sweep_alarm"]

_MAX_POLICY_BYTES = 1_000_000


def load_policy(path: str | None = None) -> Policy:
    """The local policy: ``path``, else ``$ORDERWATCH_POLICY``, else the shipped defaults."""
    chosen = path or os.environ.get("ORDERWATCH_POLICY")
    if not chosen:
        return DEFAULT_POLICY
    file = Path(chosen)
    if not file.is_file():
        raise Refused(f"local policy file {shown(chosen)} not found")
    try:
        content = file.read_bytes()
    except OSError as exc:
        raise Refused(f"local policy file {shown(chosen)} cannot be read ({exc.strerror})") from None
    if len(content) > _MAX_POLICY_BYTES:
        raise Refused(f"local policy file {shown(chosen)} is too large to be a policy ({len(content)} bytes)")
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(f"local policy file {shown(chosen)} is not UTF-8 text") from None
    if "\x00" in text:
        raise Refused(f"local policy file {shown(chosen)} is not text (it has NUL bytes)")
    return Policy.from_toml(text)


@dataclass(frozen=True, slots=True)
class SweepAlarm:
    """When operators are told that the morning did not happen.

    A ``daily-sweep`` run must complete in the ``window`` before ``at`` (Europe/London wall-clock time) each day;
    the default, 06:30 to 07:30, holds the 06:30 scheduled run. ``ORDERWATCH_SWEEP_ALARM_AT`` (``HH:MM`` or
    ``HH:MM:SS``, default 07:30) and ``ORDERWATCH_SWEEP_ALARM_WINDOW`` (seconds, default 3600) set them.

    >>> alarm = SweepAlarm(time(7, 30), timedelta(hours=1))
    >>> alarm.deadline(date(2026, 12, 1)).isoformat()  # GMT
    '2026-12-01T07:30:00+00:00'
    >>> alarm.deadline(date(2027, 4, 1)).isoformat()  # BST
    '2027-04-01T06:30:00+00:00'
    >>> alarm.opens(date(2027, 4, 1)).isoformat()
    '2027-04-01T05:30:00+00:00'
    """

    at: time = time(7, 30)
    window: timedelta = timedelta(hours=1)

    def deadline(self, day: date) -> datetime:
        """The instant (UTC) by which ``day``'s sweep must have completed."""
        local = datetime(day.year, day.month, day.day, self.at.hour, self.at.minute, self.at.second,
                         tzinfo=ZoneInfo(LONDON))  # fmt: skip
        return local.astimezone(UTC)

    def opens(self, day: date) -> datetime:
        """The instant (UTC) from which a completed sweep counts for ``day``."""
        return self.deadline(day) - self.window

    def mornings(self, now: datetime, days: int = 7) -> list[date]:
        """The next ``days`` days whose deadline is still ahead of ``now``, soonest first."""
        today = now.astimezone(ZoneInfo(LONDON)).date()
        ahead = [today + timedelta(days=n) for n in range(days + 1)]
        return [d for d in ahead if self.deadline(d) > now][:days]


def sweep_alarm() -> SweepAlarm:
    """The alarm settings from the environment (see :class:`SweepAlarm`), validated."""
    at_text = os.environ.get("ORDERWATCH_SWEEP_ALARM_AT", "07:30")
    window_text = os.environ.get("ORDERWATCH_SWEEP_ALARM_WINDOW", "3600")
    try:
        at = time.fromisoformat(at_text)
        if at.tzinfo is not None or at.microsecond:
            raise ValueError
    except ValueError:
        raise Refused(f"ORDERWATCH_SWEEP_ALARM_AT={at_text!r} must be a time of day, HH:MM or HH:MM:SS") from None
    try:
        seconds = int(window_text)
    except ValueError:
        seconds = 0
    if not 10 <= seconds <= 86_400:
        raise Refused(f"ORDERWATCH_SWEEP_ALARM_WINDOW={window_text!r} must be a number of seconds, 10 to 86400")
    return SweepAlarm(at, timedelta(seconds=seconds))
