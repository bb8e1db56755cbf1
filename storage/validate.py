"""Input hygiene before the database: every command and every read's reference is checked here, the same way for
SQLite and PostgreSQL (which would otherwise disagree: PostgreSQL refuses NUL bytes, lone surrogates and values
longer than a column, SQLite stores them).

References and user names: 1 to 64 printable characters, no spaces, control, bidi or zero-width characters. Free
text: at most 10,000 characters, no NUL or other control characters but tab and newline, no bidi overrides. Dates:
the years 1900–2100. Request ids: names of up to 100 characters.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import date
from typing import Any

from machines.calendar import in_range
from machines.errors import Refused
from machines.names import check_child_id, check_name, check_text, is_name, shown

__all__ = [
    "MAX_BATCH",
    "MAX_REQUEST_ID",
    "check_command",
    "check_email",
    "check_reference",
    "check_request_id",
    "check_user",
]

MAX_REQUEST_ID = 100
MAX_BATCH = 10_000
_MAX_INT = 2**31 - 1  # the integer columns' range on PostgreSQL
# Fields (of commands and registrations) that hold a name, and what the refusal calls it.
_NAMES = {
    "actor": "user name",
    "entered_by": "user name",
    "user": "user name",
    "manager": "user name",
    "social_worker": "user name",
    "ref": "case reference",
    "opened_from": "case reference",
    "event": "event",
    "action": "escalation action",
    "role": "role",
    "recipient": "user name",
}


def check_reference(ref: object) -> str:
    """A case reference (or ``ESC-<id>``) as typed: the name rules."""
    return check_name(ref, "case reference")


def check_user(user: object, what: str = "user name") -> str:
    return check_name(user, what)


def check_email(email: object) -> str:
    """An e-mail address: one ``@`` between a local part and a domain with a dot, printable ASCII without spaces,
    at most 254 characters. The refusal does not repeat it (it is personal data)."""
    if isinstance(email, str) and 3 <= len(email) <= 254 and email.isascii() and email.isprintable():
        local, at, domain = email.rpartition("@")
        if at and local and "." in domain.strip(".") and not any(c.isspace() or c in '<>,;"\\' for c in email):
            return email
    raise Refused("the e-mail address must be like name@example.gov.uk (printable ASCII, one @, at most 254 "
                  "characters)")  # fmt: skip


def check_request_id(key: object) -> str:
    """A request id: printable, no spaces, at most 100 characters (a flow run id, a UUID, a form token)."""
    # (a space is the one whitespace character that is printable)
    if not (isinstance(key, str) and 0 < len(key) <= MAX_REQUEST_ID and key.isprintable() and " " not in key):
        raise Refused(
            f"request id {shown(key)} must be 1 to {MAX_REQUEST_ID} printable characters, without spaces, control, "
            "bidi or zero-width characters"
        )
    return key


def _check_value(value: Any, what: str) -> None:
    """Any other value a command carries: text clean, dates in range, collections checked item by item."""
    if isinstance(value, str):
        check_text(value, what)
    elif isinstance(value, int) and not isinstance(value, bool):
        if not -_MAX_INT <= value <= _MAX_INT:
            raise Refused(f"{what}: {shown(value)} is out of range")
    elif isinstance(value, date):
        if not in_range(value):
            raise Refused(f"{what}: {value} is outside the years 1900-2100")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if not is_name(key):
                raise Refused(f"field name {shown(key)} must be 1 to 64 printable characters, without spaces")
            _check_value(item, f"{what} {key}")
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            _check_value(item, what)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        _check_fields(value)


def _check_fields(obj: Any) -> None:
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if value is None:
            continue
        if f.name in _NAMES:
            check_name(value, _NAMES[f.name])
        elif f.name == "child_id":
            check_child_id(value)
        elif f.name == "request_id":
            check_request_id(value)
        elif f.name == "source":
            check_text(value, "source")
        elif f.name == "email":
            check_email(value)
        elif f.name == "batch_size":
            if type(value) is not int or not 1 <= value <= MAX_BATCH:
                raise Refused(f"the batch size must be 1 to {MAX_BATCH} cases")
        else:
            _check_value(value, f.name.replace("_", " "))


def check_command(command: object) -> None:
    """Refuse (exit 2, nothing changed) any command whose names, text or dates the database could not take as
    they are, or would take differently on SQLite and PostgreSQL."""
    _check_fields(command)
