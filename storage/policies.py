"""The local policy each case runs under, versioned: every policy a case has used is stored once (its settings and
the SHA-256 of their canonical JSON), and each case points at its own (``cases.policy_id``).

Commands on a case, and its replay, use the case's policy, so a changed ``policy.toml`` applies to new cases only;
live cases move to it only through ``orderwatch policy migrate`` (``storage.policy_migration``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from machines.calendar import parse_date
from machines.policy import Policy
from storage.models import policies as _POLICIES

__all__ = ["PolicyBook", "policy_from_settings", "policy_hash", "settings_of"]


# Settings that are the authority's, not a case's timescales: applied as in force, never recorded per case (so a
# policy's hash, and the cases' record of what they ran under, do not change with them).
AUTHORITY_WIDE = frozenset({"retention_age", "retention_years_after_end"})


def settings_of(policy: Policy) -> dict[str, Any]:
    """The policy's settings as canonical JSON values (closure days sorted, as ISO dates)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(policy):
        if f.name in AUTHORITY_WIDE:
            continue
        value = getattr(policy, f.name)
        out[f.name] = sorted({d.isoformat() for d in value}) if f.name == "closure_days" else value
    return out


def _digest(settings: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def policy_hash(policy: Policy) -> str:
    """The content hash that names a policy (the same settings, the same hash, whatever the file looked like)."""
    return _digest(settings_of(policy))


def policy_from_settings(settings: dict[str, Any]) -> Policy:
    """A stored policy's settings as the ``Policy`` (settings added to the code since take their defaults)."""
    data = dict(settings)
    data["closure_days"] = tuple(parse_date(str(d)) for d in data.get("closure_days", ()))
    return Policy.from_mapping(data)


class _Inserted(threading.local):
    """The id this thread's transaction stored the policy in force under, until it commits (each thread runs its own
    transactions: one thread's commit says nothing of another's insert)."""

    id: int | None = None


class PolicyBook:
    """The policies of one database as one process sees them: the one in force, and the stored ones by id.

    Stored policies never change, so they are cached by id — the one in force too, except while this process's own
    insert of it is not known to have committed (rolled back, its id could name another policy later)."""

    def __init__(self, current: Policy) -> None:
        self.current = current
        self.current_hash = policy_hash(current)
        self._by_id: dict[int, Policy] = {}
        self._inserted = _Inserted()

    def begin(self) -> None:
        """A transaction begins on this thread: nothing it stores is known to have committed yet (a failed one
        before it stored something that never landed)."""
        self._inserted.id = None

    def committed(self) -> None:
        """The transaction that may have stored the policy in force committed: its id can be cached."""
        if self._inserted.id is not None:
            self._by_id[self._inserted.id] = self.current
            self._inserted.id = None

    def get(self, connection: Connection, policy_id: int) -> Policy:
        """The stored policy with this id."""
        cached = self._by_id.get(policy_id)
        if cached is not None:
            return cached
        row = connection.execute(
            select(_POLICIES.c.hash, _POLICIES.c.settings).where(_POLICIES.c.id == policy_id)
        ).first()
        if row is None:
            raise LookupError(f"no policy {policy_id}")
        if row.hash == self.current_hash:
            if policy_id != self._inserted.id:  # a row this process did not insert was committed by whoever did
                self._by_id[policy_id] = self.current
            return self.current
        policy = self._by_id[policy_id] = policy_from_settings(dict(row.settings))
        return policy

    def by_hash(self, connection: Connection, digest: str) -> tuple[int, Policy] | None:
        """The stored policy with this content hash, with its id."""
        row = connection.execute(select(_POLICIES.c.id).where(_POLICIES.c.hash == digest)).first()
        return None if row is None else (row.id, self.get(connection, row.id))

    def all(self, connection: Connection) -> dict[str, Policy]:
        """Every stored policy, by content hash (replay looks up the policies a case moved to)."""
        rows = connection.execute(select(_POLICIES.c.id, _POLICIES.c.hash))
        return {digest: self.get(connection, pid) for pid, digest in rows}

    def current_id(self, connection: Connection, now: datetime) -> int:
        """The id of the policy in force, stored now if this is its first case (two processes storing it at once
        both get the one row: the insert does nothing on a conflict). Asked once per unit of work (it keeps the id)."""
        found: int | None = connection.scalar(select(_POLICIES.c.id).where(_POLICIES.c.hash == self.current_hash))
        if found is not None:
            return found
        # each dialect's own INSERT … ON CONFLICT, imported only here: the command line never loads the other's
        values = {"hash": self.current_hash, "settings": settings_of(self.current), "recorded_at": now}
        if connection.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            connection.execute(pg_insert(_POLICIES).values(**values).on_conflict_do_nothing(index_elements=["hash"]))
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            connection.execute(
                sqlite_insert(_POLICIES).values(**values).on_conflict_do_nothing(index_elements=["hash"])
            )
        stored = connection.scalar(select(_POLICIES.c.id).where(_POLICIES.c.hash == self.current_hash))
        if stored is None:  # pragma: no cover - the insert above, or a concurrent one, stored it
            raise LookupError("the policy in force could not be stored")
        self._inserted.id = int(stored)
        return int(stored)
