"""What operators see in the Prefect UI: artifacts and events, built from case references, states, dates, counts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.events import emit_event

from storage.casebook import Casebook
from storage.notices import Notice

__all__ = ["emit_notices", "plural", "publish_summary", "publish_worklist", "worklist_rows"]

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


def plural(n: int, noun: str) -> str:
    """``1 item``, ``2 items``, ``1 batch``, ``3 batches``.

    >>> plural(1, "item"), plural(0, "item"), plural(2, "batch"), plural(1, "escalation")
    ('1 item', '0 items', '2 batches', '1 escalation')
    """
    if n == 1:
        return f"1 {noun}"
    return f"{n} {noun}es" if noun.endswith(("s", "sh", "ch", "x")) else f"{n} {noun}s"


def worklist_rows(book: Casebook, as_of: date, within: int = 7) -> list[dict[str, Any]]:
    """Open escalations first — each is overdue work: the deadline behind it was missed — then the open deadlines
    overdue or due within ``within`` days. An open escalation's own deadlines (acknowledge, resolve) are shown on
    its row, not again on rows of their own."""
    items = [item.as_json() for item in book.worklist(as_of, within)]
    next_due: dict[str, str] = {}
    for item in items:
        if "escalation" in item:
            next_due.setdefault(item["escalation"], item["due_on"])
    rows = [
        {"case": e["case"], "kind": "escalation", "state": e["state"],
         "deadline": f"{e['id']} {e['reason']} (level {e['level']})", "due_on": next_due.get(e["id"], e["raised_on"]),
         "owner": e["raised_to"], "status": "overdue"}
        for e in (esc.as_json() for esc in book.escalations(open_only=True))
    ]  # fmt: skip
    open_ids = {e["deadline"].split(" ", 1)[0] for e in rows}
    rows += [
        {column: item[column] for column in WORKLIST_COLUMNS}
        for item in items
        if item.get("escalation") not in open_ids
    ]
    return rows


def publish_worklist(book: Casebook, as_of: date, within: int = 7) -> list[dict[str, Any]]:
    """The table artifact operators check each morning: open escalations and overdue work, and what falls due in the
    next week."""
    rows = worklist_rows(book, as_of, within)
    shown = rows[:WORKLIST_ROWS_SHOWN]
    more = (
        f"; the {len(shown)} most urgent shown, `orderwatch worklist --as-of {as_of.isoformat()}` lists all"
        if len(rows) > len(shown)
        else ""
    )
    overdue = sum(1 for r in rows if r["status"] == "overdue")
    escalations = sum(1 for r in rows if r["kind"] == "escalation")
    create_table_artifact(
        key="orderwatch-worklist",
        table=shown or [dict.fromkeys(WORKLIST_COLUMNS, "")],
        description=(
            f"As of {as_of.isoformat()}: {plural(overdue, 'item')} overdue ({plural(escalations, 'open escalation')} "
            f"among them), {plural(len(rows) - overdue, 'item')} due within {plural(within, 'day')}{more}."
        ),
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
