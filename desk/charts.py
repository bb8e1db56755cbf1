"""Charts drawn on the server as SVG: horizontal bars, plain or stacked, readable without JavaScript.

Each chart is an ``<svg role="img">`` with a title and a description that say what it shows; every bar carries its
number as text, and the page puts the same numbers in a table beside it (colour is never the only way to read it).
Colours are GOV.UK Frontend's; nothing is styled inline (the desk's CSP forbids it): presentation attributes only.

>>> svg = bar_chart("c1", "Overdue work by team", "Items past their due date", [("tm1's team", 3), ("Legal", 1)])
>>> svg.startswith('<svg role="img" aria-labelledby="c1-title c1-desc"') and ">3<" in svg
True
"""

from __future__ import annotations

import html
from collections.abc import Sequence

__all__ = ["COLOURS", "bar_chart", "stacked_chart"]

COLOURS = ("#1d70b8", "#d4351c", "#00703c", "#f47738", "#4c2c92", "#505a5f")  # blue, red, green, orange, purple, grey
TEXT = "#0b0c0c"
LABEL_W, BAR_W, ROW_H, PAD = 230, 300, 26, 8


def _head(ident: str, title: str, desc: str, height: int, legend: str = "") -> str:
    width = LABEL_W + BAR_W + 100  # room for the number or note after the longest bar
    return (f'<svg role="img" aria-labelledby="{ident}-title {ident}-desc" class="desk-chart" focusable="false" '
            f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">'
            f'<title id="{ident}-title">{html.escape(title)}</title><desc id="{ident}-desc">{html.escape(desc)}</desc>'
            f"{legend}")  # fmt: skip


def _label(y: float, text: str) -> str:
    shown = text if len(text) <= 36 else text[:35] + "…"
    return (f'<text x="{LABEL_W - 8}" y="{y + ROW_H / 2 + 4:.0f}" text-anchor="end" font-size="12" '
            f'font-family="Arial, sans-serif" fill="{TEXT}">{html.escape(shown)}</text>')  # fmt: skip


def _value(x: float, y: float, text: str) -> str:
    return (f'<text x="{x + 6:.0f}" y="{y + ROW_H / 2 + 4:.0f}" font-size="12" font-family="Arial, sans-serif" '
            f'fill="{TEXT}">{html.escape(text)}</text>')  # fmt: skip


def bar_chart(ident: str, title: str, desc: str, rows: Sequence[tuple[str, float]], *, maximum: float | None = None,
              suffix: str = "", colour: str = COLOURS[0]) -> str:  # fmt: skip
    """One bar per row, its number written after it (``suffix`` e.g. ``%``); an empty chart says so."""
    top = maximum if maximum is not None else max((v for _, v in rows), default=0)
    height = PAD * 2 + max(1, len(rows)) * ROW_H
    parts = [_head(ident, title, desc, height)]
    if not rows:
        parts.append(_value(0, PAD, "Nothing to show"))
    for i, (label, value) in enumerate(rows):
        y = PAD + i * ROW_H
        w = 0 if top <= 0 else BAR_W * value / top
        number = f"{value:g}{suffix}"
        parts.append(_label(y, label))
        parts.append(f'<rect x="{LABEL_W}" y="{y + 4}" width="{w:.1f}" height="{ROW_H - 8}" fill="{colour}">'
                     f"<title>{html.escape(label)}: {number}</title></rect>")  # fmt: skip
        parts.append(_value(LABEL_W + w, y, number))
    parts.append("</svg>")
    return "".join(parts)


def stacked_chart(ident: str, title: str, desc: str, series: Sequence[str],
                  rows: Sequence[tuple[str, Sequence[float]]], *, notes: Sequence[str] | None = None,
                  colours: Sequence[str] = COLOURS) -> str:  # fmt: skip
    """Bars made of one segment per series (a legend names them); ``notes`` are written after each bar (a rate)."""
    top = max((sum(values) for _, values in rows), default=0)
    legend_h = 22
    height = PAD * 2 + legend_h + max(1, len(rows)) * ROW_H
    legend = []
    x = LABEL_W
    for s, name in enumerate(series):
        legend.append(f'<rect x="{x}" y="{PAD}" width="12" height="12" fill="{colours[s % len(colours)]}"/>')
        legend.append(f'<text x="{x + 16}" y="{PAD + 11}" font-size="12" font-family="Arial, sans-serif" '
                      f'fill="{TEXT}">{html.escape(name)}</text>')  # fmt: skip
        x += 24 + 8 * len(name)
    parts = [_head(ident, title, desc, height, "".join(legend))]
    for i, (label, values) in enumerate(rows):
        y = PAD + legend_h + i * ROW_H
        parts.append(_label(y, label))
        x0 = float(LABEL_W)
        for s, value in enumerate(values):
            w = 0 if top <= 0 else BAR_W * value / top
            if w > 0:
                parts.append(f'<rect x="{x0:.1f}" y="{y + 4}" width="{w:.1f}" height="{ROW_H - 8}" '
                             f'fill="{colours[s % len(colours)]}"><title>{html.escape(label)}, '
                             f"{html.escape(series[s])}: {value:g}</title></rect>")  # fmt: skip
            x0 += w
        total = sum(values)
        note = notes[i] if notes else f"{total:g}"
        parts.append(_value(x0, y, note))
    parts.append("</svg>")
    return "".join(parts)
