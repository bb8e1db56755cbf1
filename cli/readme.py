"""Keep the README's machine diagrams, rule tables and the trace's counts equal to what the code declares:
``python -m cli.readme`` rewrites them (between ``<!-- diagram:NAME -->``, ``<!-- table:NAME -->`` and
``<!-- trace:counts -->`` markers); tests check them."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from cli.diagrams import MACHINES, render
from cli.tables import TABLES, render_table

__all__ = ["README", "diagram_blocks", "table_blocks", "trace_block", "with_current_blocks"]

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"(<!-- diagram:(?P<name>[a-z-]+) -->\n```mermaid\n)(?P<body>.*?)(\n```\n<!-- /diagram -->)", re.S)
TABLE = re.compile(r"(<!-- table:(?P<name>[a-z-]+) -->\n)(?P<body>.*?)(\n<!-- /table -->)", re.S)
TRACE_BLOCK = re.compile(r"(<!-- trace:counts -->\n)(?P<body>.*?)(<!-- /trace -->)", re.S)


def trace_block(text: str) -> str | None:
    found = TRACE_BLOCK.search(text)
    return None if found is None else found["body"]


def diagram_blocks(text: str) -> dict[str, str]:
    return {m["name"]: m["body"] for m in BLOCK.finditer(text)}


def table_blocks(text: str) -> dict[str, str]:
    return {m["name"]: m["body"] for m in TABLE.finditer(text)}


def with_current_blocks(text: str) -> str:
    """``text`` with every generated block made afresh."""
    from cli.trace import counts_block, load

    text = BLOCK.sub(lambda m: m.group(1) + render(m["name"]) + m.group(4), text)
    text = TABLE.sub(lambda m: m.group(1) + render_table(m["name"]) + m.group(4), text)
    return TRACE_BLOCK.sub(lambda m: m.group(1) + counts_block(load()) + m.group(3), text)


if __name__ == "__main__":
    text = README.read_text(encoding="utf-8")
    missing = (set(MACHINES) - set(diagram_blocks(text))) | (set(TABLES) - set(table_blocks(text)))
    if missing:
        sys.exit(f"README.md lacks blocks for: {', '.join(sorted(missing))}")
    README.write_text(with_current_blocks(text), encoding="utf-8")
