"""The one exception the domain raises for a request the rules refuse."""

from __future__ import annotations

__all__ = ["Refused"]


class Refused(Exception):
    """A request the rules refuse: bad input, unknown case or person, an illegal event, an actor not allowed.

    The message is one line that names the rule; callers exit 2 and change nothing.
    """
