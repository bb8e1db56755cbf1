"""What the desk calls outside itself, gathered in one value the app factory takes (``desk.app.create_app``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from desk.auth.accounts import Authenticator, PersonDirectory
from desk.auth.oidc import OidcPersonMapper
from desk.events import ActionEvents, NoActionEvents
from desk.ratelimit import InMemoryRateLimiter, RateLimiter
from desk.sessions import InMemorySessionStore, SessionStore

if TYPE_CHECKING:
    from storage.casebook import Casebook

__all__ = ["DeskServices"]


@dataclass(frozen=True)
class DeskServices:
    """What the desk calls outside itself. Every one is a protocol; see each for its contract."""

    people: PersonDirectory
    authenticator: Authenticator
    sessions: SessionStore = field(default_factory=InMemorySessionStore)
    rate_limiter: RateLimiter = field(default_factory=InMemoryRateLimiter)
    oidc_people: OidcPersonMapper | None = None
    casebook: Casebook | None = None  # the casework: without it the pages say the desk is not connected
    events: ActionEvents = field(default_factory=NoActionEvents)  # each action reported to Prefect, best effort
