"""A day's work in one batch reads its cases once (``Casebook.handle_all``): the number of statements does not grow
with the number of commands — registrations, events and escalation actions alike — and the sweep reads a few cases'
deadlines by their case, never the caseload's open deadlines. Regressions here cost the simulator (and the daily
run) a third of its time before they were found; these tests keep them found."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from machines.errors import Refused
from machines.supervision_order import SORegistration
from storage.casebook import Casebook
from storage.commands import ActOnEscalation, Command, Fire, Register
from storage.rows import _SELECT_WORKING_DEADLINES

ORDER = date(2026, 1, 15)
SWEPT = date(2026, 1, 24)  # every case's IRO allocation missed: each has escalation 1, raised to sum1
ACTED = date(2026, 1, 26)


@contextmanager
def statements(engine: sa.Engine) -> Iterator[Counter[str]]:
    """The statements run meanwhile, by their first words (``SELECT deadlines``, ``INSERT INTO events``, …)."""
    seen: Counter[str] = Counter()

    def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        words = statement.split()
        if words[0] == "SELECT":  # the table of its first column, or the function it calls
            seen["SELECT " + words[1].split(".")[0].split("(")[0]] += 1
        else:
            seen[" ".join(words[:3])] += 1

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)


def _register(n: int, start: int = 0) -> list[Command]:
    out: list[Command] = []
    for i in range(start, start + n):
        reg = SORegistration(f"SO-B{i}", f"C-B{i}", ORDER, None, None, ORDER + timedelta(days=1), "sw1")
        out.append(Register(actor="sw1", registration=reg, on=ORDER + timedelta(days=1)))
    return out


def _day(n: int, start: int = 0) -> list[Command]:
    """For each case: its escalation acknowledged, and its IRO allocated."""
    out: list[Command] = []
    for i in range(start, start + n):
        ref = f"SO-B{i}"
        out.append(ActOnEscalation(actor="sum1", ref=ref, no=1, action="acknowledge", on=ACTED))
        out.append(Fire(actor="su1", ref=ref, event="allocate_iro", on=ACTED, fields={"iro": "iro1"}))
    return out


@pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)
def test_a_batch_reads_its_cases_once_however_many_commands_it_carries(book: Casebook) -> None:
    assert not [r for r in book.handle_all(_register(1, 99)) if isinstance(r, Refused)]  # the policy stored first
    counts = []
    for n, start in ((3, 0), (12, 3)):
        with statements(book.engine) as registering:
            results = book.handle_all(_register(n, start))
        assert not [r for r in results if isinstance(r, Refused)], results
        book.sweep(SWEPT)
        with statements(book.engine) as acting:
            results = book.handle_all(_day(n, start))
        assert not [r for r in results if isinstance(r, Refused)], results
        counts.append((registering, acting))
    (small_reg, small_day), (large_reg, large_day) = counts
    # a registration inserts its case at once (its rows need the id) and, on PostgreSQL, locks its reference
    # before looking it up; everything else is one statement per batch
    assert large_reg.pop("INSERT INTO cases") - small_reg.pop("INSERT INTO cases") == 9
    assert large_reg.pop("SELECT pg_advisory_xact_lock", 0) - small_reg.pop("SELECT pg_advisory_xact_lock", 0) in (0, 9)
    assert large_reg == small_reg
    assert large_day == small_day
    assert large_day["SELECT deadlines"] == 1 and large_day["SELECT escalations"] == 1
    for i in range(15):
        shown = book.load(f"SO-B{i}")
        assert shown.state == "awaiting_first_cin"
        assert shown.escalation(1).state == "acknowledged"


def test_the_working_set_is_read_by_case_not_from_every_open_deadline(book: Casebook) -> None:
    """SQLite answered the working-set filter written as an OR from the status and kind indexes: every open deadline
    of the caseload, for a batch of cases (with a long list of ids: for three, it chose the case index anyway)."""
    book.handle_all(_register(3))
    with book.engine.connect() as c:
        query = _SELECT_WORKING_DEADLINES.params(ids=list(range(1, 501)))  # a sweep batch
        sql = str(query.compile(dialect=c.dialect, compile_kwargs={"literal_binds": True}))
        explain = "EXPLAIN QUERY PLAN " if c.dialect.name == "sqlite" else "EXPLAIN "
        plan = " ".join(str(row[-1]) for row in c.exec_driver_sql(explain + sql))
    assert "case_id" in plan, plan
    assert "MULTI-INDEX OR" not in plan and "status_due_on" not in plan, plan
