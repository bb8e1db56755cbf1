"""Two commands on one case, interleaved on purpose; many commands at once in real processes.

The issue's stale read: ``record_final_hearing`` paused between its reads while ``raise_disagreement`` commits on the
same case saved a concluded case with two open escalation deadlines that no sweep ever reaches. A barrier injected
into the unit of work (``storage.uow.HOOKS``) or between two of its statements (a SQLAlchemy event, in these tests
only) holds one command at the point where the other could slip in; the other must wait for it, on SQLite
(``BEGIN IMMEDIATE``) and PostgreSQL (``FOR UPDATE``). With the PostgreSQL lock taken away, the same interleaving
reproduces the bug — so the test can tell.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa

from machines.cp_iso import CpIsoRegistration
from machines.errors import Refused
from machines.supervision_order import SORegistration
from storage import uow as uow_module
from storage.casebook import Casebook
from storage.commands import Fire, Register
from storage.models import cases, deadlines, events
from tests.conftest import CAST, FIXED_NOW
from tests.forker import Zygote

HEARING = Fire(actor="legal1", ref="CP-1", event="record_final_hearing", on=date(2026, 6, 2),
               fields={"outcome": "no_order"})  # fmt: skip


def _disagreement(note: str = "the plan is not working") -> Fire:
    return Fire(actor="tm1", ref="CP-1", event="raise_disagreement", on=date(2026, 6, 2), fields={"note": note})


def _register_cp(book: Casebook) -> None:
    book.handle(Register(actor="sw1", on=date(2026, 6, 1), registration=CpIsoRegistration(
        "CP-1", "C-1", date(2026, 6, 1), date(2026, 8, 20), last_review=date(2026, 5, 20))))  # fmt: skip


class Run(threading.Thread):
    """A command in a thread of its own, on its own casebook (its own connections)."""

    def __init__(self, name: str, engine: sa.Engine, command: Fire) -> None:
        super().__init__(name=name, daemon=True)
        self.book = Casebook(engine, clock=lambda: FIXED_NOW)
        self.command = command
        self.result: Any = None
        self.refused: Refused | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.book.handle(self.command)
        except Refused as refused:
            self.refused = refused
        except BaseException as exc:  # pragma: no cover - reported by the test
            self.error = exc


class Barrier:
    """Holds the named thread the first time it reaches the point, until released."""

    def __init__(self, thread: str) -> None:
        self.thread = thread
        self.reached = threading.Event()
        self.released = threading.Event()

    def hold(self) -> None:
        if threading.current_thread().name == self.thread and not self.reached.is_set():
            self.reached.set()
            assert self.released.wait(60), "never released"


@pytest.fixture
def after_lock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], Barrier]]:
    """A barrier at the unit of work's "locked" point: the case is locked, nothing of it read yet."""

    def make(thread: str) -> Barrier:
        barrier = Barrier(thread)
        monkeypatch.setattr(uow_module, "HOOKS", [lambda point, refs: point == "locked" and barrier.hold()])
        return barrier

    yield make


