"""Each action is reported to Prefect's Event Feed (``orderwatch.desk.action``: case reference, event, user name),
best effort: with a real Prefect server it arrives; with Prefect stopped or not answering, the action is recorded
just as fast and the failure is only logged."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from desk.events import EVENT_NAME, PrefectActionEvents
from tests.desk.conftest import CASEWORK_TODAY, World, csrf_of, start_world


def _allocate(world: World, ref: str = "SO-1002") -> tuple[httpx.Response, float]:
    """su1 allocates iro2 to the seeded case with no IRO; the response and its time in seconds."""
    with world.client("su1") as c:
        form = c.get(f"/cases/{ref}/actions/allocate_iro")
        data = {"csrf_token": csrf_of(form.text), "request_id": "events-test", "field-iro": "iro2",
                "field-happened-on-day": str(CASEWORK_TODAY.day), "field-happened-on-month": str(CASEWORK_TODAY.month),
                "field-happened-on-year": str(CASEWORK_TODAY.year)}  # fmt: skip
        started = time.perf_counter()
        response = c.post(f"/cases/{ref}/actions/allocate_iro", data=data)
        return response, time.perf_counter() - started


@pytest.fixture(params=["refused", "silent"])
def dead_prefect(request: pytest.FixtureRequest) -> Iterator[str]:
    """A Prefect API address that refuses connections, or accepts them and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    if request.param == "silent":
        sock.listen(16)  # connections queue in the backlog; nothing ever reads or answers them
    else:
        sock.close()
    yield f"http://127.0.0.1:{port}/api"
    sock.close()


def test_an_action_is_recorded_as_fast_with_prefect_down(
    dead_prefect: str, tmp_path: Path, request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> None:
    events = PrefectActionEvents(dead_prefect, timeout=1.0, retry_after=0.1)
    with ExitStack() as stack:
        world = start_world("sqlite", tmp_path, request, stack, events=events)
        response, seconds = _allocate(world)
        assert response.status_code == 303 and seconds < 1.0  # the send waits in its own thread
        assert world.book.load("SO-1002").people["iro"] == "iro2"
        assert events.drain(15)
    assert events.counts.failed == 1 and events.counts.sent == 0
    warnings = [r.getMessage() for r in caplog.records if "Prefect event" in r.getMessage()]
    assert warnings and "SO-1002 allocate_iro" in warnings[0]
    assert "CHILD-" not in " ".join(warnings)  # no personal data in the log


def _events(api: str, ref: str) -> list[dict[str, Any]]:
    query = {"filter": {"event": {"prefix": [EVENT_NAME]}, "resource": {"id": [f"orderwatch.case.{ref}"]}},
             "limit": 10}  # fmt: skip
    for _ in range(40):  # the server stores events a moment after it receives them
        found: list[dict[str, Any]] = httpx.post(f"{api}/events/filter", json=query, timeout=10).json()["events"]
        if found:
            return found
        time.sleep(0.25)
    return []


def test_each_action_reaches_prefects_event_feed(
    prefect_harness: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from prefect.settings import PREFECT_API_URL

    api = str(PREFECT_API_URL.value())
    events = PrefectActionEvents(api, timeout=20.0)  # the test server can be slow to answer its first events
    with ExitStack() as stack:
        world = start_world("sqlite", tmp_path, request, stack, events=events)
        ref = f"PREFECT-{tmp_path.name}"[-40:]
        world.book.handle(_registration(ref))
        response, _ = _allocate(world, ref)
        assert response.status_code == 303
        assert events.drain(60)
    assert events.counts.sent == 1
    [event] = _events(api, ref)
    assert event["event"] == EVENT_NAME
    assert event["payload"] == {"event": "allocate_iro", "user": "su1"}
    assert event["resource"]["prefect.resource.name"] == ref


def _registration(ref: str) -> Any:
    from machines.supervision_order import SORegistration
    from storage.commands import Register

    reg = SORegistration(ref, "CHILD-P-1", CASEWORK_TODAY, notified_on=CASEWORK_TODAY, social_worker="sw1")
    return Register(actor="sw1", registration=reg, on=CASEWORK_TODAY)
