"""Public identifiers: an escalation is ``ESC-<id>`` to its users.

>>> escalation_id(12), parse_escalation_id("esc-12"), parse_escalation_id("SO-1")
('ESC-12', 12, None)
"""

from __future__ import annotations

from machines.errors import Refused

__all__ = ["ESCALATION_PREFIX", "escalation_id", "parse_escalation_id"]

ESCALATION_PREFIX = "ESC-"
_MAX_ID = 2**31 - 1  # the integer primary key's range on PostgreSQL


def escalation_id(row_id: int) -> str:
    return f"{ESCALATION_PREFIX}{row_id}"


def parse_escalation_id(text: str) -> int | None:
    """``ESC-12`` → 12; anything else → ``None`` (it is a case reference)."""
    if not text.upper().startswith(ESCALATION_PREFIX):
        return None
    number = text[len(ESCALATION_PREFIX) :]
    # ASCII digits only ("²".isdigit() is true), and within the id column's range
    if not (number.isascii() and number.isdigit()) or len(number) > 10 or int(number) > _MAX_ID:
        raise Refused(f"malformed escalation id {text!r}: expected ESC-<number>")
    return int(number)
