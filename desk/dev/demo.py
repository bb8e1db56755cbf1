"""Demo people and accounts (generated names, no real person) until the accounts of issue 13 are wired."""

from __future__ import annotations

import secrets

from desk.app import DeskServices
from desk.auth.accounts import Person
from desk.auth.local import InMemoryAccounts
from desk.auth.oidc import InMemoryOidcLinks

__all__ = ["DEMO_PEOPLE", "demo_services"]

DEMO_PEOPLE = (
    Person("tm1", "Sam Taylor", frozenset({"team_manager"})),
    Person("hos1", "Jo Morgan", frozenset({"head_of_service"})),
    Person("admin1", "Ali Khan", frozenset({"admin"})),
)


def demo_services(password: str | None = None) -> tuple[DeskServices, str]:
    """In-memory services with ``DEMO_PEOPLE`` as accounts sharing one password (generated unless given)."""
    password = password or secrets.token_urlsafe(12)
    accounts = InMemoryAccounts()
    for person in DEMO_PEOPLE:
        accounts.add(person, password)
    return DeskServices(people=accounts, authenticator=accounts, oidc_people=InMemoryOidcLinks()), password
