"""Keep the README's machine diagrams and the trace's counts equal to the code: ``python -m cli.readme`` rewrites them."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from cli.diagrams import MACHINES, render

__all__ = ["README", "diagram_blocks", "trace_block", "with_current_diagrams", "with_current_trace"]

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"(<!-- diagram:(?P<name>[a-z-]+) -->\n```mermaid\n)(?P<body>.*?)(\n```\n<!-- /diagram -->)", re.S)


TRACE_BLOCK = re.compile(r"(<!-- trace:counts -->\n)(?P<body>.*?)(<!-- /trace -->)", re.S)


def trace_block(text: str) -> str | None:
    found = TRACE_BLOCK.search(text)
    return None if found is None else found["body"]


def with_current_trace(text: str) -> str:
    from cli.trace import counts_block, load

    return TRACE_BLOCK.sub(lambda m: m.group(1) + counts_block(load()) + m.group(3), text)


def diagram_blocks(text: str) -> dict[str, str]:
    return {m["name"]: m["body"] for m in BLOCK.finditer(text)}


def with_current_diagrams(text: str) -> str:
    return BLOCK.sub(lambda m: m.group(1) + render(m["name"]) + m.group(4), text)


if __name__ == "__main__":
    text = README.read_text(encoding="utf-8")
    missing = set(MACHINES) - set(diagram_blocks(text))
    if missing:
        sys.exit(f"README.md lacks diagram blocks for: {', '.join(sorted(missing))}")
    README.write_text(with_current_trace(with_current_diagrams(text)), encoding="utf-8")
