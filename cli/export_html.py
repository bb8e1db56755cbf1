"""The subject access export as one readable HTML page: every value escaped, no script, nothing fetched."""

from __future__ import annotations

import json
from html import escape
from typing import Any

__all__ = ["render"]

_TITLES = {
    "events": "Event log",
    "deadlines": "Deadlines",
    "escalations": "Escalations",
    "involvements": "People involved",
    "notifications": "Notifications",
    "access_log": "Reads of the case (access log)",
}
_STYLE = (
    "body{font-family:sans-serif;margin:2em;color:#0b0c0c}table{border-collapse:collapse;margin-bottom:2em}"
    "th,td{border:1px solid #b1b4b6;padding:.3em .5em;text-align:left;vertical-align:top;font-size:.9em}"
    "th{background:#f3f2f1}pre{margin:0;white-space:pre-wrap}"
)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return f"<pre>{escape(json.dumps(value, indent=1, ensure_ascii=False, sort_keys=True))}</pre>"
    return escape(str(value))


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "<p>None held.</p>"
    columns = list(dict.fromkeys(k for row in rows for k in row))
    head = "".join(f'<th scope="col">{escape(c)}</th>' for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_cell(row.get(c))}</td>" for c in columns) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render(export: dict[str, Any]) -> str:
    """The page for ``orderwatch export REF --format html``."""
    case = export["case"]
    ref = escape(str(case.get("ref", "")))
    facts = "".join(f'<tr><th scope="row">{escape(k)}</th><td>{_cell(v)}</td></tr>' for k, v in case.items())
    chain = export["chain"]
    integrity = "verified" if chain["ok"] else f"BROKEN: {escape(str(chain.get('broken', '')))}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        f"<title>Case {ref}: everything held</title><style>{_STYLE}</style></head><body>",
        f"<h1>Case {ref}: everything orderwatch holds</h1>",
        f"<p>The case's event log: {integrity}.</p>",
        f"<h2>The case</h2><table><tbody>{facts}</tbody></table>",
    ]
    for key, title in _TITLES.items():
        parts.append(f"<h2>{escape(title)}</h2>{_table(export.get(key, []))}")
    parts.append("</body></html>")
    return "\n".join(parts)
