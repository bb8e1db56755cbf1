"""Intake: new cases arrive as a file in the inbox (the Safeguarding Unit's notification, the court's ISO), and a flow
registers them. The flow's only parameter is the file's name: the child's details never become a Prefect parameter.

A batch file is a JSON list of objects with the ``orderwatch so register`` / ``cp-iso register`` options as keys
(``case``, ``child``, ``order_date`` …, ``actor``). Each case commits on its own; refusals are written, with their
reasons, to ``<file>.result.json`` beside the batch in ``processed/`` — orderwatch's side, not Prefect's.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger

from cli import clock
from flows.runtime import RefusedByRules, casebook
from flows.views import plural
from machines.calendar import parse_date
from machines.cp_iso import CpIsoRegistration
from machines.errors import Refused
from machines.supervision_order import SORegistration
from storage.commands import Register

__all__ = ["inbox", "intake_cp_iso", "intake_supervision_orders"]

SO_KEYS = {"case", "child", "order_date", "expiry", "dob", "notified_on", "social_worker", "actor"}
CP_KEYS = {"case", "child", "iso_date", "next_review", "last_review", "icpc", "issued", "cmh", "irh",
           "final_hearing", "dob", "social_worker", "actor"}  # fmt: skip


def inbox() -> Path:
    return Path(os.environ.get("ORDERWATCH_INBOX", "var/inbox"))


def _date_or_none(item: dict[str, Any], key: str) -> Any:
    value = item.get(key)
    if value is None:
        return None
    try:
        return parse_date(str(value))
    except ValueError as exc:
        raise Refused(f"{key}: {exc}") from None


def _not_future(on: date, key: str) -> date:
    """As the CLI: a case cannot open on a day that has not come (its deadlines would be counted from it)."""
    today = clock.today()
    if on > today:
        raise Refused(f"{key} {on} is in the future (today is {today})")
    return on


def _register_so(item: dict[str, Any]) -> None:
    reg = SORegistration(str(item["case"]), str(item["child"]), _date_or_none(item, "order_date"),
                         _date_or_none(item, "expiry"), _date_or_none(item, "dob"), _date_or_none(item, "notified_on"),
                         item.get("social_worker"))  # fmt: skip
    on = _not_future(reg.notified_on or clock.today(), "notified_on")
    casebook().handle(Register(actor=str(item["actor"]), registration=reg, on=on))


def _register_cp(item: dict[str, Any]) -> None:
    d = {k: _date_or_none(item, k) for k in ("iso_date", "next_review", "last_review", "icpc", "issued", "cmh",
                                              "irh", "final_hearing", "dob")}  # fmt: skip
    reg = CpIsoRegistration(str(item["case"]), str(item["child"]), d["iso_date"], d["next_review"], d["last_review"],
                            d["icpc"], d["issued"], d["cmh"], d["irh"], d["final_hearing"], d["dob"],
                            item.get("social_worker"))  # fmt: skip
    casebook().handle(Register(actor=str(item["actor"]), registration=reg, on=_not_future(reg.iso_date, "iso_date")))


def _process(
    batch: str, keys: set[str], required: set[str], register: Callable[[dict[str, Any]], None]
) -> dict[str, Any]:
    logger = get_run_logger()
    if not batch or "/" in batch or "\\" in batch or batch.startswith("."):
        raise RefusedByRules(f"batch {batch!r} must be a file name in the inbox")
    path = inbox() / batch
    if not path.is_file():
        raise RefusedByRules(f"no batch {batch!r} in the inbox")
    try:
        items = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(items, list):
            raise ValueError
    except ValueError:
        raise RefusedByRules(f"batch {batch!r} is not a JSON list") from None
    registered: list[str] = []
    refused: list[dict[str, Any]] = []
    for number, item in enumerate(items, 1):
        ref = str(item.get("case", f"item-{number}")) if isinstance(item, dict) else f"item-{number}"
        try:
            if not isinstance(item, dict):
                raise Refused("each item must be an object")
            unknown, missing = set(item) - keys, required - set(item)
            if unknown or missing:
                raise Refused(f"unknown keys {sorted(unknown)}, missing keys {sorted(missing)}")
            if any(item.get(k) is None for k in required):
                raise Refused("a required key is empty")
            register(item)
            registered.append(ref)
        except Refused as exc:
            refused.append({"item": number, "case": ref, "reason": str(exc)})
    done = inbox() / "processed"
    done.mkdir(parents=True, exist_ok=True)
    path.replace(done / batch)
    (done / f"{batch}.result.json").write_text(json.dumps({"registered": registered, "refused": refused}, indent=2))
    logger.info("batch %s: %s registered, %s refused (reasons in processed/%s.result.json): refused %s",
                batch, plural(len(registered), "case"), plural(len(refused), "case"), batch,
                [r["case"] for r in refused])  # fmt: skip
    return {"registered": registered, "refused": [r["case"] for r in refused]}


@flow(name="intake-supervision-orders", flow_run_name="intake-so-{batch}")
def intake_supervision_orders(batch: str) -> dict[str, Any]:
    """Register the Supervision Orders in an inbox batch file."""
    return _process(batch, SO_KEYS, {"case", "child", "order_date", "actor"}, _register_so)


@flow(name="intake-cp-iso", flow_run_name="intake-cp-iso-{batch}")
def intake_cp_iso(batch: str) -> dict[str, Any]:
    """Register the CP + ISO cases in an inbox batch file."""
    return _process(batch, CP_KEYS, {"case", "child", "iso_date", "next_review", "actor"}, _register_cp)
