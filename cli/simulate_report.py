"""The statistics ``orderwatch simulate`` prints, and its replay check of a sample of the cases' logs."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from typing import Any

from sqlalchemy import Engine, func, select

from storage import models as tables
from storage.casebook import Casebook

__all__ = ["replay_check", "statistics"]


def statistics(engine: Engine, acts: int, refused: Counter[str], never: int, late_reviews: int, cases: int, days: int,
               wall: float, swept: Counter[str]) -> dict[str, Any]:  # fmt: skip
    """What the simulated period did: counts by kind, state, event, flag and notice (no personal data)."""
    with engine.connect() as c:
        deadlines: dict[str, dict[str, int]] = defaultdict(dict)
        for kind, status, n in c.execute(
            select(tables.deadlines.c.kind, tables.deadlines.c.status, func.count()).group_by(
                tables.deadlines.c.kind, tables.deadlines.c.status
            )
        ):
            deadlines[kind][status] = n
        escalations: dict[str, dict[str, int]] = defaultdict(dict)
        for reason, state, n in c.execute(
            select(tables.escalations.c.reason, tables.escalations.c.state, func.count())
            .group_by(tables.escalations.c.reason, tables.escalations.c.state)
            .order_by(tables.escalations.c.reason)
        ):
            escalations[reason][state] = n
        states: dict[str, dict[str, int]] = defaultdict(dict)
        for kind, state, n in c.execute(
            select(tables.cases.c.kind, tables.cases.c.state, func.count()).group_by(
                tables.cases.c.kind, tables.cases.c.state
            )
        ):
            states[kind][state] = n
        events = c.scalar(select(func.count()).select_from(tables.events)) or 0
        opened = c.scalar(select(func.count()).select_from(tables.cases)) or 0
        by_event: dict[str, int] = {
            e: n for e, n in c.execute(select(tables.events.c.event, func.count()).group_by(tables.events.c.event))
        }
        n_ = tables.notifications
        told: dict[str, int] = {k: n for k, n in c.execute(select(n_.c.kind, func.count()).group_by(n_.c.kind))}
        flagged: Counter[str] = Counter()
        for (details,) in c.execute(select(tables.cases.c.details)):
            flagged.update(f["flag"] for f in details.get("flags", []))
    return {
        "cases_generated": cases,
        "cases_opened": opened,  # more than generated: a final Supervision Order opens a linked SO case
        "days": days + 1,
        "wall_seconds": round(wall, 2),
        "events_logged": events,
        "events_by_name": {k: int(v) for k, v in sorted(by_event.items())},
        "flagged": dict(sorted(flagged.items())),
        "notifications": {k: int(v) for k, v in sorted(told.items())},
        "late_reviews_scheduled": late_reviews,
        "actions_attempted": acts,
        "actions_refused": dict(sorted(refused.items())),
        "work_never_done": never,
        "deadlines_passed_by_sweep": swept["passed"],
        "deadlines": {k: dict(sorted(v.items())) for k, v in sorted(deadlines.items())},
        "escalations": {k: dict(sorted(v.items())) for k, v in sorted(escalations.items())},
        "final_states": {k: dict(sorted(v.items())) for k, v in sorted(states.items())},
    }


def replay_check(engine: Engine, book: Casebook, rng: random.Random, sample: int) -> dict[str, Any]:
    """Replay a random sample of cases' logs and compare with what is stored."""
    with engine.connect() as c:
        refs = sorted(c.scalars(select(tables.cases.c.ref)))
    chosen = rng.sample(refs, min(sample, len(refs)))
    differ = [ref for ref in chosen if not book.replay_matches(ref)]
    return {"sampled": len(chosen), "reproduced": len(chosen) - len(differ), "differ": differ[:20], "ok": not differ}