def _between_reads(engine: sa.Engine, thread: str) -> Barrier:
    """A barrier between a unit of work's reads: after its deadlines, before its escalations (the issue's pause)."""
    barrier = Barrier(thread)

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _pause(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if "FROM escalations" in statement and "deadlines" not in statement:
            barrier.hold()

    return barrier


def _open_deadlines(engine: sa.Engine, ref: str) -> list[tuple[str, int | None]]:
    with engine.connect() as c:
        return [tuple(r) for r in c.execute(
            sa.select(deadlines.c.kind, deadlines.c.escalation_no).join(cases, cases.c.id == deadlines.c.case_id)
            .where(cases.c.ref == ref, deadlines.c.status == "open"))]  # fmt: skip


def _race(engine: sa.Engine, first: Fire, second: Fire, barrier_for: Callable[[str], Barrier]) -> tuple[Run, Run]:
    """``first`` takes the case and is held; ``second`` starts and must wait for it; then ``first`` goes on."""
    a, b = Run("first", engine, first), Run("second", engine, second)
    barrier = barrier_for("first")
    a.start()
    assert barrier.reached.wait(30)
    b.start()
    b.join(1.0)
    blocked = b.is_alive()
    barrier.released.set()
    a.join(60)
    b.join(60)
    assert a.error is None and b.error is None, (a.error, b.error)
    assert blocked, "the second command did not wait for the first, which held the case"
    return a, b


def test_a_final_hearing_holding_the_case_makes_a_disagreement_wait(
    book: Casebook, engine: sa.Engine, after_lock: Callable[[str], Barrier]
) -> None:
    _register_cp(book)
    hearing, disagreement = _race(engine, HEARING, _disagreement(), after_lock)
    assert hearing.result.to_state == "proceedings_concluded"
    assert disagreement.refused is not None and "not allowed" in str(disagreement.refused)
    assert _open_deadlines(engine, "CP-1") == []
    assert book.replay_matches("CP-1")


def test_a_disagreement_holding_the_case_makes_the_final_hearing_see_it(
    book: Casebook, engine: sa.Engine, after_lock: Callable[[str], Barrier]
) -> None:
    _register_cp(book)
    disagreement, hearing = _race(engine, _disagreement(), HEARING, after_lock)
    assert disagreement.result.to_state == "iso_granted" and hearing.result.to_state == "proceedings_concluded"
    assert _open_deadlines(engine, "CP-1") == []  # the escalation's deadlines were seen, and cancelled
    assert [e.state for e in book.load("CP-1").escalations] == ["raised"]
    assert book.replay_matches("CP-1")


def test_the_issues_pause_between_reads_cannot_see_a_half_committed_case(book: Casebook, engine: sa.Engine) -> None:
    _register_cp(book)
    hearing, disagreement = _race(engine, HEARING, _disagreement(), lambda t: _between_reads(engine, t))
    assert hearing.result.to_state == "proceedings_concluded" and disagreement.refused is not None
    assert _open_deadlines(engine, "CP-1") == []
    assert book.replay_matches("CP-1")


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_without_the_lock_the_same_pause_reproduces_the_stale_read(
    book: Casebook, engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The test has teeth: take PostgreSQL's row lock away and the issue's bug comes back."""
    _register_cp(book)
    unlocked = uow_module.UnitOfWork.__init__

    def without_lock(self: uow_module.UnitOfWork, *args: Any, **kwargs: Any) -> None:
        unlocked(self, *args, **kwargs)
        self._locks = False

    monkeypatch.setattr(uow_module.UnitOfWork, "__init__", without_lock)
    a, b = Run("first", engine, HEARING), Run("second", engine, _disagreement())
    barrier = _between_reads(engine, "first")
    a.start()
    assert barrier.reached.wait(30)
    b.start()
    b.join(30)
    assert not b.is_alive() and b.result is not None  # nothing held it: it committed between the reads
    barrier.released.set()
    a.join(30)
    assert a.result.to_state == "proceedings_concluded"
    assert sorted(_open_deadlines(engine, "CP-1")) == [("escalation_acknowledgement", 1),
                                                       ("escalation_resolution", 1)]  # fmt: skip
    assert not book.replay_matches("CP-1")


def test_two_escalations_raised_at_once_both_land(
    book: Casebook, engine: sa.Engine, after_lock: Callable[[str], Barrier]
) -> None:
    _register_cp(book)
    one, two = _race(engine, _disagreement("first note"), _disagreement("second note"), after_lock)
    assert one.result is not None and two.result is not None
    assert [e.no for e in book.load("CP-1").escalations] == [1, 2]
    assert book.replay_matches("CP-1")


# -- many processes at once --------------------------------------------------------------------------------------


def _statuses(children: list[Any], reasons: Counter[str]) -> list[int | None]:
    done = [child.wait() for child in children]
    for finished in done:
        if finished.rc == 2:
            reasons[finished.err.split(":")[1].split("'")[0].strip()[:40]] += 1
        elif finished.rc != 0:
            reasons[f"exit {finished.rc}: {finished.err.strip()[-200:]}"] += 1
    return [finished.rc for finished in done]


def test_sweeps_and_managers_at_once_exit_0_or_2(zygote: Zygote, book: Casebook, db_url: str) -> None:
    """Real processes: sweeps, managers' events and escalation actions on the same cases at the same time."""
    so = [f"SO-{n}" for n in range(16)]
    cp = [f"CP-{n}" for n in range(8)]
    book.handle_all([Register(actor="sw1", on=date(2026, 1, 16), registration=SORegistration(
        ref, f"C-{ref}", date(2026, 1, 15), notified_on=date(2026, 1, 16))) for ref in so]
        + [Register(actor="sw1", on=date(2026, 6, 1), registration=CpIsoRegistration(
            ref, f"C-{ref}", date(2026, 6, 1), date(2026, 8, 20), last_review=date(2026, 5, 20))) for ref in cp])  # fmt: skip
    env: dict[str, str | None] = {"ORDERWATCH_TODAY": "2026-11-20"}
    db = ["--db", db_url, "--json"]

    def spawn(*argv: str) -> Any:
        return zygote.spawn([*argv, *db], env=env)

    users = {role: user for user, role, _ in CAST}
    rounds: list[list[int | None]] = []
    reasons = Counter[str]()
    # 1: sweeps racing the IRO allocations (some allocations come after a sweep has moved the case on: refused)
    rounds.append(_statuses(
        [spawn("sweep", "--as-of", day, "--batch-size", "3") for day in ("2026-01-26", "2026-01-30", "2026-02-02")]
        + [spawn("fire", ref, "allocate_iro", "--actor", "su1", "--on", "2026-01-27", "--set", "iro=iro1")
           for ref in so], reasons))  # fmt: skip
    # 2: every open escalation acknowledged twice at once (one of each pair refused), sweeps climbing the rest
    open_escalations = [e for e in book.escalations(open_only=True) if e.state == "raised"]
    rounds.append(_statuses(
        [spawn("fire", e.id, "acknowledge", "--actor", users[e.raised_to], "--on", "2026-02-03")
         for e in open_escalations for _ in range(2)]
        + [spawn("sweep", "--as-of", "2026-02-10") for _ in range(2)], reasons))  # fmt: skip
    # 3: disagreements, two a case, racing final hearings and sweeps
    rounds.append(_statuses(
        [spawn("fire", ref, "raise_disagreement", "--actor", "tm1", "--on", "2026-06-10", "--set", "note=no")
         for ref in cp for _ in range(2)]
        + [spawn("fire", ref, "record_final_hearing", "--actor", "legal1", "--on", "2026-06-10", "--set",
                 "outcome=no_order") for ref in cp]
        + [spawn("sweep", "--as-of", "2026-06-12") for _ in range(2)], reasons))  # fmt: skip
    everything = [rc for statuses in rounds for rc in statuses]
    assert set(everything) <= {0, 2}, (rounds, reasons)
    assert 0 in everything and 2 in everything, reasons  # both happened: a real race
    with book.engine.connect() as c:
        final_with_open = c.execute(
            sa.select(cases.c.ref).join(deadlines, deadlines.c.case_id == cases.c.id)
            .where(cases.c.state.in_(["proceedings_concluded", "expired", "discharged"]), deadlines.c.status == "open")
        ).all()  # fmt: skip
        timer_keys = [(cid, p["deadline"], p["due_on"], no) for cid, p, no in c.execute(
            sa.select(events.c.case_id, events.c.payload, events.c.escalation_no)
            .where(events.c.source.like("timer%")))]  # fmt: skip
    assert final_with_open == []
    assert len(timer_keys) == len(set(timer_keys))  # no deadline passed twice
    assert all(book.replay_matches(ref) for ref in so + cp)
    print(f"\n{len(everything)} processes at once in 3 rounds: {everything.count(0)} done, {everything.count(2)} "
          f"refused: {dict(reasons)}")  # fmt: skip
