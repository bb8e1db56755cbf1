"""The README's rule tables, made from the procedures' declarations (so they cannot drift from the code).

``python -m cli.readme`` writes them into README.md between ``<!-- table:NAME -->`` markers; a test keeps them equal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from machines.escalation import ACTIONS, EscalationMachine
from machines.model import CaseKind, Role
from machines.procedures import PROCEDURES, RULES
from machines.spec import EventSpec, Procedure, describe_due

if TYPE_CHECKING:
    from statemachine import StateMachine

__all__ = ["MATRIX_RAISED_TO", "MATRIX_ROLES", "TABLES", "matrix_escalation_actions", "matrix_events", "render_table"]


def _row(*cells: str) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def _table(head: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    head = list(head)
    lines = [_row(*head), _row(*(["---"] * len(head)))]
    lines += [_row(*r) for r in rows]
    return "\n".join(lines)


def _moves(machine: type[StateMachine], event: str) -> str:
    """The transitions an event takes, in words (an event open in most states is summarised)."""
    found = [t for state in machine.states for t in state.transitions if t.match(event)]
    pairs = dict.fromkeys(
        f"`{t.source.id}` → `{t.target.id}`" if t.source is not t.target else f"`{t.source.id}` (stays)" for t in found
    )
    if len(pairs) > 4:
        targets = sorted({t.target.id for t in found} - {t.source.id for t in found if t.is_self})
        return "any live state" + (" → " + ", ".join(f"`{t}`" for t in targets) if targets else " (stays)")
    return "; ".join(pairs)


def _keys(spec: EventSpec) -> str:
    return "; ".join(f"`{k}` ({f.describe()})" for k, f in spec.fields.items()) or "—"


def _roles(roles: Iterable[Role]) -> str:
    return ", ".join(r.value for r in roles) or "the role it is raised to (and the Head of Service)"


def _events(proc: Procedure) -> str:
    rows = []
    for spec in proc.events.values():
        if spec.timer:
            continue
        whose = f"the allocated {spec.owner.replace('_', ' ')}" if spec.owner else "—"
        rows.append([f"`{spec.name}`", spec.title, _moves(proc.machine, spec.name), _roles(spec.roles), whose,
                     ", ".join(f"`{k}`" for k in sorted(spec.meets)) or "—"])  # fmt: skip
    return _table(["event", "records", "moves", "who may fire it", "whose it is", "meets"], rows)


def _deadlines(proc: Procedure) -> str:
    rows = []
    for rule in proc.deadlines.values():
        armed = ", ".join(f"`{s}`" for s in sorted(rule.armed_in))
        if len(rule.armed_in) > 4:
            armed = "every live state"
        met = ", ".join(f"`{e}`" for e in sorted(RULES[rule.kind].met_by))
        passing = f"fires `{rule.timer}`" if rule.timer else f"missed → escalation to {rule.escalate_to.value}"
        if rule.passing_is_expected:
            passing = f"fires `{rule.timer}` (the order runs its course)"
        rows.append([f"`{rule.kind}`", rule.what, armed, describe_due(rule.due), rule.owner.value, met or "—",
                     passing])  # fmt: skip
    return _table(["deadline", "what must happen", "armed on entering", "due", "owner", "met by", "when it passes"],
                  rows)  # fmt: skip


def _set_keys() -> str:
    rows = [[f"`{spec.name}`", _keys(spec)] for proc in PROCEDURES.values() for spec in proc.events.values()
            if not spec.timer]  # fmt: skip
    rows += [[f"`{spec.name}` (ESC-<id>)", _keys(spec)] for spec in ACTIONS.values()]
    return _table(["event", "`--set` keys"], rows)


def _role_table() -> str:
    by_role: dict[Role, list[str]] = {r: [] for r in Role}
    for proc in PROCEDURES.values():
        for role in proc.register_roles:
            by_role[role].append(f"register {proc.kind.value}")
        for spec in proc.events.values():
            for role in spec.roles:
                by_role[role].append(f"`{spec.name}`")
    rows = [
        [f"`{role.value}`", ", ".join(events) or "—"] for role, events in by_role.items() if role is not Role.SYSTEM
    ]
    return _table(["role", "may fire"], rows)


MATRIX_ROLES = [r for r in Role if r is not Role.SYSTEM]
_SHORT = {"social_worker": "SW", "team_manager": "TM", "iro": "IRO", "iro_manager": "IROM", "cpc": "CPC",
          "cpc_team_manager": "CPCTM", "head_of_service": "HoS", "safeguarding_unit": "SU",
          "safeguarding_unit_manager": "SUM", "legal": "Legal", "admin": "Admin", "operator": "Op"}  # fmt: skip


def matrix_events() -> list[tuple[str, CaseKind, tuple[Role, ...]]]:
    """Every manual event (and each registration) with the roles that may fire it: the permission matrix's rows."""
    rows = []
    for proc in PROCEDURES.values():
        rows.append((f"register {proc.kind.value}", proc.kind, tuple(proc.register_roles)))
        rows += [(spec.name, proc.kind, tuple(spec.roles)) for spec in proc.events.values() if not spec.timer]
    return rows


