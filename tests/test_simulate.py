"""Bulk actions (``Casebook.apply``), one case's catch-up, and ``orderwatch simulate`` on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest

from machines.casework import _MACHINES
from machines.errors import Refused
from machines.model import CaseKind
from machines.procedures import PROCEDURES
from machines.supervision_order import SOState
from storage.casebook import Casebook
from storage.commands import CatchUp, Fire, Register, Transition
from storage.db import make_engine
from tests.conftest import FIXED_NOW, Cli, snapshot


@pytest.fixture
def book(db_url: str) -> Iterator[Casebook]:
    """The casebook on the test database; the ``cli`` fixture adds the people."""
    engine = make_engine(db_url)
    yield Casebook(engine, clock=lambda: FIXED_NOW)
    engine.dispose()


def _register(cli: Cli, ref: str) -> None:
    ran = cli("so", "register", "--case", ref, "--child", f"C-{ref}", "--order-date", "2026-01-15",
              "--notified-on", "2026-01-16", "--social-worker", "sw1", "--actor", "sw1")  # fmt: skip
    assert ran.rc == 0, ran.err


def test_apply_lands_the_good_actions_together_and_reports_each_refusal(cli: Cli, book: Casebook) -> None:
    for ref in ("SO-1", "SO-2"):
        _register(cli, ref)
    on = date(2026, 1, 19)
    results = book.handle_all([
        Fire(ref="SO-1", event="allocate_iro", actor="su1", on=on, fields={"iro": "iro1"}),
        Fire(ref="SO-2", event="hold_review", actor="iro1", on=on, fields={"outcome": "extend"}),  # illegal now
        Fire(ref="SO-9", event="allocate_iro", actor="su1", on=on, fields={"iro": "iro1"}),  # unknown case
        Fire(ref="SO-2", event="allocate_iro", actor="sw1", on=on, fields={"iro": "iro1"}),  # role not allowed
        Fire(ref="SO-2", event="allocate_iro", actor="su1", on=on, fields={"iro": "iro2"}),
        Fire(ref="SO-1", event="record_first_cin_meeting", actor="sw1", on=on),  # after allocate_iro, same batch
    ])  # fmt: skip
    assert [r.to_state if isinstance(r, Transition) else type(r).__name__ for r in results] == [
        "awaiting_first_cin", "Refused", "Refused", "Refused", "awaiting_first_cin", "quality_check_due",
    ]  # fmt: skip
    assert "hold_review is not allowed when case SO-2 is registered" in str(results[1])
    assert "unknown case 'SO-9'" in str(results[2])
    assert "sw1 (social_worker) may not allocate_iro" in str(results[3])
    assert cli("show", "SO-1").json["state"] == "quality_check_due"
    history = cli("history", "SO-2").json
    assert [h["event"] for h in history] == ["register_so", "allocate_iro"]  # the refusals left nothing
    assert book.replay_matches("SO-1") and book.replay_matches("SO-2")


def test_apply_registers_cases_and_refuses_a_duplicate_reference(cli: Cli, book: Casebook, db_url: str) -> None:
    from machines.supervision_order import SORegistration

    _register(cli, "SO-1")
    reg = SORegistration("SO-2", "C-2", date(2026, 1, 15), notified_on=date(2026, 1, 16), social_worker="sw1")
    dup = SORegistration("SO-1", "C-3", date(2026, 1, 15), notified_on=date(2026, 1, 16), social_worker="sw1")
    results = book.handle_all([
        Register(actor="sw1", registration=reg, on=date(2026, 1, 16)),
        Register(actor="sw1", registration=dup, on=date(2026, 1, 16)),
    ])  # fmt: skip
    assert not isinstance(results[0], Refused) and results[0].state == "registered"
    assert isinstance(results[1], Refused) and "already registered" in str(results[1])
    assert cli("show", "SO-2").json["deadlines"][0] == {"kind": "iro_allocation", "due_on": "2026-01-23",
                                                        "status": "open"}  # fmt: skip
    before = snapshot(db_url)
    refused = book.handle_all([Fire(ref="SO-2", event="discharge", actor="sw2", on=date(2026, 1, 20))])
    assert all(isinstance(r, Refused) for r in refused)
    assert snapshot(db_url) == before


def test_catch_up_lets_one_case_pass_its_due_deadlines(cli: Cli, book: Casebook) -> None:
    _register(cli, "SO-1")
    _register(cli, "SO-2")
    assert book.handle(CatchUp(ref="SO-1", as_of=date(2026, 1, 24))) == 1  # iro_allocation (due 23 Jan) missed
    assert book.handle(CatchUp(ref="SO-1", as_of=date(2026, 1, 24))) == 0  # idempotent
    assert cli("show", "SO-1").json["escalations"][0]["reason"] == "missed:iro_allocation"
    assert cli("show", "SO-2").json["escalations"] == []  # the other case untouched


def test_a_machine_reused_after_a_final_state_still_decides() -> None:
    """Machines are built once per thread; one that reached a final state is started again (not rebuilt: that costs
    thirty transitions), not left terminated."""
    machine_cls = PROCEDURES[CaseKind.SUPERVISION_ORDER].machine
    machine, model = _MACHINES.get(machine_cls, SOState.stepping_down)
    machine.send("order_expiry")
    assert model.state is SOState.expired and machine.is_terminated
    again, model = _MACHINES.get(machine_cls, SOState.registered)
    assert again is machine and not again.is_terminated  # the same machine, running again
    assert _MACHINES.get(machine_cls, SOState.registered)[0] is again
    from statemachine.exceptions import TransitionNotAllowed

    with pytest.raises(TransitionNotAllowed):
        again.send("hold_review", case=None, fields={}, on=None, people=None, actor=None)
    again.send("order_expiry")
    assert model.state is SOState.expired


def test_simulate_lives_a_caseload_and_its_logs_replay(cli: Cli) -> None:
    ran = cli("simulate", "--cases", "40", "--years", "1", "--seed", "3", "--no-progress", "--replay-sample", "60")
    assert ran.rc == 0, ran.err
    stats = ran.json
    assert stats["cases_generated"] == 40 and stats["cases_opened"] >= 40
    assert stats["days"] == 366
    assert stats["replay_check"]["ok"] and stats["replay_check"]["sampled"] == stats["cases_opened"]
    assert stats["events_logged"] > 200
    kinds = stats["final_states"]
    assert set(kinds) == {"so", "cp-iso"}
    deadlines = stats["deadlines"]
    assert deadlines["iro_allocation"].get("met", 0) > 0 and sum(deadlines["inform_cpc"].values()) > 0
    assert any("missed" in counts for counts in deadlines.values())  # some people are late
    assert any(reason.startswith("missed:") for reason in stats["escalations"])


def test_simulate_is_reproducible_and_refuses_a_database_with_cases(cli: Cli) -> None:
    from cli.simulate import simulate
    from machines.policy import DEFAULT_POLICY
    from storage.migrate import upgrade

    runs = []
    for _ in range(2):
        engine = make_engine("sqlite://")
        upgrade(engine)
        stats = simulate(engine, DEFAULT_POLICY, cases=12, years=0.4, seed=5, replay_sample=5).as_dict()
        engine.dispose()
        stats.pop("wall_seconds")
        runs.append(stats)
    assert runs[0] == runs[1]
    first = cli("simulate", "--cases", "15", "--years", "0.5", "--seed", "9", "--no-progress")
    assert first.rc == 0, first.err
    again = cli("simulate", "--cases", "15", "--years", "0.5", "--seed", "9", "--no-progress")
    assert again.rc == 2 and "empty database" in again.json["error"]
    bad = cli("simulate", "--cases", "0", "--no-progress")
    assert bad.rc == 2 and "--cases must be at least 1" in bad.json["error"]
