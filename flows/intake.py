"""Intake: new cases arrive as a file in the inbox (the Safeguarding Unit's notification, the court's ISO), and a flow
registers them. The flow's only parameter is the file's name: the child's details never become a Prefect parameter.

A batch file is a JSON list of objects with the ``orderwatch so register`` / ``cp-iso register`` options as keys
(``case``, ``child``, ``order_date`` …, ``actor``). Each item is checked against the schema below (known keys, the
required ones present, strings only, references and user names by the name rules, dates ``YYYY-MM-DD``); the good
ones are registered, each committing on its own, the bad ones refused with their reasons. A result file is always
written, on orderwatch's side, not Prefect's:

- ``processed/<file>.result.json`` once the batch is done (the batch moves to ``processed/`` too);
- ``quarantine/<file>.result.json`` for a broken batch — not UTF-8 JSON, not a list — which is moved there untouched;
- ``processed/<file>.result.json`` with ``"status": "crashed"`` when an internal fault stops the batch: the batch
  stays in the inbox to be run again, and the cases it registered are answered from their request ids (each item is
  sent with one made of the file's content hash, the day and its position), not registered twice.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger

from flows.runtime import RefusedByRules, casebook
from flows.views import plural
from machines.calendar import parse_date
from machines.cp_iso import CpIsoRegistration
from machines.errors import Refused
from machines.names import check_child_id, check_name, is_name, shown
from machines.supervision_order import SORegistration
from storage import clock
from storage.commands import Register
from storage.errors import Fault, record_fault

__all__ = ["IntakeCrashed", "inbox", "intake_cp_iso", "intake_supervision_orders"]

# The schema of an item: each key and what it holds
_REF, _CHILD, _DATE, _USER = "case reference", "child identifier", "date", "user name"
SO_SCHEMA = {"case": _REF, "child": _CHILD, "order_date": _DATE, "expiry": _DATE, "dob": _DATE, "notified_on": _DATE,
             "social_worker": _USER, "actor": _USER}  # fmt: skip
CP_SCHEMA = {"case": _REF, "child": _CHILD, "iso_date": _DATE, "next_review": _DATE, "last_review": _DATE,
             "icpc": _DATE, "issued": _DATE, "cmh": _DATE, "irh": _DATE, "final_hearing": _DATE, "dob": _DATE,
             "social_worker": _USER, "actor": _USER}  # fmt: skip
SO_KEYS, CP_KEYS = set(SO_SCHEMA), set(CP_SCHEMA)


class IntakeCrashed(Exception):
    """An internal fault stopped a batch: its message is generic (a correlation id), as Prefect may show it."""


def inbox() -> Path:
    return Path(os.environ.get("ORDERWATCH_INBOX", "var/inbox"))


def _check(item: Any, schema: dict[str, str], required: set[str]) -> list[str]:
    """Why the item cannot be registered as it is (nothing: it can be tried)."""
    if not isinstance(item, dict):
        return ["each item must be a JSON object"]
    reasons = []
    unknown = sorted(str(k) for k in set(item) - set(schema))
    if unknown:
        reasons.append(f"unknown keys {', '.join(shown(k) for k in unknown[:5])}")
    missing = sorted(k for k in required if item.get(k) is None)
    if missing:
        reasons.append(f"missing keys {', '.join(missing)}")
    for key, what in schema.items():
        value = item.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            reasons.append(f"{key} must be a string ({what})")
            continue
        try:
            if what == _DATE:
                parse_date(value)
            elif what == _CHILD:
                check_child_id(value)  # personal data: the reason does not repeat it
            else:
                check_name(value, what)
        except (Refused, ValueError) as exc:
            reasons.append(f"{key}: {exc}")
    return reasons


def _date(item: dict[str, Any], key: str) -> Any:
    value = item.get(key)
    return None if value is None else parse_date(value)


def _not_future(on: date, key: str) -> date:
    """As the CLI: a case cannot open on a day that has not come (its deadlines would be counted from it)."""
    today = clock.today()
    if on > today:
        raise Refused(f"{key} {on} is in the future (today is {today})")
    return on


def _register_so(item: dict[str, Any], request_id: str) -> Register:
    reg = SORegistration(item["case"], item["child"], _date(item, "order_date"), _date(item, "expiry"),
                         _date(item, "dob"), _date(item, "notified_on"), item.get("social_worker"))  # fmt: skip
    on = _not_future(reg.notified_on or clock.today(), "notified_on")
    return Register(actor=item["actor"], registration=reg, on=on, request_id=request_id)


def _register_cp(item: dict[str, Any], request_id: str) -> Register:
    d = {k: _date(item, k) for k in ("iso_date", "next_review", "last_review", "icpc", "issued", "cmh", "irh",
                                      "final_hearing", "dob")}  # fmt: skip
    reg = CpIsoRegistration(item["case"], item["child"], d["iso_date"], d["next_review"], d["last_review"],
                            d["icpc"], d["issued"], d["cmh"], d["irh"], d["final_hearing"], d["dob"],
                            item.get("social_worker"))  # fmt: skip
    on = _not_future(reg.iso_date, "iso_date")
    return Register(actor=item["actor"], registration=reg, on=on, request_id=request_id)


def _write(path: Path, result: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2))


def _label(item: Any, number: int) -> str:
    """How the item is named in the results and Prefect's log: its case reference if it is one, else its place."""
    ref = item.get("case") if isinstance(item, dict) else None
    return ref if isinstance(ref, str) and is_name(ref) else f"item-{number}"


