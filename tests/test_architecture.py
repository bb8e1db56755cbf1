"""The house's rules, checked on every import of every module (the lazy ones inside functions too):

- layers call downward only: ``machines`` (the pure domain) <- ``storage`` <- ``flows`` (Prefect only) <- the entry
  points ``cli`` and ``desk``, which never import each other;
- ``machines`` imports neither SQLAlchemy nor Prefect nor anything that does I/O of its own;
- only the entry points read the clock (``storage.clock``'s ``now``/``today``); below them "today" is an argument;
- no import circles between modules;
- no ``assert`` on a production path (``python -O`` would remove it);
- no module over 550 lines without a reason written here.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RANK = {"machines": 0, "storage": 1, "flows": 2, "cli": 3, "desk": 3}
FORBIDDEN_IN_DOMAIN = ("sqlalchemy", "prefect", "alembic", "httpx", "fastapi", "starlette", "psycopg", "sqlite3")
CLOCK_READERS = ("storage.clock.now", "storage.clock.today")
LONG_MODULES: dict[str, str] = {}  # "path": "why it is long" — none today


def modules() -> Iterator[tuple[str, Path]]:
    for package in RANK:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            yield name, path


def imports(path: Path) -> Iterator[str]:
    """Every name an import binds anywhere in the file, as a dotted path (``from a.b import c`` -> ``a.b.c``)."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def resolve(dotted: str) -> str | None:
    """The project module a dotted import names (``storage.clock.now`` -> ``storage.clock``), if any."""
    parts = dotted.split(".")
    while parts:
        path = ROOT.joinpath(*parts)
        if path.with_suffix(".py").exists() or (path / "__init__.py").exists():
            return ".".join(parts)
        parts = parts[:-1]
    return None


GRAPH: dict[str, set[str]] = defaultdict(set)
NAMES: dict[str, set[str]] = defaultdict(set)
for _name, _path in modules():
    for _dotted in imports(_path):
        NAMES[_name].add(_dotted)
        _target = resolve(_dotted) if _dotted.split(".")[0] in RANK else None
        if _target and _target != _name:
            GRAPH[_name].add(_target)


def test_layers_call_downward_only() -> None:
    wrong = []
    for module, targets in GRAPH.items():
        layer = module.split(".")[0]
        for target in targets:
            other = target.split(".")[0]
            if other != layer and RANK[other] >= RANK[layer]:
                wrong.append(f"{module} -> {target}")
    assert wrong == []


def test_the_domain_does_no_io() -> None:
    wrong = [f"{m} -> {d}" for m, names in NAMES.items() if m.startswith("machines")
             for d in names if d.split(".")[0] in FORBIDDEN_IN_DOMAIN]  # fmt: skip
    assert wrong == []


def test_only_the_entry_points_read_the_clock() -> None:
    # the module itself (``from storage import clock``) would let code below the entry points call clock.now()
    wrong = [f"{m} -> {d}" for m, names in NAMES.items() if RANK[m.split(".")[0]] < 2
             for d in names if d in (*CLOCK_READERS, "storage.clock")]  # fmt: skip
    assert wrong == []


def test_no_import_circles() -> None:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for module in list(GRAPH):
        if module not in index:
            visit(module)
    assert circles == []


@pytest.mark.parametrize("module", [m for m, _ in modules() if not m.startswith(("desk.dev", "cli.dev"))])
def test_no_assert_on_a_production_path(module: str) -> None:
    path = dict(modules())[module]
    lines = [n.lineno for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Assert)]
    assert lines == [], f"{path.relative_to(ROOT)}: assert at lines {lines}"


def test_modules_stay_small() -> None:
    long = {str(p.relative_to(ROOT)): n for _, p in modules() if (n := len(p.read_text().splitlines())) > 550}
    assert set(long) <= set(LONG_MODULES), long


def test_the_checks_see_the_whole_house() -> None:
    """Guards the guards: the graph holds every package and the known downward edges."""
    assert {m.split(".")[0] for m in GRAPH} == set(RANK)
    assert "machines.model" in GRAPH["storage.rows"] and "storage.casebook" in GRAPH["cli.dispatch"]
