"""Personal data off the command line: ``--from -`` (a JSON object on standard input) or ``--from FILE``.

A command line is visible to every local user (``ps``, ``/proc/*/cmdline``) and kept in shell histories; a child's
identifier, a date of birth and free text belong on standard input instead. The JSON object carries the same keys
as the options (``child``, ``order_date`` or ``order-date``, …) — for ``fire``, the ``--set`` keys. A key given both
ways is refused, so nothing is silently overridden.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import orjson

from machines.calendar import parse_date
from machines.errors import Refused
from machines.names import shown

__all__ = ["MAX_INPUT", "merge_options", "read_object", "set_fields"]

MAX_INPUT = 1_000_000  # bytes: a registration or an event's answers, not a bulk load


def read_object(source: str | None, what: str) -> dict[str, Any]:
    """The JSON object from ``source`` (``-``: standard input; else a file path); ``{}`` when no ``--from``."""
    if source is None:
        return {}
    try:
        if source == "-":
            raw = sys.stdin.buffer.read(MAX_INPUT + 1)
        else:
            with Path(source).open("rb") as handle:
                raw = handle.read(MAX_INPUT + 1)
    except OSError as exc:
        raise Refused(f"{what} --from: cannot read {shown(source)} ({exc.strerror})") from None
    if len(raw) > MAX_INPUT:
        raise Refused(f"{what} --from: more than {MAX_INPUT} bytes")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        # never echo the input: it is there because it is personal
        raise Refused(f"{what} --from: not valid JSON (one object, as UTF-8)") from None
    if not isinstance(value, dict):
        raise Refused(f"{what} --from: the JSON must be one object of keys and values")
    return {str(k).replace("-", "_"): v for k, v in value.items()}


def _text(key: str, value: Any, what: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int)):
        return str(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ",".join(value)
    raise Refused(f"{what} --from: {shown(key)} must be text (or a list of names)")


def merge_options(args: argparse.Namespace, given: dict[str, Any], *, what: str, dates: Sequence[str],
                  texts: Sequence[str], required: Sequence[str]) -> None:  # fmt: skip
    """Fill the parsed options from the JSON object; refuse unknown keys, keys given both ways, and a required
    option given neither way (in argparse's words, so the refusal reads the same)."""
    for key, value in given.items():
        if key not in dates and key not in texts:
            raise Refused(f"{what} --from: unknown key {shown(key)}")
        if getattr(args, key, None) is not None:
            raise Refused(f"{what}: --{key.replace('_', '-')} given both on the command line and in --from")
        if value is None:
            continue
        if key in dates:
            if isinstance(value, date):
                parsed = value
            else:
                try:
                    parsed = parse_date(_text(key, value, what))
                except ValueError as exc:
                    raise Refused(f"{what} --from: {key}: {exc}") from None
            setattr(args, key, parsed)
        else:
            setattr(args, key, _text(key, value, what))
    missing = [f"--{k.replace('_', '-')}" for k in required if getattr(args, k, None) is None]
    if missing:
        raise Refused(f"{what}: the following arguments are required: {', '.join(missing)}")


def set_fields(given: dict[str, Any], fields: dict[str, str], what: str) -> dict[str, str]:
    """``fire``'s ``--set`` fields with those of the JSON object added (a key given both ways is refused)."""
    out = dict(fields)
    for key, value in given.items():
        if key in out:
            raise Refused(f"{what}: {shown(key)} given both with --set and in --from")
        out[key] = _text(key, value, what)
    return out
