"""A procedure's machine as an SVG, the case's current state highlighted: drawn on the server, no script.

Drawn from the machine class itself (so it cannot drift from the rules): its states, and its transitions labelled
with the event titles. Events that leave every open state the same way (the order expires, the court discharges it)
are drawn once, from a box "any open state". Graphviz's ``dot`` lays it out when installed (``.ci/run`` installs
it); without it a plain layered drawing is made here. Either way the SVG is inlined in the page with a title and a
description (``role="img"``), and cached per (procedure, state).
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache

from statemachine import StateMachine

from machines import escalation
from machines.model import CaseKind
from machines.procedures import PROCEDURES
from machines.wording import state_words

__all__ = ["Drawing", "machine_svg", "transitions"]

ANY = "__any__"
BLUE, GREY, BLACK, WHITE = "#1d70b8", "#f3f2f1", "#0b0c0c", "#ffffff"


@dataclass(frozen=True)
class Drawing:
    """What is drawn: states (id, words, final), edges (source, target, label) — ``ANY`` stands for every open state."""

    states: tuple[tuple[str, str, bool], ...]
    edges: tuple[tuple[str, str, str], ...]
    initial: str


def _machine(kind: str) -> tuple[type[StateMachine], dict[str, str]]:
    if kind == "escalation":
        return escalation.EscalationMachine, {n: s.title for n, s in escalation.ACTIONS.items()}
    proc = PROCEDURES[CaseKind(kind)]
    return proc.machine, {n: s.title for n, s in proc.events.items()}


@lru_cache(maxsize=8)
def transitions(kind: str) -> Drawing:
    """The machine of ``kind`` (``so``, ``cp-iso``, ``escalation``) as states and labelled edges."""
    machine, titles = _machine(kind)
    states = [(str(s.value), state_words(kind, str(s.value)), bool(s.final)) for s in machine.states]
    live = {sid for sid, _, final in states if not final}
    sources: dict[tuple[str, str], set[str]] = {}  # (event, target) -> sources
    for state in machine.states:
        for t in state.transitions:
            if t.target is t.source:
                continue  # an internal or self transition: the state does not change
            for event in t.events:
                sources.setdefault((str(event), str(t.target.value)), set()).add(str(state.value))
    edges: list[tuple[str, str, str]] = []
    for (event, target), srcs in sources.items():
        label = titles.get(event, event.replace("_", " "))
        if len(live) > 3 and srcs >= live - {target}:
            edges.append((ANY, target, label))
        else:
            edges.extend((src, target, label) for src in sorted(srcs))
    initial = str(next(s for s in machine.states if s.initial).value)
    return Drawing(tuple(states), tuple(dict.fromkeys(edges)), initial)


def _wrap(text: str, width: int = 24) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return [*lines, line] if line else lines


def _dot_source(d: Drawing, current: str | None) -> str:
    def q(text: str) -> str:  # labels come from the declarations; "\\n" in them is dot's line break
        return '"' + text.replace('"', '\\"') + '"'

    newline = "\\n"

    out = ['digraph machine {', 'graph [rankdir=TB, fontname="Arial", nodesep=0.3, ranksep=0.45, bgcolor="white"];',
           f'node [shape=box, style="rounded,filled", fontname="Arial", fontsize=11, fillcolor="{GREY}", '
           f'color="{BLACK}", fontcolor="{BLACK}"];',
           f'edge [fontname="Arial", fontsize=9, color="#505a5f", fontcolor="{BLACK}"];']  # fmt: skip
    for sid, words, final in d.states:
        attrs = [f"label={q(newline.join(_wrap(words)))}"]
        if final:
            attrs.append("peripheries=2")
        if sid == current:
            attrs += [f'fillcolor="{BLUE}"', f'fontcolor="{WHITE}"', "penwidth=3"]
        out.append(f"{q(sid)} [{', '.join(attrs)}];")
    if any(src == ANY for src, _, _ in d.edges):
        out.append(f'{q(ANY)} [label="Any open state", style="rounded,dashed", fillcolor="{WHITE}"];')
    for src, target, label in d.edges:
        out.append(f"{q(src)} -> {q(target)} [label={q(newline.join(_wrap(label, 22)))}];")
    out.append("}")
    return "\n".join(out)


def _from_dot(source: str) -> str | None:
    dot = shutil.which("dot")
    if dot is None:
        return None
    try:
        done = subprocess.run([dot, "-Tsvg"], input=source, capture_output=True, text=True, timeout=20, check=True)
    except (subprocess.SubprocessError, OSError):
        return None
    svg = done.stdout
    svg = svg[svg.index("<svg") :]  # no XML prologue or DOCTYPE inside an HTML page
    svg = re.sub(r"<!--.*?-->", "", svg, flags=re.S)
    svg = re.sub(r"<title>[^<]*</title>", "", svg)  # graphviz's per-node titles are ids, not words
    svg = re.sub(r'\sstyle="[^"]*"', "", svg)  # the CSP allows no inline style
    svg = re.sub(r'<svg width="[^"]*" height="[^"]*"', "<svg", svg, count=1)
    return svg.strip()


def _own_layout(d: Drawing, current: str | None) -> str:
    """A layered drawing: each state one row below the nearest state leading to it (breadth first)."""
    depth = {d.initial: 0}
    frontier = [d.initial]
    while frontier:
        nxt = []
        for sid in frontier:
            for src, target, _ in d.edges:
                if src == sid and target not in depth:
                    depth[target] = depth[sid] + 1
                    nxt.append(target)
        frontier = nxt
    bottom = max(depth.values(), default=0) + 1
    for sid, _, _ in d.states:
        depth.setdefault(sid, bottom)
    rows: dict[int, list[str]] = {}
    for sid, _, _ in d.states:
        rows.setdefault(depth[sid], []).append(sid)
    box_w, box_h, gap_x, gap_y = 170, 44, 24, 46
    width = max(len(r) for r in rows.values()) * (box_w + gap_x) + gap_x
    pos: dict[str, tuple[float, float]] = {}
    for level, members in rows.items():
        span = len(members) * (box_w + gap_x) - gap_x
        for i, sid in enumerate(members):
            pos[sid] = ((width - span) / 2 + i * (box_w + gap_x), 20 + level * (box_h + gap_y))
    height = 20.0 + (max(rows) + 1) * (box_h + gap_y)
    words = {sid: w for sid, w, _ in d.states}
    parts = [f'<svg viewBox="0 0 {width:.0f} {height:.0f}" xmlns="http://www.w3.org/2000/svg">',
             '<defs><marker id="desk-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
             'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#505a5f"/></marker></defs>']  # fmt: skip
    for src, target, label in d.edges:
        if src == ANY or src not in pos:
            continue
        (x1, y1), (x2, y2) = pos[src], pos[target]
        sx, sy, tx, ty = x1 + box_w / 2, y1 + box_h, x2 + box_w / 2, float(y2)
        if ty <= sy:  # upwards or sideways: leave from the side
            sy, ty = y1 + box_h / 2, y2 + box_h / 2
        parts.append(f'<line x1="{sx:.0f}" y1="{sy:.0f}" x2="{tx:.0f}" y2="{ty:.0f}" stroke="#505a5f" '
                     f'marker-end="url(#desk-arrow)"><title>{html.escape(label)}</title></line>')  # fmt: skip
    for sid, (x, y) in pos.items():
        here = sid == current
        parts.append(f'<rect x="{x:.0f}" y="{y:.0f}" width="{box_w}" height="{box_h}" rx="8" '
                     f'fill="{BLUE if here else GREY}" stroke="{BLACK}" stroke-width="{3 if here else 1}"/>')  # fmt: skip
        for i, text in enumerate(_wrap(words[sid], 26)[:2]):
            parts.append(f'<text x="{x + box_w / 2:.0f}" y="{y + 18 + i * 14:.0f}" text-anchor="middle" '
                         f'font-family="Arial, sans-serif" font-size="11" fill="{WHITE if here else BLACK}">'
                         f"{html.escape(text)}</text>")  # fmt: skip
    anywhere = [(target, label) for src, target, label in d.edges if src == ANY]
    for i, (target, label) in enumerate(anywhere):
        parts.append(f'<text x="10" y="{height - 10 - 14 * (len(anywhere) - 1 - i):.0f}" font-family="Arial, '
                     f'sans-serif" font-size="11" fill="{BLACK}">From any open state: {html.escape(label)} → '
                     f"{html.escape(words.get(target, target))}</text>")  # fmt: skip
    if anywhere:
        height += 14 * len(anywhere) + 10
        parts[0] = f'<svg viewBox="0 0 {width:.0f} {height:.0f}" xmlns="http://www.w3.org/2000/svg">'
    parts.append("</svg>")
    return "".join(parts)


@lru_cache(maxsize=64)
def machine_svg(kind: str, current: str | None, *, use_dot: bool = True) -> str:
    """The machine of ``kind`` with ``current`` highlighted, as an accessible inline SVG (a ``<svg>`` element)."""
    d = transitions(kind)
    svg = (_from_dot(_dot_source(d, current)) if use_dot else None) or _own_layout(d, current)
    names = {sid: w for sid, w, _ in d.states}
    title = "How a case moves between states" if kind != "escalation" else "How an escalation moves between states"
    desc = f"The current state, {names[current]}, is highlighted. " if current in names else ""
    desc += "States: " + "; ".join(w for _, w, _ in d.states) + "."
    ident = f"diagram-{re.sub(r'[^a-z0-9]', '-', kind)}"
    head = (f'<svg role="img" aria-labelledby="{ident}-title {ident}-desc" class="desk-diagram" '
            f'focusable="false"')  # fmt: skip
    svg = svg.replace("<svg", head, 1)
    close = svg.index(">") + 1
    return (svg[:close] + f'<title id="{ident}-title">{html.escape(title)}</title>'
            f'<desc id="{ident}-desc">{html.escape(desc)}</desc>' + svg[close:])  # fmt: skip