def _process(
    batch: str, schema: dict[str, str], required: set[str], command: Callable[[dict[str, Any], str], Register]
) -> dict[str, Any]:
    logger = get_run_logger()
    if not batch or len(batch) > 200 or not batch.isprintable() or "/" in batch or "\\" in batch or batch[0] == ".":
        raise RefusedByRules(f"batch {shown(batch)} must be a file name in the inbox")
    path = inbox() / batch
    if not path.is_file():
        raise RefusedByRules(f"no batch {batch!r} in the inbox")
    content = path.read_bytes()
    try:
        items = json.loads(content.decode("utf-8"))
        if not isinstance(items, list):
            raise ValueError
    except ValueError:  # not UTF-8, not JSON, not a list: nothing in it can be trusted to be a case
        quarantine = inbox() / "quarantine"
        quarantine.mkdir(parents=True, exist_ok=True)
        path.replace(quarantine / batch)
        _write(quarantine / f"{batch}.result.json", {"batch": batch, "status": "quarantined",
                                                     "error": "not a JSON list of cases", "registered": [],
                                                     "refused": []})  # fmt: skip
        logger.warning("batch %s is not a JSON list: moved to quarantine/", batch)
        raise RefusedByRules(f"batch {batch!r} is not a JSON list: moved to quarantine/") from None
    # request ids: the same file run again the same day registers nothing twice
    prefix = f"intake/{hashlib.sha256(content).hexdigest()[:16]}/{clock.today().isoformat()}"
    registered: list[str] = []
    refused: list[dict[str, Any]] = []
    result: dict[str, Any] = {"batch": batch, "status": "processed", "registered": registered, "refused": refused}
    done = inbox() / "processed"
    book = casebook()
    try:
        for number, item in enumerate(items, 1):
            ref = _label(item, number)
            reasons = _check(item, schema, required)
            if reasons:
                refused.append({"item": number, "case": ref, "reason": "; ".join(reasons)})
                continue
            try:
                book.handle(command(item, f"{prefix}/{number}"))
                registered.append(ref)
            except Refused as exc:
                refused.append({"item": number, "case": ref, "reason": str(exc)})
    except Exception as exc:  # an internal fault: stop, say so, leave the batch to be run again
        message = str(exc) if isinstance(exc, Fault) else f"internal error (correlation id {record_fault(exc)})"
        result.update(status="crashed", error=message, unprocessed=len(items) - len(registered) - len(refused))
        _write(done / f"{batch}.result.json", result)
        logger.error("batch %s stopped after %d registered, %d refused: %s", batch, len(registered), len(refused),
                     message)  # fmt: skip
        raise IntakeCrashed(f"batch {batch!r} stopped: {message}; it stays in the inbox to be run again") from None
    done.mkdir(parents=True, exist_ok=True)
    path.replace(done / batch)
    _write(done / f"{batch}.result.json", result)
    logger.info("batch %s: %s registered, %s refused (reasons in processed/%s.result.json): refused %s",
                batch, plural(len(registered), "case"), plural(len(refused), "case"), batch,
                [r["case"] for r in refused])  # fmt: skip
    return {"registered": registered, "refused": [r["case"] for r in refused]}


@flow(name="intake-supervision-orders", flow_run_name="intake-so-{batch}")
def intake_supervision_orders(batch: str) -> dict[str, Any]:
    """Register the Supervision Orders in an inbox batch file."""
    return _process(batch, SO_SCHEMA, {"case", "child", "order_date", "actor"}, _register_so)


@flow(name="intake-cp-iso", flow_run_name="intake-cp-iso-{batch}")
def intake_cp_iso(batch: str) -> dict[str, Any]:
    """Register the CP + ISO cases in an inbox batch file."""
    return _process(batch, CP_SCHEMA, {"case", "child", "iso_date", "next_review", "actor"}, _register_cp)
