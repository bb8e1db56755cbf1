"""``orderwatch export REF``: everything orderwatch holds about a case, for a subject access request.

Generic over the tables: every column of every row that belongs to the case — the case itself, its event log (with
each row's hash), deadlines, escalations, involvements, the notices that name it, and the access log of its reads —
so a column added later is exported without touching this module. The export is itself a read, and is logged; it
says whether the case's chain verified when it was taken.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Table, or_, select

from storage.models import access_log, cases, deadlines, escalations, events, involvements, notifications
from storage.queries import case_id
from storage.verify import Verified, check_case

__all__ = ["CaseExport", "export_case"]

SECTIONS = ("events", "deadlines", "escalations", "involvements", "notifications", "access_log")


def _value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def _rows(connection: Connection, table: Table, *where: Any, order: Any) -> list[dict[str, Any]]:
    query = select(table).where(*where).order_by(order)
    return [{k: _value(v) for k, v in row.items()} for row in connection.execute(query).mappings()]


@dataclass(frozen=True, slots=True)
class CaseExport:
    """A case and everything held about it, as plain data (``as_json``) in fixed sections."""

    ref: str
    case: dict[str, Any]
    sections: dict[str, list[dict[str, Any]]]
    chain_ok: bool
    chain_break: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "case": self.case,
            **self.sections,
            "chain": {"ok": self.chain_ok, **({"broken": self.chain_break} if self.chain_break else {})},
        }


def export_case(connection: Connection, ref: str) -> CaseExport:
    """Everything held about the case (refuses an unknown reference)."""
    cid = case_id(connection, ref)
    case = _rows(connection, cases, cases.c.id == cid, order=cases.c.id)[0]
    esc_ids = [e["id"] for e in _rows(connection, escalations, escalations.c.case_id == cid, order=escalations.c.no)]
    sections = {
        "events": _rows(connection, events, events.c.case_id == cid, order=events.c.seq),
        "deadlines": _rows(connection, deadlines, deadlines.c.case_id == cid, order=deadlines.c.id),
        "escalations": _rows(connection, escalations, escalations.c.case_id == cid, order=escalations.c.no),
        "involvements": _rows(connection, involvements, involvements.c.case_id == cid, order=involvements.c.id),
        "notifications": _rows(
            connection,
            notifications,
            or_(notifications.c.case_ref == ref, notifications.c.escalation_id.in_(esc_ids)),
            order=notifications.c.id,
        ),
        "access_log": _rows(connection, access_log, access_log.c.case_ref == ref, order=access_log.c.id),
    }
    found = Verified()
    meta = {"id": cid, "ref": ref, "last_seq": case["last_seq"], "log_head": case["log_head"],
            "disposed_on": case["disposed_on"]}  # fmt: skip
    broken = check_case(connection, meta, found)
    return CaseExport(ref, case, sections, broken is None, None if broken is None else broken.describe())