# the escalation actions are checked on an escalation raised to the Safeguarding Unit manager (a missed allocation)
MATRIX_RAISED_TO = Role.SAFEGUARDING_UNIT_MANAGER


def matrix_escalation_actions() -> list[tuple[str, tuple[Role, ...]]]:
    """The escalation actions, with who may take them on an escalation raised to ``MATRIX_RAISED_TO``: the role it
    is raised to, and the Head of Service (``machines.escalation.may_act``)."""
    return [(name, (MATRIX_RAISED_TO, Role.HEAD_OF_SERVICE)) for name in ACTIONS]


def _permissions() -> str:
    head = ["event", *(_SHORT[r.value] for r in MATRIX_ROLES)]
    rows = [[f"`{name}` ({kind.value})", *("✓" if r in roles else "·" for r in MATRIX_ROLES)]
            for name, kind, roles in matrix_events()]  # fmt: skip
    rows += [[f"`{name}` (ESC raised to {_SHORT[MATRIX_RAISED_TO.value]})",
              *("✓" if r in roles else "·" for r in MATRIX_ROLES)]
             for name, roles in matrix_escalation_actions()]  # fmt: skip
    return _table(head, rows)


def _reads() -> str:
    from storage.access import ROLE_REACH, Reach

    rows = []
    for role in MATRIX_ROLES:
        reach = ROLE_REACH[role]
        lists = {Reach.EVERY_CASE: "every row", Reach.LISTS_ONLY: "every row (references, dates, roles)",
                 Reach.NOTHING: "refused"}.get(reach, "the rows of the cases they read")  # fmt: skip
        rows.append([f"`{role.value}` ({_SHORT[role.value]})", reach.value, lists])
    return _table(["role", "`show`, `history`, the desk's case page", "`worklist`, `escalations`"], rows)


def _escalation() -> str:
    rows = [
        [f"`{spec.name}`", spec.title, _moves(EscalationMachine, spec.name), _keys(spec)] for spec in ACTIONS.values()
    ]
    return _table(["action", "records", "moves", "`--set` keys"], rows)


TABLES: dict[str, Callable[[], str]] = {
    "so-events": lambda: _events(PROCEDURES[CaseKind.SUPERVISION_ORDER]),
    "so-deadlines": lambda: _deadlines(PROCEDURES[CaseKind.SUPERVISION_ORDER]),
    "cp-iso-events": lambda: _events(PROCEDURES[CaseKind.CP_ISO]),
    "cp-iso-deadlines": lambda: _deadlines(PROCEDURES[CaseKind.CP_ISO]),
    "escalation-actions": _escalation,
    "set-keys": _set_keys,
    "roles": _role_table,
    "permissions": _permissions,
    "reads": _reads,
}


def render_table(name: str) -> str:
    """One of the README's generated tables, in Markdown."""
    return TABLES[name]()
