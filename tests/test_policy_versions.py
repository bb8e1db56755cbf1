"""The policy a case ran under is recorded: a changed ``policy.toml`` applies to new cases; existing ones keep theirs
(their events and their replay), until ``orderwatch policy migrate`` moves them — a dry run first, then the same
plan — with each move in the case's log. Due dates worked by hand (England and Wales bank holidays, none in play)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Cli, snapshot

LOCAL = "iro_allocation_wd = 3\ncase_summary_wd = 8\nclosure_days = [2026-01-19]\n"


def _due(shown: dict[str, object], kind: str, status: str = "open") -> list[str]:
    return [d["due_on"] for d in shown["deadlines"] if d["kind"] == kind and d["status"] == status]  # type: ignore[index, attr-defined]


def _so(ref: str) -> tuple[str, ...]:
    return ("so", "register", "--case", ref, "--child", f"C-{ref}", "--order-date", "2026-01-15", "--notified-on",
            "2026-01-16", "--actor", "sw1")  # fmt: skip


def test_a_changed_policy_applies_to_new_cases_and_to_live_ones_only_through_policy_migrate(
    cli: Cli, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORDERWATCH_TODAY", "2026-01-21")
    assert cli(*_so("SO-1")).rc == 0  # under the shipped defaults
    assert _due(cli("show", "SO-1").json, "case_summary") == ["2026-01-30"]  # Fri 16th + 10 WD

    local = tmp_path / "local.toml"
    local.write_text(LOCAL)
    monkeypatch.setenv("ORDERWATCH_POLICY", str(local))
    # replay of an existing case still reproduces it (it replays under the policy it was opened with)
    assert cli("replay", "SO-1").json == {"case": "SO-1", "state": "registered", "reproduced": True}
    # an event on it arms deadlines under its own policy: 15 WD from Thu 15th, Mon 19th not closed for it
    assert cli("fire", "SO-1", "allocate_iro", "--actor", "su1", "--on", "2026-01-20", "--set", "iro=iro1").rc == 0
    assert _due(cli("show", "SO-1").json, "first_cin_meeting") == ["2026-02-05"]
    # a new case runs under the new one: 3 WD from Fri 16th with Mon 19th closed
    assert cli(*_so("SO-2")).rc == 0
    assert _due(cli("show", "SO-2").json, "iro_allocation") == ["2026-01-22"]
    assert _due(cli("show", "SO-2").json, "case_summary") == ["2026-01-29"]
    for ref in ("SO-1", "SO-2"):
        assert cli("replay", ref).json["reproduced"] is True

    listed = cli("policy", "list").json
    assert [(p["in_force"], p["cases"], p["live_cases"]) for p in listed] == [(False, 1, 1), (True, 1, 1)]

    before = snapshot(db_url)
    dry = cli("policy", "migrate", "--dry-run").json
    assert snapshot(db_url) == before  # a dry run changes nothing
    assert dry["dry_run"] is True and dry["to"] == listed[1]["policy"] and dry["deadlines_moved"] == 2
    assert dry["cases"] == [{"case": "SO-1", "from": listed[0]["policy"], "moved": [
        {"deadline": "case_summary", "from": "2026-01-30", "to": "2026-01-29"},
        {"deadline": "first_cin_meeting", "from": "2026-02-05", "to": "2026-02-06"}]}]  # fmt: skip

    wrong = cli("policy", "migrate", "--plan", "000000000000")
    assert wrong.rc == 2 and "the plan has changed since the dry run" in wrong.json["error"]
    assert snapshot(db_url) == before

    applied = cli("policy", "migrate", "--plan", dry["plan"]).json
    assert applied["dry_run"] is False and applied["cases"] == dry["cases"]
    shown = cli("show", "SO-1").json
    assert _due(shown, "case_summary") == ["2026-01-29"] and _due(shown, "case_summary", "cancelled") == ["2026-01-30"]
    assert _due(shown, "first_cin_meeting") == ["2026-02-06"]
    audit = cli("history", "SO-1").json[-1]
    assert audit["event"] == "policy_migrated" and audit["on"] == "2026-01-21"
    assert audit["payload"] == {"from": listed[0]["policy"], "to": listed[1]["policy"], "moved": [
        ["case_summary", None, "2026-01-30", "2026-01-29"], ["first_cin_meeting", None, "2026-02-05", "2026-02-06"]]}  # fmt: skip
    assert audit["consequences"] == {"armed": [["case_summary", "2026-01-29"], ["first_cin_meeting", "2026-02-06"]],
                                     "cancelled": ["case_summary", "first_cin_meeting"]}  # fmt: skip
    assert cli("replay", "SO-1").json["reproduced"] is True  # the moves replay from the log
    assert [p["live_cases"] for p in cli("policy", "list").json] == [0, 2]
    assert cli("policy", "migrate", "--dry-run").json["cases"] == []


def test_an_ended_case_keeps_its_policy_and_replays_under_it(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORDERWATCH_TODAY", "2026-01-21")
    assert cli(*_so("SO-1")).rc == 0
    assert cli("fire", "SO-1", "discharge", "--actor", "legal1", "--on", "2026-01-20").rc == 0
    local = tmp_path / "local.toml"
    local.write_text(LOCAL)
    monkeypatch.setenv("ORDERWATCH_POLICY", str(local))
    assert cli("policy", "migrate", "--dry-run").json["cases"] == []
    assert cli("replay", "SO-1").json["reproduced"] is True


@pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)
def test_a_policy_stored_by_a_transaction_that_rolled_back_is_never_taken_as_stored(book: object) -> None:
    """A unit of work that stored the policy in force and then failed leaves nothing behind: a later commit (of
    anything) must not make the process believe that row exists, or every registration after it would fail."""
    from datetime import date

    from machines.supervision_order import SORegistration
    from storage.casebook import Casebook
    from storage.commands import AddPerson, Register
    from storage.uow import UnitOfWork
    from tests.conftest import FIXED_NOW

    assert isinstance(book, Casebook)
    with pytest.raises(RuntimeError), book.engine.begin() as connection:
        uow = UnitOfWork(connection, book.policy, now=FIXED_NOW, source=None, policies=book.policies)
        assert uow.policies.current_id(connection, FIXED_NOW) > 0
        raise RuntimeError("the transaction fails after storing the policy")
    book.handle(AddPerson(actor="test-setup", user="sw9", role="social_worker", manager="tm1"))
    reg = SORegistration("SO-P1", "C-P1", date(2026, 1, 15), notified_on=date(2026, 1, 16), social_worker="sw1")
    assert book.handle(Register(actor="sw1", registration=reg, on=date(2026, 1, 16))).case == "SO-P1"
