"""Fault injection: real ``orderwatch fire`` and ``orderwatch sweep`` processes killed with SIGKILL at random points,
on SQLite and PostgreSQL, then run again with the same request id.

Half the kills land at an exact database step — before a statement, before a COMMIT, just after one — chosen at
random (tests/forker.py); the other half at a random instant. After each kill: the command run again with its
request id exits 0; run a third time it records nothing and prints exactly the same JSON; every deadline passed at
most once; the sweep's report counts exactly what was recorded (the batches that committed before the kill are
answered from their records, the rest done); and every case's log replays to the case as stored.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from datetime import date, timedelta

import sqlalchemy as sa

from machines.cp_iso import CpIsoRegistration
from machines.supervision_order import SORegistration
from storage.casebook import Casebook
from storage.commands import Register
from storage.models import cases, deadlines, events
from tests.forker import Finished, Zygote

TRIALS = 30
ENV: dict[str, str | None] = {"ORDERWATCH_TODAY": "2026-11-20", "ORDERWATCH_POLICY": None}


def _passed_twice(engine: sa.Engine) -> list[tuple[object, ...]]:
    """Deadlines passed more than once (there must be none)."""
    with engine.connect() as c:
        rows = c.execute(
            sa.select(events.c.case_id, events.c.payload, events.c.escalation_no).where(events.c.source.like("timer%"))
        ).all()
    counts = Counter((cid, p["deadline"], p["due_on"], no) for cid, p, no in rows)
    return [key for key, n in counts.items() if n > 1]


def _timer_events_after(engine: sa.Engine, watermark: int) -> int:
    with engine.connect() as c:
        found = c.scalar(
            sa.select(sa.func.count())
            .select_from(events)
            .where(events.c.id > watermark, events.c.source.like("timer%"))
        )
    return int(found or 0)


def _max_event(engine: sa.Engine) -> int:
    with engine.connect() as c:
        return int(c.scalar(sa.select(sa.func.coalesce(sa.func.max(events.c.id), 0))) or 0)


def _killed_run(zygote: Zygote, argv: list[str], rng: random.Random, trial: int, steps: int,
                seconds: float) -> Finished:  # fmt: skip
    """The command, killed: at a random database step (even trials), or at a random instant (odd ones)."""
    if trial % 2 == 0:
        return zygote.run(argv, env=ENV, kill_at=rng.randint(1, steps))
    child = zygote.spawn(argv, env=ENV)
    time.sleep(rng.uniform(0, seconds))
    child.kill()
    return child.wait()


def _calibrate(zygote: Zygote, argv: list[str]) -> tuple[int, float]:
    """How many database steps and how long an uninterrupted run takes."""
    started = time.perf_counter()
    done = zygote.run(argv, env=ENV, count=True)
    assert done.rc == 0, done
    assert done.steps is not None
    return done.steps, time.perf_counter() - started


def test_killed_fire_then_retried_records_once(zygote: Zygote, book: Casebook, db_url: str) -> None:
    rng = random.Random(11)
    reg = [Register(actor="sw1", on=date(2026, 6, 1), registration=CpIsoRegistration(
        f"CP-F{n}", f"C-F{n}", date(2026, 6, 1), date(2026, 8, 20), last_review=date(2026, 5, 20)))
        for n in range(TRIALS + 1)]  # fmt: skip
    assert not any(isinstance(r, Exception) for r in book.handle_all(reg))

    def argv(n: int) -> list[str]:
        return ["fire", f"CP-F{n}", "raise_disagreement", "--actor", "tm1", "--on", "2026-06-10", "--set",
                f"note=disagreement {n}", "--request-id", f"fire-{n}", "--db", db_url, "--json"]  # fmt: skip

    steps, seconds = _calibrate(zygote, argv(TRIALS))
    kills = 0
    for n in range(TRIALS):
        first = _killed_run(zygote, argv(n), rng, n, steps, seconds)
        assert first.killed or first.rc == 0, first
        kills += first.killed
        again = zygote.run(argv(n), env=ENV)
        assert again.rc == 0, (n, again)
        third = zygote.run(argv(n), env=ENV)
        assert third.rc == 0 and third.out == again.out, (n, third)
        if not first.killed:
            assert first.out == again.out
        assert again.json()["event"] == "raise_disagreement"
    assert kills >= TRIALS // 3, f"only {kills} of {TRIALS} runs were killed"  # a timed kill may come too late
    with book.engine.connect() as c:
        fired = Counter(
            c.execute(
                sa.select(cases.c.ref)
                .join(events, events.c.case_id == cases.c.id)
                .where(events.c.event == "raise_disagreement")
            ).scalars()
        )
    assert fired == Counter({f"CP-F{n}": 1 for n in range(TRIALS + 1)})  # exactly once each
    assert _passed_twice(book.engine) == []
    assert all(book.replay_matches(f"CP-F{n}") for n in range(TRIALS + 1))
    print(f"\nfire: {TRIALS} trials, {kills} killed (at a step of {steps}, or within {seconds:.3f} s), "
          f"{TRIALS * 2} reruns: each event recorded once")  # fmt: skip


def test_killed_sweeps_then_retried_pass_every_deadline_once(zygote: Zygote, book: Casebook, db_url: str) -> None:
    rng = random.Random(12)
    # cases notified on every day of a month, so each day's sweep has work to be killed in
    notified = [date(2026, 1, 5) + timedelta(days=n % 31) for n in range(124)]
    regs = [Register(actor="sw1", on=notified[n], registration=SORegistration(
        f"SO-S{n}", f"C-S{n}", date(2026, 1, 2), notified_on=notified[n])) for n in range(124)]  # fmt: skip
    assert not any(isinstance(r, Exception) for r in book.handle_all(regs))

    def argv(day: date, key: str) -> list[str]:
        return ["sweep", "--as-of", day.isoformat(), "--batch-size", "4", "--request-id", key, "--db", db_url,
                "--json"]  # fmt: skip

    start = date(2026, 1, 20)
    steps, seconds = _calibrate(zygote, argv(start, "sweep-calibration"))
    per_step = seconds / steps
    kills = 0
    for n in range(TRIALS):
        as_of = start + timedelta(days=n + 1)
        watermark = _max_event(book.engine)
        with book.engine.connect() as c:
            due = c.scalar(sa.select(sa.func.count()).select_from(cases).where(cases.c.next_due_on < as_of)) or 0
        # about 16 steps a batch of 4 cases (lock and claim, three reads, the writes, the request's record, the
        # commit), one batch more to find nothing is left, and a few to start
        estimate = 5 + 16 * (-(-due // 4) + 1)
        first = _killed_run(zygote, argv(as_of, f"sweep-{n}"), rng, n, estimate, estimate * per_step)
        assert first.killed or first.rc == 0, first
        kills += first.killed
        again = zygote.run(argv(as_of, f"sweep-{n}"), env=ENV)
        assert again.rc == 0, (n, again)
        third = zygote.run(argv(as_of, f"sweep-{n}"), env=ENV)
        assert third.rc == 0 and third.out == again.out, (n, again.out, third.out)
        if not first.killed:
            assert first.out == again.out
        # the rerun's report accounts for exactly what was recorded since the trial began, batches before the
        # kill included (answered from their records)
        assert again.json()["passed"] == _timer_events_after(book.engine, watermark), n
        with book.engine.connect() as c:
            overdue = c.scalar(
                sa.select(sa.func.count())
                .select_from(deadlines)
                .where(deadlines.c.status == "open", deadlines.c.due_on < as_of)
            )
        assert overdue == 0, n
    assert kills >= TRIALS // 3, f"only {kills} of {TRIALS} runs were killed"  # a timed kill may come too late
    assert _passed_twice(book.engine) == []
    assert all(book.replay_matches(f"SO-S{n}") for n in range(124))
    print(f"\nsweep: {TRIALS} trials, {kills} killed (at a random step, or a random instant), {TRIALS * 2} reruns: "
          "every deadline passed once")  # fmt: skip
