"""Start-up configuration: the local policy file and the sweep alarm's settings, validated before anything runs."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from machines.errors import Refused
from machines.names import shown
from machines.policy import DEFAULT_POLICY, Policy
from storage.clock import LONDON

if TYPE_CHECKING:
    from storage.delivery import DeliverySettings
    from storage.senders import Sender

__all__ = ["SweepAlarm", "delivery_channel", "delivery_settings", "load_policy", "sweep_alarm"]

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


# -- notifications: the delivery channel and how the pass behaves ---------------------------------------------------


def _env_int(name: str, default: int, low: int, high: int) -> int:
    text = os.environ.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise Refused(f"{name}={shown(text)} must be a whole number, {low} to {high}")
    return value


def _env_flag(name: str) -> bool:
    text = os.environ.get(name, "").strip().lower()
    if text in ("", "0", "false", "no", "off"):
        return False
    if text in ("1", "true", "yes", "on"):
        return True
    raise Refused(f"{name}={shown(text)} must be 1 or 0")


def _env_url(name: str, default: str) -> str:
    text = os.environ.get(name) or default
    if not (text.startswith(("http://", "https://")) and text.isprintable() and " " not in text):
        raise Refused(f"{name} must be an http:// or https:// address")
    return text.rstrip("/")


def delivery_settings() -> DeliverySettings:
    """``ORDERWATCH_DELIVERY_MAX_ATTEMPTS`` (default 6), ``ORDERWATCH_DELIVERY_RETRY_SECONDS`` (the first wait,
    doubled after each failure; default 60), ``ORDERWATCH_DELIVERY_STALE_SECONDS`` (a claim older than this is
    taken again; default 600), ``ORDERWATCH_DESK_URL`` (the case links' base; default http://127.0.0.1:4280)."""
    from storage.delivery import DeliverySettings

    return DeliverySettings(
        max_attempts=_env_int("ORDERWATCH_DELIVERY_MAX_ATTEMPTS", 6, 1, 100),
        retry_after=timedelta(seconds=_env_int("ORDERWATCH_DELIVERY_RETRY_SECONDS", 60, 1, 86_400)),
        stale_after=timedelta(seconds=_env_int("ORDERWATCH_DELIVERY_STALE_SECONDS", 600, 30, 86_400)),
        batch_size=_env_int("ORDERWATCH_DELIVERY_BATCH", 20, 1, 1000),
        desk_url=_env_url("ORDERWATCH_DESK_URL", "http://127.0.0.1:4280"),
    )


def delivery_channel() -> Sender | None:
    """The configured channel, or ``None`` (notifications are then listed in orderwatch only).

    GOV.UK Notify when ``ORDERWATCH_NOTIFY_API_KEY`` is set (with ``ORDERWATCH_NOTIFY_TEMPLATE_ID``, and
    ``ORDERWATCH_NOTIFY_BASE_URL`` for another address of the API); else SMTP when ``ORDERWATCH_SMTP_HOST`` is set
    (``ORDERWATCH_SMTP_FROM`` required; ``_PORT``, ``_STARTTLS``, ``_TLS``, ``_USER``, ``_PASSWORD``, ``_TIMEOUT``,
    ``_CAFILE``). ``ORDERWATCH_NOTIFICATIONS_CHANNEL`` (``notify``, ``smtp`` or ``none``) chooses when both are set.
    Secrets come from the environment only, and no refusal repeats them.
    """
    from storage.senders import NotifySender, NotifySettings, SmtpSender, SmtpSettings

    env = os.environ
    chosen = env.get("ORDERWATCH_NOTIFICATIONS_CHANNEL", "").strip().lower()
    if chosen not in ("", "notify", "smtp", "none"):
        raise Refused("ORDERWATCH_NOTIFICATIONS_CHANNEL must be notify, smtp or none")
    if chosen == "none":
        return None
    notify, smtp = bool(env.get("ORDERWATCH_NOTIFY_API_KEY")), bool(env.get("ORDERWATCH_SMTP_HOST"))
    if not chosen and notify and smtp:
        raise Refused("both GOV.UK Notify and SMTP are configured: set ORDERWATCH_NOTIFICATIONS_CHANNEL")
    if chosen == "notify" or (not chosen and notify):
        key = env.get("ORDERWATCH_NOTIFY_API_KEY", "")
        if not _NOTIFY_KEY.fullmatch(key):
            raise Refused("ORDERWATCH_NOTIFY_API_KEY is not a GOV.UK Notify API key (name-serviceid-secret)")
        template = env.get("ORDERWATCH_NOTIFY_TEMPLATE_ID", "")
        if not _UUID.fullmatch(template):
            raise Refused("ORDERWATCH_NOTIFY_TEMPLATE_ID must be the e-mail template's id (a UUID)")
        base = _env_url("ORDERWATCH_NOTIFY_BASE_URL", "https://api.notifications.service.gov.uk")
        timeout = _env_int("ORDERWATCH_NOTIFY_TIMEOUT", 30, 1, 300)
        return NotifySender(NotifySettings(key, template, base, float(timeout)))
    if chosen == "smtp" or (not chosen and smtp):
        host = env.get("ORDERWATCH_SMTP_HOST", "")
        sender = env.get("ORDERWATCH_SMTP_FROM", "")
        if not host or not host.isprintable() or " " in host:
            raise Refused("ORDERWATCH_SMTP_HOST must be the relay's host name")
        if "@" not in sender or not sender.isprintable():
            raise Refused("ORDERWATCH_SMTP_FROM must be the address notifications are sent from")
        tls = _env_flag("ORDERWATCH_SMTP_TLS")
        return SmtpSender(SmtpSettings(
            host=host, sender=sender, port=_env_int("ORDERWATCH_SMTP_PORT", 465 if tls else 25, 1, 65_535),
            starttls=_env_flag("ORDERWATCH_SMTP_STARTTLS"), tls=tls, user=env.get("ORDERWATCH_SMTP_USER") or None,
            password=env.get("ORDERWATCH_SMTP_PASSWORD") or None, cafile=_cafile(),
            timeout=float(_env_int("ORDERWATCH_SMTP_TIMEOUT", 30, 1, 300)),
        ))  # fmt: skip
    return None


def _cafile() -> str | None:
    """``ORDERWATCH_SMTP_CAFILE``: the relay's CA certificates (PEM), where they are not among the system's."""
    path = os.environ.get("ORDERWATCH_SMTP_CAFILE")
    if not path:
        return None
    if not Path(path).is_file():
        raise Refused(f"ORDERWATCH_SMTP_CAFILE {shown(path)} is not a file")
    return path


_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_NOTIFY_KEY = re.compile(r"[A-Za-z0-9_\-]{1,200}-" + _UUID.pattern + "-" + _UUID.pattern)
