"""How ``orderwatch`` prints: typed results as the contract's JSON shapes, or plain lines for people."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["plain", "print_human"]


def plain(result: Any) -> Any:
    """Typed results as the contract's JSON shapes."""
    if isinstance(result, list):
        return [plain(item) for item in result]
    as_json = getattr(result, "as_json", None)
    return as_json() if as_json is not None else result


def print_human(result: Any) -> None:
    """Plain text for people: one line per item; nested detail only in --json."""
    if isinstance(result, str):
        print(result)
    elif isinstance(result, list):
        for item in result:
            if "seq" in item:  # a history entry
                what = item["event"] + (f" (escalation {item['escalation_no']})" if "escalation_no" in item else "")
                moved = f"{item['from'] or '-'} -> {item['to']}"
                effects = "; ".join(f"{k}: {', '.join(str(x) for x in v)}" for k, v in item["consequences"].items())
                p = item["payload"]
                if item["event"] == "amended":  # a correction: what was, what is, and why
                    effects = f"{p['field']}: {p['from']} -> {p['to']} ({p['reason']})" + (f"; {effects}" if effects
                                                                                          else "")  # fmt: skip
                entered = item.get("entered_by")
                by = item["actor"] + (f", entered by {entered}" if entered and entered != item["actor"] else "")
                print(f"{item['seq']:>3} {item['on']} {what:<32} {moved:<44} by {by} [{item['source']}]"
                      + (f"\n      {effects}" if effects else ""))  # fmt: skip
            else:
                print("  ".join(f"{k}={v}" for k, v in item.items() if v not in (None, [], {})))
        if not result:
            print("(none)")
    else:
        print(json.dumps(result, indent=2, default=str))
