"""Operators see what was done at the desk in Prefect's Event Feed: one ``orderwatch.desk.action`` event per action.

Best effort, by design: an action is recorded by orderwatch whether or not Prefect is up. The event is queued in
memory and posted to Prefect's events API (``POST /api/events``) from a background thread, so a slow or stopped
Prefect server never delays or fails an action; what cannot be sent is logged (case reference, event, user name)
and dropped. No personal data: the case reference, the event's name and the user name only.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import httpx

__all__ = ["EVENT_NAME", "ActionEvents", "NoActionEvents", "PrefectActionEvents", "case_resource"]

log = logging.getLogger("desk")
EVENT_NAME = "orderwatch.desk.action"
BATCH = 50


def case_resource(ref: str) -> dict[str, str]:
    return {"prefect.resource.id": f"orderwatch.case.{ref}", "prefect.resource.name": ref}


class ActionEvents(Protocol):
    """Where the desk reports each action it recorded (never raises, never blocks)."""

    def action(self, ref: str, event: str, user: str, occurred: datetime) -> None: ...


class NoActionEvents:
    """No Prefect configured: actions are recorded and nothing is reported."""

    def action(self, ref: str, event: str, user: str, occurred: datetime) -> None:
        return None


@dataclass
class Counts:
    sent: int = 0
    failed: int = 0
    dropped: int = 0


class PrefectActionEvents:
    """Posts action events to a Prefect server's API from one daemon thread (``api_url``: ``.../api``).

    ``auth`` is ``user:password`` for a server behind basic authentication (``PREFECT_API_AUTH_STRING``); a server
    with CSRF protection is asked for a token, as Prefect's own client does.
    """

    def __init__(self, api_url: str, *, auth: str | None = None, timeout: float = 5.0, capacity: int = 1000,
                 retry_after: float = 1.0) -> None:  # fmt: skip
        self.api_url = api_url.rstrip("/")
        self.counts = Counts()
        self._auth = httpx.BasicAuth(*auth.split(":", 1)) if auth and ":" in auth else None
        self._timeout = timeout
        self._retry_after = retry_after
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=capacity)
        self._lock = threading.Lock()
        self._settled = threading.Condition(self._lock)
        self._pending = 0  # queued or being sent
        self._thread: threading.Thread | None = None
        self._csrf: dict[str, str] = {}

    def action(self, ref: str, event: str, user: str, occurred: datetime) -> None:
        """Queue the event (a full queue drops it, with a warning): returns at once."""
        item = {"id": str(uuid.uuid4()), "occurred": occurred.isoformat(), "event": EVENT_NAME,
                "resource": case_resource(ref), "payload": {"event": event, "user": user}, "related": []}  # fmt: skip
        try:
            with self._lock:
                self._queue.put_nowait(item)
                self._pending += 1
        except queue.Full:
            self.counts.dropped += 1
            log.warning("desk: Prefect event for %s %s by %s dropped (queue full)", ref, event, user)
            return
        self._start()

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued has been sent or given up on (tests; shutting down)."""
        with self._settled:
            return self._settled.wait_for(lambda: self._pending == 0, timeout)

    def _start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="desk-prefect-events", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        with httpx.Client(base_url=self.api_url, timeout=self._timeout, auth=self._auth) as client:
            while True:
                batch = [self._queue.get()]
                while len(batch) < BATCH:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                self._send(client, batch)
                with self._settled:
                    self._pending -= len(batch)
                    self._settled.notify_all()

    def _post(self, client: httpx.Client, batch: list[dict[str, Any]]) -> None:
        response = client.post("/events", json=batch, headers=self._csrf)
        if response.status_code == 403 and "csrf" in response.text.lower():
            self._csrf = self._token(client)
            response = client.post("/events", json=batch, headers=self._csrf)
        response.raise_for_status()

    def _send(self, client: httpx.Client, batch: list[dict[str, Any]]) -> None:
        try:
            try:
                self._post(client, batch)
            except httpx.TransportError:  # once more, a moment later: a server starting or briefly busy
                time.sleep(self._retry_after)
                self._post(client, batch)
            self.counts.sent += len(batch)
        except Exception as exc:  # best effort: Prefect down, refusing, or slow must never reach the action
            self.counts.failed += len(batch)
            what = ", ".join(f"{e['resource']['prefect.resource.name']} {e['payload']['event']}" for e in batch[:5])
            log.warning("desk: %d Prefect event(s) not sent (%s): %s", len(batch), type(exc).__name__, what)

    @staticmethod
    def _token(client: httpx.Client) -> dict[str, str]:
        client_id = str(uuid.uuid4())
        response = client.get("/csrf-token", params={"client": client_id})
        response.raise_for_status()
        return {"Prefect-Csrf-Token": response.json()["token"], "Prefect-Csrf-Client": client_id}
