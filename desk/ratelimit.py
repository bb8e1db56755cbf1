"""Sign-in rate limiting: failures counted per key (an account, a client address) in a sliding window.

This slows guessing; locking an account after repeated failures is the accounts' own rule (issue 13), applied by the
``Authenticator``. The lead can back ``RateLimiter`` with the database when several desk processes run.
"""

from __future__ import annotations

import threading
from collections import deque
from datetime import datetime, timedelta
from typing import Protocol

from desk.settings import Limit

__all__ = ["InMemoryRateLimiter", "RateLimiter"]


class RateLimiter(Protocol):
    """Counts failures per key; safe to call from several threads."""

    def retry_after(self, key: str, limit: Limit, now: datetime) -> timedelta | None:
        """How long until ``key`` may try again, or None if it may try now."""
        ...

    def record_failure(self, key: str, limit: Limit, now: datetime) -> None:
        """Count one failure for ``key`` at ``now``."""
        ...

    def reset(self, key: str) -> None:
        """Forget ``key``'s failures (after a successful sign-in to that account)."""
        ...


class InMemoryRateLimiter:
    """A ``RateLimiter`` in this process's memory (one desk process); at most ``max_keys`` keys are tracked."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self._failures: dict[str, deque[datetime]] = {}
        self._lock = threading.Lock()
        self._max_keys = max_keys

    def retry_after(self, key: str, limit: Limit, now: datetime) -> timedelta | None:
        with self._lock:
            if key not in self._failures:
                return None
            failures = self._live(key, limit, now)
            if len(failures) < limit.attempts:
                return None
            # the window reopens when the oldest failure that keeps it full falls out of it
            return failures[-limit.attempts] + limit.window - now

    def record_failure(self, key: str, limit: Limit, now: datetime) -> None:
        with self._lock:
            self._live(key, limit, now).append(now)
            if len(self._failures) > self._max_keys:
                # drop the tenth of keys whose latest failure is oldest (the least likely to be blocked), in one go
                # so that a flood of new keys does not sort the table on every failure
                by_age = sorted(self._failures, key=lambda k: self._failures[k][-1] if self._failures[k] else now)
                for stale in by_age[: len(self._failures) - self._max_keys + self._max_keys // 10]:
                    del self._failures[stale]

    def reset(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)

    def _live(self, key: str, limit: Limit, now: datetime) -> deque[datetime]:
        failures = self._failures.setdefault(key, deque())
        while failures and failures[0] <= now - limit.window:
            failures.popleft()
        return failures
