"""Faults without personal data: what a database error (or any unexpected one) becomes before it leaves storage.

A database error's text can carry personal data — PostgreSQL's ``DETAIL: Key (child_id)=(…)``, a trigger's message,
a value quoted back — however the engine hides bound parameters. So the entry points (the CLI, Prefect's run history,
the desk) never see it: they get a generic message with a correlation id, and the detail goes to a local log that
only its owner can read (``var/log/faults.log``, mode 0600 in a 0700 folder; ``ORDERWATCH_LOG_DIR`` moves it).

Lost races that retrying did not settle are refusals (``Busy``: nothing changed, try again), not faults.
"""

from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path

from machines.errors import Refused

__all__ = ["Busy", "Fault", "Unavailable", "fault_log", "record_fault"]

_FORMAT = logging.Formatter("%(asctime)s %(message)s")


class Fault(Exception):
    """An internal fault: a generic message naming the correlation id under which the detail was logged locally."""

    def __init__(self, correlation_id: str, what: str = "internal error") -> None:
        super().__init__(f"{what} (correlation id {correlation_id}; the detail is in the local fault log)")
        self.correlation_id = correlation_id


class Unavailable(Fault):
    """The database could not be reached or dropped the connection: worth retrying later."""

    def __init__(self, correlation_id: str) -> None:
        super().__init__(correlation_id, "database unavailable")


class Busy(Refused):
    """The same records kept changing under the command, beyond its retries: nothing was recorded; try again."""

    def __init__(self, correlation_id: str) -> None:
        super().__init__(
            "the case was being changed by someone else at the same moment and nothing was recorded: try again "
            f"(correlation id {correlation_id})"
        )
        self.correlation_id = correlation_id


def fault_log() -> Path:
    """The local fault log: ``$ORDERWATCH_LOG_DIR/faults.log``, else ``var/log/faults.log``."""
    return Path(os.environ.get("ORDERWATCH_LOG_DIR") or "var/log") / "faults.log"


def _open(path: Path) -> int:
    """The fault log, opened to append: created owner-only (0600, in a 0700 folder), and made so if it was not."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.fchmod(fd, 0o600)
    return fd


def record_fault(exc: BaseException, context: str = "") -> str:
    """Append the exception, traceback and all, to the local fault log; return its correlation id (never raises).

    Written straight to the file, not through a logger: a logger's settings belong to whoever configures logging
    last (Prefect does, and resets loggers' propagation), and this must never reach another handler."""
    correlation_id = uuid.uuid4().hex[:12]
    record = logging.LogRecord("orderwatch.faults", logging.ERROR, __file__, 0, "fault %s %s",
                               (correlation_id, context), (type(exc), exc, exc.__traceback__))  # fmt: skip
    try:
        text = _FORMAT.format(record) + "\n"
        fd = _open(fault_log())
        try:
            os.write(fd, text.encode("utf-8", "backslashreplace"))
        finally:
            os.close(fd)
    except Exception:  # pragma: no cover - a fault log that cannot be written must not hide the fault itself
        pass
    return correlation_id
