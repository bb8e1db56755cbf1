"""What operators see in the Prefect UI: artifacts and events, built from case references, states, dates, counts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.events import emit_event

from storage.casebook import Casebook
from storage.notices import Notice

__all__ = ["emit_notices", "publish_summary", "publish_worklist"]

EVENT_NAMES = {
    "deadline.missed": "orderwatch.deadline.missed",
    "escalation.raised": "orderwatch.escalation.raised",
    "case.transitioned": "orderwatch.case.transitioned",
}
WORKLIST_COLUMNS = ["case", "kind", "state", "deadline", "due_on", "owner", "status"]
# The artifact shows the most urgent items only: a table of thousands is slow to store and useless to read in the
# UI (a regional caseload can have that many). `orderwatch worklist` lists every item.
WORKLIST_ROWS_SHOWN = 1000


def case_resource(ref: str) -> dict[str, str]:
    return {"prefect.resource.id": f"orderwatch.case.{ref}", "prefect.resource.name": ref}


def emit_notices(notices: Iterable[Notice]) -> int:
    """One Prefect event per notice (missed deadline, raised escalation, transition): Automations can route them."""
    count = 0
    for notice in notices:
        emit_event(event=EVENT_NAMES[notice.type], resource=case_resource(notice.case), payload=dict(notice.payload))
        count += 1
    return count


def publish_worklist(book: Casebook, as_of: date, within: int = 7) -> list[dict[str, Any]]:
    """The table artifact operators check each morning: overdue work, and what falls due in the next week."""
    items = [item.as_json() for item in book.worklist(as_of, within)]
    rows = [{column: item[column] for column in WORKLIST_COLUMNS} for item in items]
    shown = rows[:WORKLIST_ROWS_SHOWN]
    more = (
        f"; the {len(shown)} most urgent shown, `orderwatch worklist --as-of {as_of.isoformat()}` lists all"
        if len(rows) > len(shown)
        else ""
    )
    create_table_artifact(
        key="orderwatch-worklist",
        table=shown or [dict.fromkeys(WORKLIST_COLUMNS, "")],
        description=f"Overdue and due within {within} days, as of {as_of.isoformat()} ({len(rows)} items{more}).",
    )
    return rows


def publish_summary(title: str, key: str, facts: Mapping[str, Any], by_state: Mapping[str, Mapping[str, int]]) -> str:
    lines = [f"# {title}", ""]
    lines += [f"- **{name}**: {value}" for name, value in facts.items()]
    lines += ["", "## Cases by state", "", "| kind | state | cases |", "|---|---|---|"]
    for kind, states in sorted(by_state.items()):
        lines += [f"| {kind} | {state} | {n} |" for state, n in sorted(states.items())]
    markdown = "\n".join(lines) + "\n"
    create_markdown_artifact(key=key, markdown=markdown, description=title)
    return markdown
