"""The README shows each machine as the code draws it, and the diagram command's formats work."""

from __future__ import annotations

import shutil

import pytest

from cli.diagrams import MACHINES, render
from cli.readme import README, diagram_blocks, table_blocks
from cli.tables import TABLES, render_table
from machines.errors import Refused


def test_readme_diagrams_are_what_the_code_generates() -> None:
    blocks = diagram_blocks(README.read_text(encoding="utf-8"))
    assert set(blocks) == set(MACHINES), "README.md must show every machine (run: python -m cli.readme)"
    for name, body in blocks.items():
        assert body == render(name), f"README's {name} diagram is stale: run `python -m cli.readme`"


def test_readme_rule_tables_are_what_the_specs_declare() -> None:
    blocks = table_blocks(README.read_text(encoding="utf-8"))
    assert set(blocks) == set(TABLES), "README.md must show every rule table (run: python -m cli.readme)"
    for name, body in blocks.items():
        assert body == render_table(name), f"README's {name} table is stale: run `python -m cli.readme`"


@pytest.mark.parametrize("name", sorted(MACHINES))
def test_every_state_appears_in_each_format(name: str) -> None:
    states = [s.id for s in MACHINES[name].states]
    mermaid, dot = render(name, "mermaid"), render(name, "dot")
    assert mermaid.startswith("stateDiagram-v2")
    assert dot.startswith("digraph")
    for state in states:
        assert state in mermaid and state in dot


def test_svg_is_drawn_by_graphviz_or_refused_with_the_way_to_get_it() -> None:
    if shutil.which("dot"):
        assert "<svg" in render("escalation", "svg")
    else:
        with pytest.raises(Refused, match="apt-get install graphviz"):
            render("escalation", "svg")


def test_readme_names_every_role() -> None:
    from machines.kinds import Role

    roles = README.read_text(encoding="utf-8").split("**The roles.**", 1)[1].split("**People are an admin's.**", 1)[0]
    assert [r.value for r in Role if r is not Role.SYSTEM and f"`{r.value}`" not in roles] == []
