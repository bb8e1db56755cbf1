"""Several sweeps share the work on PostgreSQL (FOR UPDATE SKIP LOCKED) and fire every due deadline exactly once;
a manual event racing a sweep on the same case never loses an update (optimistic concurrency, retried)."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import date

import pytest
import sqlalchemy as sa

from machines.supervision_order import SORegistration
from storage.casebook import Casebook
from storage.commands import AddPerson, Fire, Register, SweepReport
from storage.db import make_engine
from storage.models import events
from tests.conftest import CAST, FIXED_NOW


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_two_concurrent_sweeps_fire_each_deadline_exactly_once(db_url: str) -> None:
    engines = [make_engine(db_url, pool_size=2) for _ in range(2)]
    setup = Casebook(engines[0], clock=lambda: FIXED_NOW)
    for user, role, manager in CAST:
        setup.handle(AddPerson(actor="test", user=user, role=role, manager=manager))
    cases = 120
    for n in range(cases):
        reg = SORegistration(f"SO-{n}", f"C-{n}", date(2026, 1, 15), notified_on=date(2026, 1, 16))
        setup.handle(Register(actor="sw1", registration=reg, on=date(2026, 1, 16)))
    reports: list[SweepReport] = []
    barrier = threading.Barrier(2)

    def sweep(engine: sa.Engine) -> None:
        book = Casebook(engine, clock=lambda: FIXED_NOW)
        barrier.wait()
        reports.append(book.sweep(date(2026, 2, 2), batch_size=7))

    threads = [threading.Thread(target=sweep, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(reports) == 2
    # both did some of the work, and together all of it, once
    assert all(r.cases > 0 for r in reports), [r.cases for r in reports]
    assert sum(r.cases for r in reports) == cases
    missed = Counter[str]()
    for r in reports:
        missed.update(r.missed)
    assert missed["iro_allocation"] == cases and missed["case_summary"] == cases
    with engines[0].connect() as c:
        fired = c.execute(
            sa.select(events.c.case_id, events.c.payload).where(events.c.event == "deadline_missed")
        ).all()
    per_case = Counter((case_id, p["deadline"]) for case_id, p in fired if p["deadline"] == "iro_allocation")
    assert len(per_case) == cases and set(per_case.values()) == {1}
    assert setup.sweep(date(2026, 2, 2)).passed == 0
    for e in engines:
        e.dispose()


def test_a_manual_event_and_a_sweep_on_one_case_both_land(book: Casebook, engine: sa.Engine) -> None:
    reg = SORegistration("SO-R", "C-R", date(2026, 1, 15), notified_on=date(2026, 1, 16))
    book.handle(Register(actor="sw1", registration=reg, on=date(2026, 1, 16)))
    other = Casebook(engine, clock=lambda: FIXED_NOW)
    errors: list[BaseException] = []

    def run(action: object) -> None:
        try:
            action()  # type: ignore[operator]
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=run, args=(lambda: book.sweep(date(2026, 1, 25)),)),
        threading.Thread(
            target=run,
            args=(
                lambda: other.handle(
                    Fire(actor="su1", ref="SO-R", event="allocate_iro", on=date(2026, 1, 26), fields={"iro": "iro1"})
                ),
            ),
        ),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    case = book.load("SO-R")
    assert case.state == "awaiting_first_cin"
    assert [d.status.value for d in case.deadlines if d.kind == "iro_allocation"] == ["missed"]
    assert len([e for e in case.escalations if e.reason == "missed:iro_allocation"]) == 1
    assert book.replay("SO-R").state == case.state
