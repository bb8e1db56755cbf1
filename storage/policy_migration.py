"""``orderwatch policy migrate``: live cases move to the policy in force, deliberately — a dry run first, then the
same plan applied — each in its own log (``policy_migrated``: the policies from and to, and which deadlines moved
from when to when). Cases that have ended keep the policy they ran under.

The dry run prints a plan id (a hash of the plan); applying takes it back (``--plan``) and refuses if the plan has
changed since (a deadline passed, an event moved a case): look at the new dry run, then apply that.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, func, select

from machines.errors import Refused
from machines.model import CaseKind
from machines.procedures import PROCEDURES
from machines.repolicy import Move, migration_entry, policy_moves
from storage.models import cases as _CASES
from storage.models import policies as _POLICIES
from storage.policies import PolicyBook
from storage.uow import UnitOfWork, transaction

__all__ = ["CasePlan", "PolicyPlan", "StoredPolicy", "apply_plan", "plan", "stored_policies"]

_BATCH = 100  # cases per transaction when applying


@dataclass(frozen=True, slots=True)
class CasePlan:
    """One live case under another policy: the deadlines moving to the policy in force moves."""

    case: str
    from_policy: str  # content hash
    moved: list[Move]

    def as_json(self) -> dict[str, Any]:
        return {"case": self.case, "from": self.from_policy,
                "moved": [{"deadline": m.kind if m.escalation_no is None else f"{m.kind}#{m.escalation_no}",
                           "from": m.from_due.isoformat(), "to": m.to_due.isoformat()} for m in self.moved]}  # fmt: skip


@dataclass
class PolicyPlan:
    """Every live case not under the policy in force, and what moving it would move."""

    to_policy: str
    on: date
    cases: list[CasePlan] = field(default_factory=list)
    applied: bool = False

    @property
    def id(self) -> str:
        """A short hash of the plan: the dry run shows it, applying takes it back."""
        content = [self.to_policy, self.on.isoformat(), [c.as_json() for c in self.cases]]
        return hashlib.sha256(orjson.dumps(content)).hexdigest()[:12]

    def as_json(self) -> dict[str, Any]:
        return {"plan": self.id, "dry_run": not self.applied, "on": self.on.isoformat(), "to": self.to_policy,
                "cases": [c.as_json() for c in self.cases],
                "deadlines_moved": sum(len(c.moved) for c in self.cases)}  # fmt: skip


@dataclass(frozen=True, slots=True)
class StoredPolicy:
    """A policy cases have run under (``orderwatch policy list``)."""

    policy: str  # its content hash
    recorded_at: datetime
    in_force: bool
    cases: int
    live_cases: int

    def as_json(self) -> dict[str, Any]:
        return {"policy": self.policy, "recorded_at": self.recorded_at.isoformat(timespec="seconds"),
                "in_force": self.in_force, "cases": self.cases, "live_cases": self.live_cases}  # fmt: skip


def _live(kind: str, state: str) -> bool:
    return state not in PROCEDURES[CaseKind(kind)].final


def _candidates(connection: Connection, current_id: int | None) -> list[str]:
    """Live cases recording a policy other than the one in force, by reference."""
    query = select(_CASES.c.ref, _CASES.c.kind, _CASES.c.state).where(_CASES.c.policy_id.is_not(None))
    if current_id is not None:
        query = query.where(_CASES.c.policy_id != current_id)
    return [ref for ref, kind, state in connection.execute(query.order_by(_CASES.c.id)) if _live(kind, state)]


def _current_id(connection: Connection, book: PolicyBook) -> int | None:
    found: int | None = connection.scalar(select(_POLICIES.c.id).where(_POLICIES.c.hash == book.current_hash))
    return found


def _case_plans(uow: UnitOfWork, refs: list[str], on: date) -> list[CasePlan]:
    uow.take(refs)
    plans = []
    for ref in refs:
        loaded = uow.case(ref)
        old = uow.rules(loaded).policy
        from_hash = uow.connection.scalar(select(_POLICIES.c.hash).where(_POLICIES.c.id == loaded.policy_id))
        plans.append(CasePlan(ref, str(from_hash), policy_moves(loaded.case, old, uow.policies.current, on)))
    return plans


def plan(engine: Engine, book: PolicyBook, on: date, now: Callable[[], datetime]) -> PolicyPlan:
    """The dry run: what moving every live case to the policy in force would do (nothing is written)."""

    def read(connection: Connection) -> PolicyPlan:
        uow = UnitOfWork(connection, book.current, now=now(), source=None, policies=book)
        result = PolicyPlan(book.current_hash, on)
        result.cases = _case_plans(uow, _candidates(connection, _current_id(connection, book)), on)
        return result

    return transaction(engine, read, write=False)


def apply_plan(engine: Engine, book: PolicyBook, on: date, now: Callable[[], datetime], *, plan_id: str,
               actor: str) -> PolicyPlan:  # fmt: skip
    """Move every live case to the policy in force, as the dry run with id ``plan_id`` said (refused if the plan
    is no longer that one): each case's deadlines moved and a ``policy_migrated`` entry in its log."""
    expected = plan(engine, book, on, now)
    if expected.id != plan_id:
        raise Refused(
            f"the plan has changed since the dry run (it is now {expected.id}): run 'orderwatch policy migrate "
            "--dry-run' again, check it, then apply that plan"
        )
    refs = [c.case for c in expected.cases]
    done = PolicyPlan(book.current_hash, on, applied=True)
    for start in range(0, len(refs), _BATCH):
        batch = refs[start : start + _BATCH]

        def move(connection: Connection, batch: list[str] = batch) -> list[CasePlan]:
            uow = UnitOfWork(connection, book.current, now=now(), source=None, policies=book)
            current_id = book.current_id(connection, uow.now)
            plans = _case_plans(uow, batch, on)
            for case_plan in plans:
                loaded = uow.case(case_plan.case)
                entry = migration_entry(loaded.case, case_plan.moved, (case_plan.from_policy, book.current_hash),
                                        actor, "operator", on)  # fmt: skip
                uow.record(loaded, [entry])
                loaded.policy_id = current_id
            uow.flush()
            return plans

        done.cases.extend(transaction(engine, move))
    return done


def stored_policies(engine: Engine, book: PolicyBook) -> list[StoredPolicy]:
    """Every policy cases have run under: its hash, when first recorded, whether it is in force, its live cases."""

    def read(connection: Connection) -> list[StoredPolicy]:
        live: dict[int, int] = {}
        for policy_id, kind, state in connection.execute(select(_CASES.c.policy_id, _CASES.c.kind, _CASES.c.state)):
            if policy_id is not None and _live(kind, state):
                live[policy_id] = live.get(policy_id, 0) + 1
        rows = connection.execute(
            select(_POLICIES.c.id, _POLICIES.c.hash, _POLICIES.c.recorded_at, func.count(_CASES.c.id))
            .outerjoin(_CASES, _CASES.c.policy_id == _POLICIES.c.id)
            .group_by(_POLICIES.c.id, _POLICIES.c.hash, _POLICIES.c.recorded_at)
            .order_by(_POLICIES.c.id)
        )
        return [StoredPolicy(digest, recorded, digest == book.current_hash, n, live.get(pid, 0))
                for pid, digest, recorded, n in rows]  # fmt: skip

    return transaction(engine, read, write=False)
