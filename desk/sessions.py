"""Server-side sessions: the record, the store protocol (the lead backs it with the database), an in-memory store.

The cookie carries a random token; the store only ever sees its SHA-256 (``Session.key``), so a copy of the sessions
table cannot be replayed as cookies. A session is anonymous (``person_id`` None: it holds the sign-in form's CSRF
token and the OpenID Connect state) until sign-in, which replaces it with a new one (new token, new CSRF token).
"""

from __future__ import annotations

import copy
import hashlib
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

__all__ = [
    "EndReason",
    "InMemorySessionStore",
    "Session",
    "SessionPolicy",
    "SessionStore",
    "key_for",
    "new_session",
]

EndReason = Literal["idle", "absolute", "inactive", "signed_out"]


@dataclass
class Session:
    """One session. ``data`` holds small JSON-serialisable values only (OIDC state and nonce), never personal data."""

    key: str
    csrf_token: str
    created_at: datetime
    last_seen_at: datetime
    person_id: str | None = None
    auth_method: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


class SessionStore(Protocol):
    """Where sessions live between requests. Implementations must be safe to call from several threads.

    The desk calls these from a worker thread (never on the event loop), so a blocking database is fine.
    """

    def load(self, key: str) -> Session | None:
        """The session stored under ``key``, or None. Expiry is the caller's to judge (``SessionPolicy``)."""
        ...

    def save(self, session: Session) -> None:
        """Insert or replace the session under ``session.key``."""
        ...

    def delete(self, key: str) -> None:
        """Forget the session (no error if it is not there)."""
        ...

    def delete_for_person(self, person_id: str) -> int:
        """End every session of one person (deactivation, "sign out everywhere"); the number ended."""
        ...

    def purge(self, idle_since: datetime, created_before: datetime) -> int:
        """Delete sessions last seen before ``idle_since`` or created before ``created_before``; the number gone."""
        ...


@dataclass(frozen=True)
class SessionPolicy:
    """When a session ends by itself: ``idle`` without a request, or ``absolute`` after it began."""

    idle: timedelta
    absolute: timedelta

    def ended(self, session: Session, now: datetime) -> EndReason | None:
        """Why ``session`` has ended by ``now``, or None while it is live."""
        if now - session.created_at >= self.absolute:
            return "absolute"
        if now - session.last_seen_at >= self.idle:
            return "idle"
        return None


def key_for(token: str) -> str:
    """The store key of a cookie token (its SHA-256, hex)."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_session(now: datetime, person_id: str | None = None, auth_method: str | None = None) -> tuple[str, Session]:
    """A fresh session and the cookie token that names it (256 random bits each for the token and the CSRF token)."""
    token = secrets.token_urlsafe(32)
    session = Session(
        key=key_for(token),
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        last_seen_at=now,
        person_id=person_id,
        auth_method=auth_method,
    )
    return token, session


class InMemorySessionStore:
    """A ``SessionStore`` in this process's memory: one desk process only, lost on restart.

    Holds at most ``capacity`` sessions; beyond that the least recently seen are dropped, so a flood of anonymous
    sign-in pages cannot exhaust memory. Copies in and out, as a database would.
    """

    def __init__(self, capacity: int = 50_000) -> None:
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()
        self._capacity = capacity

    def load(self, key: str) -> Session | None:
        with self._lock:
            found = self._sessions.get(key)
            return copy.deepcopy(found) if found is not None else None

    def save(self, session: Session) -> None:
        with self._lock:
            self._sessions[session.key] = copy.deepcopy(session)
            if len(self._sessions) > self._capacity:
                oldest = sorted(self._sessions.values(), key=lambda s: s.last_seen_at)
                for stale in oldest[: len(self._sessions) - self._capacity]:
                    del self._sessions[stale.key]

    def delete(self, key: str) -> None:
        with self._lock:
            self._sessions.pop(key, None)

    def delete_for_person(self, person_id: str) -> int:
        with self._lock:
            keys = [k for k, s in self._sessions.items() if s.person_id == person_id]
            for k in keys:
                del self._sessions[k]
            return len(keys)

    def purge(self, idle_since: datetime, created_before: datetime) -> int:
        with self._lock:
            keys = [
                k for k, s in self._sessions.items() if s.last_seen_at < idle_since or s.created_at < created_before
            ]
            for k in keys:
                del self._sessions[k]
            return len(keys)

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)
