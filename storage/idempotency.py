"""Idempotent commands: a command sent with a request id (``--request-id`` on the CLI, the flow run's id from
Prefect) is recorded with its result in the same transaction as its effects; sent again, it records nothing and
answers exactly as the first time. The same id with different content is refused.

Results are stored typed (a small tagged JSON: dataclasses, enums, dates, counters of orderwatch's own ``machines``
and ``storage`` packages), so a retried command hands back the same ``Transition``, ``CaseView`` or ``SweepReport``
— with the same notices for Prefect — as the first. A result of another type is stored as its JSON text. Mappings
are stored as lists of pairs: PostgreSQL's JSONB does not keep the order of an object's keys, and the answer must
be the same to the byte.

On PostgreSQL two transactions with one request id queue on an advisory lock on it, so the second finds the first's
answer; on SQLite the write lock does the same. The primary key on ``requests.key`` backs both.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import importlib
from collections import Counter
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, insert, select, text

from machines.errors import Refused
from machines.names import shown
from storage.commands import Command
from storage.models import requests as _REQUESTS

__all__ = ["MISSING", "StoredAnswer", "decode", "encode", "fingerprint", "lock", "recall", "remember"]

# The packages whose types a stored result may name (decoding imports nothing else).
_PACKAGES = ("machines.", "storage.")
MISSING: Any = object()


@dataclasses.dataclass(frozen=True)
class StoredAnswer:
    """A stored result of a type from outside orderwatch's packages: its JSON shape."""

    answer: Any

    def as_json(self) -> Any:
        return self.answer


class _Unencodable(Exception):
    pass


def _ours(module: str) -> bool:
    return module.startswith(_PACKAGES)


def _name(cls: type) -> str:
    if not _ours(cls.__module__):
        raise _Unencodable(cls.__qualname__)
    return f"{cls.__module__}:{cls.__qualname__}"


def encode(value: Any) -> Any:
    """The value as tagged JSON (raises ``_Unencodable`` for a type from outside orderwatch's packages)."""
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, enum.Enum):
        return {"$enum": _name(type(value)), "v": value.value}
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, Counter):
        return {"$counter": {str(k): v for k, v in value.items()}}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"$type": _name(type(value)),
                "f": {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}}  # fmt: skip
    if isinstance(value, Mapping):
        return {"$dict": [[encode(k), encode(v)] for k, v in value.items()]}
    if isinstance(value, tuple):
        return {"$tuple": [encode(v) for v in value]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    raise _Unencodable(type(value).__qualname__)


def _resolve(name: str) -> Any:
    module, _, qualname = name.partition(":")
    if not _ours(module):
        raise ValueError(f"a stored result names {name!r}, outside the packages results come from")
    found: Any = importlib.import_module(module)
    for part in qualname.split("."):
        found = getattr(found, part)
    return found


def decode(value: Any) -> Any:
    """The value :func:`encode` made, typed again."""
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "$type" in value:
        cls = _resolve(value["$type"])
        fields = {k: decode(v) for k, v in value["f"].items()}
        init = {f.name for f in dataclasses.fields(cls) if f.init}
        obj = cls(**{k: v for k, v in fields.items() if k in init})
        for k, v in fields.items():
            if k not in init:
                object.__setattr__(obj, k, v)
        return obj
    if "$enum" in value:
        return _resolve(value["$enum"])(value["v"])
    if "$date" in value:
        return date.fromisoformat(value["$date"])
    if "$datetime" in value:
        return datetime.fromisoformat(value["$datetime"])
    if "$counter" in value:
        return Counter(value["$counter"])
    if "$dict" in value:
        return {decode(k): decode(v) for k, v in value["$dict"]}
    if "$tuple" in value:
        return tuple(decode(v) for v in value["$tuple"])
    if "$answer" in value:
        return StoredAnswer(orjson.loads(value["$answer"]))
    raise ValueError("not a stored result")


def _canonical(value: Any) -> Any:
    """Any command's content as plain, ordered JSON values (for the fingerprint: no type needs to be decodable)."""
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, date):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [
            type(value).__qualname__,
            {f.name: _canonical(getattr(value, f.name)) for f in dataclasses.fields(value)},
        ]
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_canonical(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, (set, frozenset)) else items
    return repr(value)


def fingerprint(command: Command) -> str:
    """The hash of what the command asks (its type and fields; not the request id, nor the run that carried it)."""
    content = {f.name: _canonical(getattr(command, f.name)) for f in dataclasses.fields(command)
               if f.name not in ("request_id", "source", "entered_by", "channel")}  # fmt: skip
    blob = orjson.dumps([type(command).__qualname__, content], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(blob).hexdigest()


def lock(connection: Connection, key: str) -> None:
    """Queue behind any other transaction with the same request id (PostgreSQL; SQLite's write lock already does)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": f"request:{key}"})


def recall(connection: Connection, key: str, command: Command) -> Any:
    """The stored answer to this request id, or ``MISSING``; refuses an id already used for different content."""
    row = connection.execute(
        select(_REQUESTS.c.command, _REQUESTS.c.fingerprint, _REQUESTS.c.result).where(_REQUESTS.c.key == key)
    ).first()
    if row is None:
        return MISSING
    if row.command != type(command).__name__ or row.fingerprint != fingerprint(command):
        raise Refused(
            f"request id {shown(key)} was already used for another command ({row.command}): nothing was changed; "
            "give each command its own request id"
        )
    return decode(row.result)


def remember(connection: Connection, key: str, command: Command, result: Any, now: datetime) -> None:
    """Store the request id with the command's fingerprint and result (in the transaction of its effects)."""
    try:
        stored = encode(result)
    except _Unencodable:
        as_json = getattr(result, "as_json", None)
        stored = {"$answer": orjson.dumps(as_json() if as_json is not None else result, default=str).decode()}
    connection.execute(
        insert(_REQUESTS),
        {"key": key, "command": type(command).__name__, "fingerprint": fingerprint(command), "result": stored,
         "actor": command.actor, "recorded_at": now},
    )  # fmt: skip
