"""The documentation a clone carries: every relative link in README.md and docs/*.md leads to a file of the
repository (and, with ``#anchor``, to one of its headings)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def _anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    found = set()
    for heading in re.findall(r"^#+\s+(.*)$", markdown, flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        found.add(slug)
    return found


def test_the_project_carries_its_own_reference() -> None:
    assert (ROOT / "docs" / "PROCEDURES.md").is_file() and (ROOT / "docs" / "DESIGN.md").is_file()
    for doc in ("PROCEDURES", "DESIGN"):
        assert "the project's own copy" in (ROOT / "docs" / f"{doc}.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    links = [t for t in LINK.findall(text) if not re.match(r"^[a-z]+:", t)]  # http:, https:, mailto: are not ours
    broken = []
    for target in links:
        path, _, anchor = target.partition("#")
        resolved = (doc.parent / path).resolve() if path else doc
        outside = not resolved.exists() or (ROOT not in resolved.parents and resolved != ROOT)
        unknown_anchor = (
            not outside and anchor and resolved.suffix == ".md"
            and anchor not in _anchors(resolved.read_text(encoding="utf-8"))
        )  # fmt: skip
        if outside or unknown_anchor:
            broken.append(target)
    assert broken == [], f"{doc.name}: links that lead nowhere in a clone: {broken}"
    if doc.name == "README.md":
        assert "docs/PROCEDURES.md" in links and "../shared" not in text
