"""The one exception the domain raises for a request the rules refuse (and its kind for a malformed field)."""

from __future__ import annotations

__all__ = ["FieldProblem", "Refused"]


class Refused(Exception):
    """A request the rules refuse: bad input, unknown case or person, an illegal event, an actor not allowed.

    The message is one line that names the rule; callers exit 2 and change nothing. ``public`` is the same refusal
    without anything derived from the child's personal data (an age, a date of birth, a date computed from it):
    it is what may leave the authority's database, e.g. into Prefect's run history.

    >>> Refused("aged 17 on 2026-01-15", public="aged 17 or over").public
    'aged 17 or over'
    >>> Refused("unknown case 'SO-1'").public
    "unknown case 'SO-1'"
    """

    def __init__(self, message: str, *, public: str | None = None) -> None:
        super().__init__(message)
        self.public = message if public is None else public


class FieldProblem(Refused):
    """A field's value its kind refuses. The message names the event and the key; ``detail`` is what is wrong on its
    own (`` must not be empty``, ``: task 1 must be …``), for a form that says it beside the field."""

    def __init__(self, event: str, key: str, detail: str) -> None:
        super().__init__(f"{event}: {key}{detail}")
        self.detail = detail
