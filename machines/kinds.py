"""The kinds of case and the roles: the two enums every other module of the domain names (kept apart so the domain
events and the case model can both use them without importing each other)."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["CaseKind", "Role"]


class CaseKind(StrEnum):
    SUPERVISION_ORDER = "so"
    CP_ISO = "cp-iso"


class Role(StrEnum):
    SOCIAL_WORKER = "social_worker"
    TEAM_MANAGER = "team_manager"
    IRO = "iro"
    IRO_MANAGER = "iro_manager"
    CPC = "cpc"
    CPC_TEAM_MANAGER = "cpc_team_manager"
    HEAD_OF_SERVICE = "head_of_service"
    SAFEGUARDING_UNIT = "safeguarding_unit"
    SAFEGUARDING_UNIT_MANAGER = "safeguarding_unit_manager"
    LEGAL = "legal"
    ADMIN = "admin"  # manages people and their roles, nothing else
    OPERATOR = "operator"  # runs the system and receives its alarms; fires no case event in their own name
    SYSTEM = "system"  # fires timers only; never a person's role
