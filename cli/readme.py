"""Keep the README's machine diagrams and rule tables equal to what the code declares: ``python -m cli.readme``
rewrites them (between ``<!-- diagram:NAME -->`` and ``<!-- table:NAME -->`` markers); a test checks them."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from cli.diagrams import MACHINES, render
from cli.tables import TABLES, render_table

__all__ = ["README", "diagram_blocks", "table_blocks", "with_current_blocks"]

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"(<!-- diagram:(?P<name>[a-z-]+) -->\n```mermaid\n)(?P<body>.*?)(\n```\n<!-- /diagram -->)", re.S)
TABLE = re.compile(r"(<!-- table:(?P<name>[a-z-]+) -->\n)(?P<body>.*?)(\n<!-- /table -->)", re.S)


def diagram_blocks(text: str) -> dict[str, str]:
    return {m["name"]: m["body"] for m in BLOCK.finditer(text)}


def table_blocks(text: str) -> dict[str, str]:
    return {m["name"]: m["body"] for m in TABLE.finditer(text)}


def with_current_blocks(text: str) -> str:
    text = BLOCK.sub(lambda m: m.group(1) + render(m["name"]) + m.group(4), text)
    return TABLE.sub(lambda m: m.group(1) + render_table(m["name"]) + m.group(4), text)


if __name__ == "__main__":
    text = README.read_text(encoding="utf-8")
    missing = (set(MACHINES) - set(diagram_blocks(text))) | (set(TABLES) - set(table_blocks(text)))
    if missing:
        sys.exit(f"README.md lacks blocks for: {', '.join(sorted(missing))}")
    README.write_text(with_current_blocks(text), encoding="utf-8")
