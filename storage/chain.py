"""Hash chains: the tamper-evident record (DESIGN "Who is acting"; issue 13).

Each case's events form a chain (by ``seq``); the people log and the access log are one chain each (by ``id``).
A row's ``hash`` is ``sha256(previous hash + "\\n" + canonical JSON of the row's content)``, written in the same
transaction as the row. The content is every column of the row but ``id`` and ``hash`` — generic, so a column added
later is covered without touching this module — with two rules:

- a column whose value is NULL is left out, so adding a nullable column to a chained table leaves the old rows'
  hashes as they were (a migration that fills a new column in for old rows must re-seal them, deliberately);
- an *erasable* column (``events.payload``: the registration's child identifier and date of birth, free text) is
  covered through its digest, ``sha256(canonical JSON of the value)``. A lawful disposal (``storage.retention``)
  replaces the value with ``{"~erased": digest}``: the chain still verifies, and nothing personal is left.

Where the chain ends is kept beside it — a case's ``last_seq`` and ``log_head``, the ``chain_heads`` row of a log —
so a chain cut short, or emptied, is caught too. The previous hash is read under a lock: a case's by the case lock
the unit of work already holds; a log's by an advisory transaction lock on PostgreSQL (SQLite's ``BEGIN IMMEDIATE``
already serialises writers).

What this does not do: someone who can write the database *and* recompute every hash can rewrite history
undetected — there is no secret in the chain. ``orderwatch verify --json`` prints every chain's head; kept
somewhere else (a ticket, the operator's log), a later verify shows whether the record has been rewritten since.
"""

from __future__ import annotations

import enum
import functools
import hashlib
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import orjson
from sqlalchemy import Column, Connection, Table, insert, select, text, update
from sqlalchemy.sql.elements import False_, True_

from storage.models import chain_heads as _HEADS
from storage.models import metadata

__all__ = [
    "ERASABLE",
    "ERASED",
    "GENESIS",
    "advance",
    "append",
    "canonical",
    "content",
    "count_cases",
    "digest",
    "erased_digest",
    "head_of",
    "link",
    "seal",
]

GENESIS = ""  # the "previous hash" of a chain's first row
ERASED = "~erased"  # the key of an erased value: {"~erased": "<digest of what it was>"}
# The columns covered by their digest, so that a disposal can erase them and the chain still verifies.
ERASABLE: dict[str, frozenset[str]] = {"events": frozenset({"payload"})}
_SKIP = frozenset({"id", "hash"})
_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def _plain(value: Any) -> Any:
    """A value as the database gives it back, whichever database: instants in UTC without a zone (SQLite keeps no
    zone), dates as ISO strings, enums as their values."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return _plain(value.value)
    return value


def canonical(value: Any) -> bytes:
    """Canonical JSON: keys sorted, no spaces, dates and instants as the database gives them back."""
    return orjson.dumps(value, default=_plain, option=_OPTIONS)


def digest(value: Any) -> str:
    """The digest an erasable value is covered by (and an erased one keeps)."""
    return hashlib.sha256(canonical(value)).hexdigest()


def erased_digest(value: Any) -> str | None:
    """The digest kept in an erased value, or ``None`` if the value is not an erased one."""
    if isinstance(value, Mapping) and len(value) == 1 and isinstance(value.get(ERASED), str):
        return str(value[ERASED])
    return None


def content(table: str, row: Mapping[Any, Any]) -> dict[str, Any]:
    """What a row's hash covers: its non-NULL columns but ``id`` and ``hash``, erasable ones by their digest."""
    erasable = ERASABLE.get(table, frozenset())
    out: dict[str, Any] = {}
    for name, value in row.items():
        if name in _SKIP or value is None:
            continue
        if name in erasable:
            kept = erased_digest(value)
            out[name] = {"sha256": kept if kept is not None else digest(value)}
        else:
            out[name] = _plain(value)
    return out


def link(previous: str, table: str, row: Mapping[Any, Any]) -> str:
    """A row's hash: its content chained to the previous row's hash."""
    return hashlib.sha256(previous.encode() + b"\n" + canonical(content(table, row))).hexdigest()


def _server_default(column: Column[Any]) -> Any:
    """The value a column's server default gives (a literal or true/false), or raise: the hash must cover the row as
    stored, so a default the chain cannot know has to be given explicitly by whoever inserts."""
    arg = getattr(column.server_default, "arg", None)
    if isinstance(arg, True_):
        return True
    if isinstance(arg, False_):
        return False
    if isinstance(arg, str):
        return int(arg) if column.type.python_type is int else arg
    raise TypeError(f"{column.table.name}.{column.name}: give it explicitly (a chained row's server default)")


@functools.cache
def _defaults(table: str) -> tuple[Column[Any], ...]:
    """The columns of ``table`` the server fills in when a row leaves them out."""
    return tuple(c for c in metadata.tables[table].c if c.server_default is not None)


def _with_defaults(table: str, rows: Sequence[dict[str, Any]]) -> None:
    """Fill in the columns a row leaves to the server's default, as the server will, before it is hashed."""
    defaulted = _defaults(table)
    for row in rows:
        for column in defaulted:
            if column.name not in row:
                row[column.name] = _server_default(column)


def seal(previous: str, table: str, rows: Sequence[dict[str, Any]]) -> str:
    """Set each row's ``hash`` in order, chained from ``previous``; returns the new head."""
    _with_defaults(table, rows)
    head = previous
    for row in rows:
        row.pop("hash", None)
        head = row["hash"] = link(head, table, row)
    return head


def _lock(connection: Connection, chain: str) -> None:
    if connection.dialect.name == "postgresql":
        # per schema: test schemas (and tenants) on one server do not wait for each other
        connection.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended('chain:' || :c || ':' || current_schema(), 0))"),
            {"c": chain},
        )


def head_of(connection: Connection, chain: str) -> tuple[int, str]:
    """A log chain's recorded length and head (0 and the genesis for a log never written)."""
    found = connection.execute(select(_HEADS.c.count, _HEADS.c.head).where(_HEADS.c.chain == chain)).first()
    return (0, GENESIS) if found is None else (int(found[0]), str(found[1]))


def advance(connection: Connection, chain: str, added: int, head: str) -> None:
    """Move a chain's recorded head on by ``added`` rows (the caller holds the chain's lock)."""
    changed = connection.execute(
        update(_HEADS).where(_HEADS.c.chain == chain).values(count=_HEADS.c.count + added, head=head)
    ).rowcount
    if not changed:
        connection.execute(insert(_HEADS).values(chain=chain, count=added, head=head))


def append(connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Append rows to a log that is one chain (``people_log``, ``access_log``), sealed, with its head moved on, in
    the caller's transaction."""
    if not rows:
        return
    _lock(connection, table.name)
    _count, previous = head_of(connection, table.name)
    sealed = [dict(r) for r in rows]
    head = seal(previous, table.name, sealed)
    connection.execute(insert(table), sealed)
    advance(connection, table.name, len(sealed), head)


def count_cases(connection: Connection, added: int) -> None:
    """Cases opened are counted (``chain_heads`` row ``cases``), so a case removed whole, log and all, is caught."""
    _lock(connection, "cases")
    advance(connection, "cases", added, GENESIS)
