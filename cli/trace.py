"""The requirements trace (``docs/trace.toml``): each requirement of the two seeds, where orderwatch meets it, and the
tests that prove it. ``problems()`` lists what is wrong with it (a quote not in its paragraph, a rule or a test that
does not exist, a requirement with neither test nor reason); ``counts_block()`` is the README's summary of it.
"""

from __future__ import annotations

import ast
import importlib
import re
import tomllib
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

__all__ = ["ROOT", "TRACE", "Requirement", "counts_block", "load", "paragraphs", "problems", "resolves"]

ROOT = Path(__file__).resolve().parent.parent
TRACE = ROOT / "docs" / "trace.toml"
SEEDS = ROOT / "docs" / "seeds"  # copies of ../shared/seeds/, so the quotes are checked on a fresh clone
STATUSES = ("implemented", "not-implemented", "not-checkable")
_BULLET = re.compile(r"^\s*(•|-|\d+\.)\s+")
_PROCEDURES = {"supervision_order": "so", "cp_iso": "cp-iso"}


@dataclass(frozen=True, slots=True)
class Requirement:
    id: str
    seed: str
    section: str
    paragraph: int
    quote: str
    procedures: str
    status: str
    implements: tuple[str, ...]
    tests: tuple[str, ...]
    reason: str


def load(path: Path = TRACE) -> list[Requirement]:
    data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    return [_requirement(item) for item in data["requirement"]]


def _requirement(i: dict[str, Any]) -> Requirement:
    return Requirement(str(i["id"]), str(i["seed"]), str(i["section"]), int(i["paragraph"]), str(i["quote"]),
                       str(i["procedures"]), str(i["status"]), tuple(i["implements"]), tuple(i["tests"]),
                       str(i["reason"]))  # fmt: skip


def paragraphs(text: str, headings: set[str]) -> dict[str, list[str]]:
    """A seed's paragraphs by section: blank-line-separated blocks, each bullet or numbered item one of its own."""
    out: dict[str, list[str]] = {}
    section: str | None = None
    for block in re.split(r"\n\s*\n", text):
        lines = [line for line in block.split("\n") if line.strip()]
        joined = " ".join(line.strip() for line in lines)
        if joined in headings:
            section = joined
            out[section] = []
            continue
        if section is None or not lines:
            continue
        current: list[str] = []
        for line in lines:
            bullet = _BULLET.match(line) is not None
            if bullet and current:
                out[section].append(" ".join(current))
                current = []
            current.append(line.strip())
            if bullet:
                out[section].append(" ".join(current))
                current = []
        if current:
            out[section].append(" ".join(current))
    return out


def _squash(text: str) -> str:
    return " ".join(text.split())


def resolves(ref: str) -> bool:
    """Does a rule or spec named in the trace exist (resolved against the declarations themselves)?"""
    from cli.parser import build_parser
    from machines.escalation import LADDER
    from machines.model import CaseKind, Role
    from machines.policy import Policy
    from machines.procedures import PROCEDURES

    head, _, rest = ref.partition(":")
    if head in _PROCEDURES:
        proc = PROCEDURES[CaseKind(_PROCEDURES[head])]
        what, _, name = rest.partition(":")
        if what == "registration":
            return not name
        if what == "event":
            event, _, key = name.partition(".")
            spec = proc.events.get(event)
            return spec is not None and (not key or key in spec.fields)
        if what == "deadline":
            return name in proc.deadlines
        if what == "state":
            return name in {s.value for s in proc.states}
        if what in ("validator", "guard"):
            return callable(getattr(proc.machine, name, None))
        return False
    if head == "escalation":
        what, _, name = rest.partition(":")
        return what == "ladder" and name in {r.value for r in LADDER}
    if head == "role":
        return rest in {r.value for r in Role}
    if head == "policy":
        return rest in Policy.settings()
    if head == "calendar":
        return callable(getattr(importlib.import_module("machines.calendar"), rest, None))
    if head == "cli":
        return rest in _subcommands(build_parser())
    if head == "readme":
        return f"**{rest} " in (ROOT / "README.md").read_text(encoding="utf-8")
    if head == "py":
        module, _, name = rest.partition(":")
        return hasattr(importlib.import_module(module), name)
    return False


def _subcommands(parser: Any) -> set[str]:
    return {name for action in parser._subparsers._group_actions for name in action.choices}


@cache
def _test_functions(file: str) -> frozenset[str]:
    tree = ast.parse((ROOT / file).read_text(encoding="utf-8"))
    return frozenset(n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_"))


def _test_exists(node: str) -> bool:
    file, sep, name = node.partition("::")
    return bool(sep) and (ROOT / file).is_file() and name in _test_functions(file)


def problems(reqs: list[Requirement]) -> list[str]:
    """Everything wrong with the trace; empty when it holds."""
    out = []
    ids = Counter(r.id for r in reqs)
    out += [f"{i}: listed {n} times" for i, n in ids.items() if n > 1]
    headings: dict[str, set[str]] = {}
    for r in reqs:
        headings.setdefault(r.seed, set()).add(r.section)
    paras = {seed: paragraphs((SEEDS / seed).read_text(encoding="utf-8"), hs) for seed, hs in headings.items()}
    for r in reqs:
        found = paras[r.seed].get(r.section, [])
        paragraph = found[r.paragraph - 1] if 0 < r.paragraph <= len(found) else ""
        if _squash(r.quote) not in _squash(paragraph):
            out.append(f"{r.id}: the quote is not in {r.seed}, {r.section!r}, paragraph {r.paragraph}")
        if r.status not in STATUSES:
            out.append(f"{r.id}: unknown status {r.status!r}")
        if r.status != "not-checkable" and not r.tests:
            out.append(f"{r.id}: names no test")
        if r.status != "implemented" and not r.reason:
            out.append(f"{r.id}: {r.status} without a reason")
        if r.status != "not-checkable" and not r.implements:
            out.append(f"{r.id}: names no rule or spec")
        out += [f"{r.id}: no such rule or spec {ref!r}" for ref in r.implements if not resolves(ref)]
        out += [f"{r.id}: no such test {t!r}" for t in r.tests if not _test_exists(t)]
    return out


def counts_block(reqs: list[Requirement]) -> str:
    """The README's summary of the trace."""
    by = Counter(r.status for r in reqs)
    seeds = Counter(r.id[0] for r in reqs)
    checkable = by["implemented"] + by["not-implemented"]
    lines = [
        "| requirements | checkable | implemented | deliberately not implemented | not checkable (context) |",
        "|---|---|---|---|---|",
        f"| {len(reqs)} (Wirral {seeds['W']}, Bradford {seeds['B']}) | {checkable} | {by['implemented']} "
        f"| {by['not-implemented']} | {by['not-checkable']} |",
        "",
        "Deliberately not implemented:",
        "",
    ]
    lines += [f"- **{r.id}** “{r.quote}”: {r.reason}." for r in reqs if r.status == "not-implemented"]
    return "\n".join(lines) + "\n"
