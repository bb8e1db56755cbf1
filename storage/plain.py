"""Plain JSON values for the JSON columns (event payloads, case details): written by ``storage.rows``."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import date
from typing import Any

import orjson

__all__ = ["jsonable"]

_PLAIN = (str, int, float, bool, type(None))


def jsonable(value: Any) -> Any:
    """Plain JSON values: dates as ISO strings, enums as their values, tuples as lists, keys as strings."""
    if type(value) in _PLAIN:  # the common case, first: most payload values are plain
        return value
    try:  # orjson does exactly that, in C, a dozen times faster than the walk below
        return orjson.loads(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS))
    except TypeError:  # a type orjson does not know (a non-dict Mapping, …): walk it
        return _walk(value)


def _walk(value: Any) -> Any:
    if type(value) in _PLAIN:
        return value
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value._value_
    if isinstance(value, Mapping):
        return {str(k): _walk(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_walk(v) for v in value]
    return value
