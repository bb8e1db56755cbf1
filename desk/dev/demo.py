"""The demo desk: a fresh SQLite casebook holding ``desk.dev.caseload``'s people and cases, every person with an
in-memory account sharing one password (generated unless given), until the accounts of issue 13 are wired."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import date
from pathlib import Path

from argon2 import PasswordHasher

from desk.auth.accounts import Person
from desk.auth.directory import StoragePeople
from desk.auth.local import InMemoryAccounts
from desk.auth.oidc import InMemoryOidcLinks
from desk.dev.caseload import PEOPLE, TODAY, seed
from desk.events import ActionEvents, NoActionEvents
from desk.services import DeskServices
from storage.casebook import Casebook
from storage.clock import now
from storage.db import make_engine
from storage.migrate import upgrade

__all__ = ["DEMO_DB", "DEMO_PEOPLE", "TODAY", "demo_services"]

DEMO_DB = Path("var/desk-demo.db")
DEMO_PEOPLE = tuple(Person(user, user, frozenset({role})) for user, role, _ in PEOPLE)


def demo_services(
    password: str | None = None,
    db: Path = DEMO_DB,
    *,
    hasher: PasswordHasher | None = None,
    events: ActionEvents | None = None,
    clock: Callable[[], object] = now,
) -> tuple[DeskServices, str]:
    """Services over a fresh demo casebook at ``db`` (replaced if it exists), and the accounts' password."""
    password = password or secrets.token_urlsafe(12)
    db.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    book = Casebook(engine, clock=now)
    seed(book)
    accounts = InMemoryAccounts(hasher)
    for person in DEMO_PEOPLE:
        accounts.add(person, password)
    services = DeskServices(people=StoragePeople(book), authenticator=accounts, oidc_people=InMemoryOidcLinks(),
                            casebook=book, events=events or NoActionEvents())  # fmt: skip
    return services, password


def demo_today() -> date:
    """The demo caseload's "today"."""
    return TODAY
