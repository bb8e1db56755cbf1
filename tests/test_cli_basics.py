"""The CLI contract's basics: JSON shapes, exit codes, one-line errors, nothing changed on refusal."""

from __future__ import annotations

from tests.conftest import Cli, snapshot


def test_register_and_show_have_the_contract_shape(cli: Cli) -> None:
    ran = cli("so", "register", "--case", "SO-1", "--child", "C-1", "--order-date", "2026-01-15",
              "--notified-on", "2026-01-16", "--actor", "sw1")  # fmt: skip
    assert ran.rc == 0, ran.err
    shown = cli("show", "SO-1").json
    assert {"case", "kind", "state", "version", "dates", "links", "deadlines", "escalations"} <= set(shown)
    assert shown["kind"] == "so" and shown["state"] == "registered"
    assert shown["dates"]["expiry"] == "2027-01-14" and shown["dates"]["extension_limit"] == "2029-01-14"
    assert {"kind": "iro_allocation", "due_on": "2026-01-23", "status": "open"} in shown["deadlines"]


def test_refusal_is_one_line_exit_2_and_changes_nothing(cli: Cli, db_url: str) -> None:
    cli("so", "register", "--case", "SO-1", "--child", "C-1", "--order-date", "2026-01-15",
        "--notified-on", "2026-01-16", "--actor", "sw1")  # fmt: skip
    before = snapshot(db_url)
    ran = cli("fire", "SO-1", "hold_review", "--actor", "iro1", "--on", "2026-02-01", "--set", "outcome=extend")
    assert ran.rc == 2
    assert ran.json == {"error": "hold_review is not allowed when case SO-1 is registered"}
    assert ran.err.count("\n") == 1 and "hold_review is not allowed" in ran.err
    assert snapshot(db_url) == before
