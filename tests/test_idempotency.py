"""Idempotent commands: sent again with its request id a command records nothing and answers exactly as the first
time (the same JSON); the same id with different content is refused (exit 2, nothing changed)."""

from __future__ import annotations

import threading
from datetime import date

import pytest
import sqlalchemy as sa

from machines.supervision_order import SORegistration
from storage.casebook import Casebook
from storage.commands import Fire, Register
from storage.models import events, requests
from tests.conftest import FIXED_NOW, Cli, snapshot

SO = ("so", "register", "--case", "SO-1", "--child", "C-1", "--order-date", "2026-01-15", "--notified-on",
      "2026-01-16", "--actor", "sw1")  # fmt: skip


@pytest.fixture(autouse=True)
def _today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERWATCH_TODAY", "2026-11-20")


def _events(url: str) -> int:
    from storage.db import make_engine

    engine = make_engine(url)
    with engine.connect() as c:
        found = int(c.scalar(sa.select(sa.func.count()).select_from(events)) or 0)
    engine.dispose()
    return found


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(("fire", "SO-1", "allocate_iro", "--actor", "su1", "--on", "2026-02-02", "--set", "iro=iro1"),
                     id="fire"),
        pytest.param(("fire", "ESC-1", "acknowledge", "--actor", "sum1", "--on", "2026-01-26"), id="escalation"),
        pytest.param(("sweep", "--as-of", "2026-03-02", "--batch-size", "1"), id="sweep"),
        pytest.param(("people", "add", "sw9", "--role", "social_worker", "--manager", "tm1"), id="people-add"),
        pytest.param(("so", "register", "--case", "SO-2", "--child", "C-2", "--order-date", "2026-01-15",
                      "--notified-on", "2026-01-16", "--actor", "sw1"), id="so-register"),
        pytest.param(("cp-iso", "register", "--case", "CP-1", "--child", "C-3", "--iso-date", "2026-06-01",
                      "--next-review", "2026-08-20", "--last-review", "2026-05-20", "--actor", "sw1"), id="cp-register"),
    ],
)  # fmt: skip
def test_a_command_sent_again_with_its_request_id_records_nothing_and_answers_the_same(
    cli: Cli, db_url: str, argv: tuple[str, ...]
) -> None:
    assert cli(*SO).rc == 0
    assert cli("sweep", "--as-of", "2026-01-26").rc == 0  # an escalation to act on: ESC-1
    first = cli(*argv, "--request-id", "req-1")
    assert first.rc == 0, first.err
    after_first = snapshot(db_url)
    again = cli(*argv, "--request-id", "req-1")
    assert again.rc == 0 and again.out == first.out  # exactly the same JSON
    assert snapshot(db_url) == after_first  # nothing recorded twice, nothing recorded at all
    without = cli(*argv)  # the same command without its id is a new command: refused, or (a sweep) nothing to do
    assert without.rc in (0, 2)


def test_a_request_id_used_for_other_content_is_refused(cli: Cli, db_url: str) -> None:
    assert cli(*SO, "--request-id", "req-1").rc == 0
    before = snapshot(db_url)
    other = cli("fire", "SO-1", "allocate_iro", "--actor", "su1", "--on", "2026-02-02", "--set", "iro=iro1",
                "--request-id", "req-1")  # fmt: skip
    assert other.rc == 2
    assert other.json["error"] == ("request id 'req-1' was already used for another command (Register): nothing was "
                                   "changed; give each command its own request id")  # fmt: skip
    changed = cli(*[a if a != "C-1" else "C-other" for a in SO], "--request-id", "req-1")
    assert changed.rc == 2 and "already used for another command" in changed.json["error"]
    assert snapshot(db_url) == before
    bad = cli(*SO, "--request-id", "has space")
    assert bad.rc == 2 and "request id 'has space' must be 1 to 100 printable characters" in bad.json["error"]


def test_the_same_request_at_once_from_two_places_lands_once(book: Casebook, engine: sa.Engine) -> None:
    book.handle(Register(actor="sw1", on=date(2026, 1, 16),
                         registration=SORegistration("SO-1", "C-1", date(2026, 1, 15), notified_on=date(2026, 1, 16))))  # fmt: skip
    command = Fire(actor="su1", ref="SO-1", event="allocate_iro", on=date(2026, 2, 2), fields={"iro": "iro1"},
                   request_id="flow-run/one")  # fmt: skip
    results: list[object] = []
    start = threading.Barrier(4)

    def send() -> None:
        start.wait()
        results.append(Casebook(engine, clock=lambda: FIXED_NOW).handle(command).as_json())

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 4 and all(r == results[0] for r in results)
    with engine.connect() as c:
        assert c.scalar(sa.select(sa.func.count()).select_from(events).where(events.c.event == "allocate_iro")) == 1
        assert c.scalar(sa.select(sa.func.count()).select_from(requests)) == 1


def test_a_retried_sweep_answers_from_the_batches_that_committed(cli: Cli, db_url: str, engine: sa.Engine) -> None:
    book = Casebook(engine, clock=lambda: FIXED_NOW)
    for n in range(5):
        assert cli(*[a.replace("SO-1", f"SO-{n}").replace("C-1", f"C-{n}") for a in SO]).rc == 0
    # the first two batches commit, then the sweep "dies"; run again, it answers those and does the rest
    partial = book.sweep(date(2026, 2, 2), batch_size=2, max_batches=2, request_id="morning")
    assert partial.cases == 4
    whole = cli("sweep", "--as-of", "2026-02-02", "--batch-size", "2", "--request-id", "morning")
    assert whole.rc == 0 and whole.json["cases"] == 5 and whole.json["batches"] == 3
    assert cli("sweep", "--as-of", "2026-02-02", "--batch-size", "2", "--request-id", "morning").out == whole.out
    assert _events(db_url) == 5 + whole.json["passed"]  # five registrations, each deadline passed once
