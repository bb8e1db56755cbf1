"""Keep the README's machine diagrams equal to what the code draws: ``python -m cli.readme`` rewrites them."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from cli.diagrams import MACHINES, render

__all__ = ["README", "diagram_blocks", "with_current_diagrams"]

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"(<!-- diagram:(?P<name>[a-z-]+) -->\n```mermaid\n)(?P<body>.*?)(\n```\n<!-- /diagram -->)", re.S)


def diagram_blocks(text: str) -> dict[str, str]:
    return {m["name"]: m["body"] for m in BLOCK.finditer(text)}


def with_current_diagrams(text: str) -> str:
    return BLOCK.sub(lambda m: m.group(1) + render(m["name"]) + m.group(4), text)


if __name__ == "__main__":
    text = README.read_text(encoding="utf-8")
    missing = set(MACHINES) - set(diagram_blocks(text))
    if missing:
        sys.exit(f"README.md lacks diagram blocks for: {', '.join(sorted(missing))}")
    README.write_text(with_current_diagrams(text), encoding="utf-8")
