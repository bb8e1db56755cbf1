"""The service navigation: which sections exist, and who sees each.

An item is shown only once a page answers GET at its path (adding the page adds the item) and only to the roles
listed. Role names are PROCEDURES §5's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from desk.auth.accounts import Person

__all__ = ["CASEWORK_ROLES", "MANAGER_ROLES", "NAV_ITEMS", "NavItem", "navigation_for"]

CASEWORK_ROLES = frozenset(
    {
        "social_worker",
        "team_manager",
        "iro",
        "iro_manager",
        "cpc",
        "cpc_team_manager",
        "head_of_service",
        "safeguarding_unit",
        "safeguarding_unit_manager",
        "legal",
    }
)
MANAGER_ROLES = frozenset(
    {"team_manager", "iro_manager", "cpc_team_manager", "safeguarding_unit_manager", "head_of_service"}
)


@dataclass(frozen=True)
class NavItem:
    """A section of the desk: its label, its path, and the roles that see it."""

    label: str
    href: str
    roles: frozenset[str]


NAV_ITEMS: tuple[NavItem, ...] = (
    NavItem("My work", "/", CASEWORK_ROLES),
    NavItem("Cases", "/cases", CASEWORK_ROLES),
    NavItem("Escalations", "/escalations", CASEWORK_ROLES),
    NavItem("Dashboard", "/dashboard", MANAGER_ROLES),
    NavItem("People", "/people", frozenset({"admin"})),
)


def navigation_for(person: Person | None, path: str, routed: Iterable[str]) -> list[dict[str, Any]]:
    """The items ``person`` sees, as govukServiceNavigation's ``navigation`` parameter (the current one marked)."""
    if person is None:
        return []
    routed = frozenset(routed)
    items = []
    for item in NAV_ITEMS:
        if item.href not in routed or not (item.roles & person.roles):
            continue
        here = path == item.href
        within = item.href != "/" and path.startswith(item.href + "/")
        items.append({"text": item.label, "href": item.href, "current": here, "active": within})
    return items
