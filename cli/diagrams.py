"""Pictures of the three machines, drawn from the machine classes themselves (so they cannot drift)."""

from __future__ import annotations

import shutil

from statemachine import StateMachine
from statemachine.contrib.diagram import formatter

from machines.cp_iso import CpIsoMachine
from machines.errors import Refused
from machines.escalation import EscalationMachine
from machines.supervision_order import SupervisionOrderMachine

__all__ = ["MACHINES", "render"]

MACHINES: dict[str, type[StateMachine]] = {
    "so": SupervisionOrderMachine,
    "cp-iso": CpIsoMachine,
    "escalation": EscalationMachine,
}
NO_GRAPHVIZ = "--format svg needs Graphviz's 'dot' program (apt-get install graphviz); mermaid and dot need nothing"


def render(machine: str, fmt: str = "mermaid") -> str:
    """The machine drawn as Mermaid (``stateDiagram-v2``), Graphviz dot source, or SVG (needs Graphviz)."""
    if machine not in MACHINES:
        raise Refused(f"unknown machine {machine!r} (so, cp-iso or escalation)")
    if fmt == "svg" and shutil.which("dot") is None:
        raise Refused(NO_GRAPHVIZ)
    if fmt not in ("mermaid", "dot", "svg"):
        raise Refused(f"unknown format {fmt!r} (mermaid, dot or svg)")
    return formatter.render(MACHINES[machine], fmt).rstrip("\n")
