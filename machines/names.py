"""Input hygiene for what people type: case references, user names, identifiers and free text, checked the same way
whatever database is behind (so SQLite and PostgreSQL refuse the same things), and values echoed back cut and escaped.

>>> check_name("SO-1", "case reference")
'SO-1'
>>> check_name("SO\\u202e1", "case reference")
Traceback (most recent call last):
...
machines.errors.Refused: case reference 'SO\\u202e1' must be 1 to 64 printable characters, without spaces, control, bidi or zero-width characters
>>> shown("x" * 50)
"'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'..."
>>> check_text("a note\\nover two lines", "note")
'a note\\nover two lines'
>>> check_text("nul\\x00", "note")
Traceback (most recent call last):
...
machines.errors.Refused: note must be text of at most 10000 characters, without NUL, control or bidi-control characters
"""

from __future__ import annotations

import unicodedata

from machines.errors import Refused

__all__ = ["MAX_NAME", "MAX_TEXT", "NAME_RULE", "check_child_id", "check_name", "check_text", "is_name", "shown"]

MAX_NAME = 64  # case references, user names, identifiers (the reference column is 64 wide)
MAX_TEXT = 10_000  # free text: notes, findings, the five answers
SHOWN = 40  # how much of a value a message echoes
# Bidirectional overrides and isolates: they make text display in an order other than the one stored
# ("Trojan Source"); free text may be in a right-to-left script, but not carry these.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_TEXT_CONTROLS_ALLOWED = frozenset("\t\n\r")


def shown(value: object, limit: int = SHOWN) -> str:
    """A value as a message may echo it: quoted, cut to ``limit`` characters, every non-printable character (control,
    bidi, zero-width, lone surrogate) escaped."""
    text = value if isinstance(value, str) else str(value)
    return repr(text[:limit]) + ("..." if len(text) > limit else "")


def is_name(text: object) -> bool:
    """1 to 64 printable characters, no whitespace: ``str.isprintable`` is false for control (Cc), format (Cf: bidi,
    zero-width), surrogate, private-use, unassigned and separator characters other than the plain space."""
    return (
        isinstance(text, str)
        and 0 < len(text) <= MAX_NAME
        and text.isprintable()
        and " " not in text  # every other whitespace character is not printable (a test checks all of Unicode)
    )


NAME_RULE = f"must be 1 to {MAX_NAME} printable characters, without spaces, control, bidi or zero-width characters"


def check_name(text: object, what: str) -> str:
    """A case reference, user name, event or key: refused (the value echoed, cut and escaped) unless :func:`is_name`."""
    if not isinstance(text, str) or not is_name(text):
        raise Refused(f"{what} {shown(text)} {NAME_RULE}")
    return text


def check_child_id(text: object) -> str:
    """The child's identifier follows the name rules, but is personal data: a refusal never echoes it."""
    if not isinstance(text, str) or not is_name(text):
        raise Refused(f"the child identifier {NAME_RULE}")
    return text


def _clean_text(text: str) -> bool:
    if len(text) > MAX_TEXT:
        return False
    if text.isprintable():  # the common case, in C: no control, format or surrogate character at all
        return True
    for c in text:
        if c.isprintable() or c in _TEXT_CONTROLS_ALLOWED:
            continue
        category = unicodedata.category(c)
        if (category == "Cf" and c not in _BIDI_CONTROLS) or category == "Zs":
            continue  # zero-width joiners and soft hyphens belong to some scripts; no-break spaces are spaces
        return False  # NUL and other controls, lone surrogates, private-use, unassigned, bidi overrides/isolates
    return True


def check_text(text: object, what: str) -> str:
    """Free text (may carry personal data, so never echoed): at most 10,000 characters; no NUL or other control
    character but tab and newline, no lone surrogate, no bidi override."""
    if not isinstance(text, str) or not _clean_text(text):
        raise Refused(
            f"{what} must be text of at most {MAX_TEXT} characters, without NUL, control or bidi-control characters"
        )
    return text
