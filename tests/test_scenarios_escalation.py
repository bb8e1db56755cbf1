"""PROCEDURES §4, the escalation machine, through the CLI: each transition, its deadlines to the day, the automatic
escalation of a missed one, and the CP disagreement path.

The escalation most tests use: SO-1's IRO not allocated by Fri 2026-01-23, so the sweep for Sat 01-24 raises ESC-1
to the Safeguarding Unit manager (sum1; PROCEDURES §2 rev.: never back to the unit that missed it) on 01-24. Acknowledge within 2 WD: Mon 26, Tue 27 -> 2026-01-27; resolve within 10 WD:
26-30 (5), 02-02..06 (10) -> 2026-02-06.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Cli
from tests.test_refusals import CP, SO, build_cp, build_so, fire
from tests.test_scenarios_so import escalations, ok

TODAY = "2027-12-31"
ESC = "ESC-1"


@pytest.fixture(autouse=True)
def _pinned_today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERWATCH_TODAY", TODAY)


def raise_missed_iro_allocation(cli: Cli) -> None:
    build_so("registered")(cli)
    ok(cli, "sweep", "--as-of", "2026-01-24")


def esc(cli: Cli, esc_id: str = ESC) -> dict[str, Any]:
    found = [e for e in escalations(cli) if e["id"] == esc_id]
    assert len(found) == 1
    return found[0]


def esc_deadlines(cli: Cli, ref: str = SO, esc_id: str = ESC) -> dict[str, tuple[str, str]]:
    """The escalation's own deadlines: kind -> (due_on, status), the latest of each kind."""
    out: dict[str, tuple[str, str]] = {}
    for d in ok(cli, "show", ref)["deadlines"]:
        if d.get("escalation") == esc_id:
            out[d["kind"]] = (d["due_on"], d["status"])
    return out


def test_raised_with_its_acknowledge_and_resolve_deadlines(cli: Cli) -> None:
    raise_missed_iro_allocation(cli)
    e = esc(cli)
    assert (e["state"], e["raised_to"], e["reason"], e["level"], e["raised_on"]) == (
        "raised", "safeguarding_unit_manager", "missed:iro_allocation", 1, "2026-01-24")  # fmt: skip
    assert esc_deadlines(cli) == {"escalation_acknowledgement": ("2026-01-27", "open"),
                                  "escalation_resolution": ("2026-02-06", "open")}  # fmt: skip


def test_acknowledged_by_the_role_it_is_raised_to_then_resolved_with_a_note(cli: Cli) -> None:
    raise_missed_iro_allocation(cli)
    refused = cli("fire", ESC, "acknowledge", "--actor", "sw1", "--on", "2026-01-26")
    assert refused.rc == 2 and "safeguarding_unit_manager" in refused.err  # not raised to the social worker
    refused = cli("fire", ESC, "acknowledge", "--actor", "su1", "--on", "2026-01-26")
    assert refused.rc == 2 and "safeguarding_unit_manager" in refused.err  # nor back to the unit that missed it
    ok(cli, "fire", ESC, "acknowledge", "--actor", "sum1", "--on", "2026-01-27")  # on the due day: met
    assert esc(cli)["state"] == "acknowledged"
    assert esc_deadlines(cli)["escalation_acknowledgement"] == ("2026-01-27", "met")
    refused = cli("fire", ESC, "resolve", "--actor", "sum1", "--on", "2026-02-02")
    assert refused.rc == 2 and "note" in refused.err  # a resolution note is required
    ok(cli, "fire", ESC, "resolve", "--actor", "sum1", "--on", "2026-02-06", "--set", "note=IRO named")
    assert esc(cli)["state"] == "resolved"
    assert esc_deadlines(cli)["escalation_resolution"] == ("2026-02-06", "met")
    assert ESC not in {e["id"] for e in ok(cli, "escalations", "--open")}


def test_a_raised_escalation_cannot_be_resolved_unacknowledged(cli: Cli) -> None:
    raise_missed_iro_allocation(cli)
    refused = cli("fire", ESC, "resolve", "--actor", "sum1", "--on", "2026-01-26", "--set", "note=done")
    assert refused.rc == 2 and "raised" in refused.err


@pytest.mark.parametrize("acknowledged_first", [False, True])
def test_escalated_one_level_up_then_resolved(cli: Cli, acknowledged_first: bool) -> None:
    # a failed quality check is raised to the team manager; one level up is the head of service
    build_so("quality_escalated")(cli)
    (raised,) = [e for e in escalations(cli) if e["reason"] == "quality_check_failed"]
    assert raised["raised_to"] == "team_manager"
    esc_id = raised["id"]
    if acknowledged_first:
        ok(cli, "fire", esc_id, "acknowledge", "--actor", "tm1", "--on", "2026-02-11")
    ok(cli, "fire", esc_id, "escalate", "--actor", "tm1", "--on", "2026-02-12", "--set", "note=needs HoS")
    e = esc(cli, esc_id)
    assert (e["state"], e["raised_to"], e["level"]) == ("escalated", "head_of_service", 2)
    # at the new level it is resolved (the escalated state is not acknowledged again): resolve within 10 WD of
    # Thu 02-12 -> 13 (1), 16-20 (6), 23-26 (10) = Thu 02-26; the acknowledgement deadline is closed
    deadlines = esc_deadlines(cli, SO, esc_id)
    assert deadlines["escalation_resolution"] == ("2026-02-26", "open")
    assert deadlines["escalation_acknowledgement"][1] == ("met" if acknowledged_first else "cancelled")
    refused = cli("fire", esc_id, "escalate", "--actor", "hos1", "--on", "2026-02-13")
    assert refused.rc == 2  # escalated once: it is resolved from here
    ok(cli, "fire", esc_id, "resolve", "--actor", "hos1", "--on", "2026-02-13", "--set", "note=actions agreed")
    assert esc(cli, esc_id)["state"] == "resolved"


def test_a_missed_acknowledgement_escalates_a_level_automatically(cli: Cli) -> None:
    raise_missed_iro_allocation(cli)
    ok(cli, "sweep", "--as-of", "2026-01-27")  # due that day: still open
    assert esc(cli)["state"] == "raised"
    ok(cli, "sweep", "--as-of", "2026-01-28")
    e = esc(cli)
    assert (e["state"], e["raised_to"], e["level"]) == ("escalated", "head_of_service", 2)
    assert esc_deadlines(cli)["escalation_acknowledgement"] == ("2026-01-27", "missed")
    history = [h for h in ok(cli, "history", SO) if h.get("escalation") == ESC or h["event"] == "escalate"]
    assert any(h["event"] == "escalate" and h["actor"] == "system" for h in history)


def test_a_missed_resolution_escalates_a_level_automatically(cli: Cli) -> None:
    raise_missed_iro_allocation(cli)
    ok(cli, "fire", ESC, "acknowledge", "--actor", "sum1", "--on", "2026-01-26")
    ok(cli, "sweep", "--as-of", "2026-02-06")
    assert esc(cli)["state"] == "acknowledged"
    ok(cli, "sweep", "--as-of", "2026-02-07")
    e = esc(cli)
    assert (e["state"], e["raised_to"], e["level"]) == ("escalated", "head_of_service", 2)


def test_the_cp_disagreement_path_team_managers_first_then_challenge_and_resolution(cli: Cli) -> None:
    build_cp("concurrent")(cli)
    ok(cli, *fire(CP, "raise_disagreement", "sw1", "2026-06-06", "note=the plan should remain"))
    (raised,) = [e for e in escalations(cli) if e["reason"] == "disagreement"]
    esc_id = raised["id"]
    # raised by the social-work side: to the CPC Team Manager, for the Team Manager <-> CPC TM discussion
    assert raised["raised_to"] == "cpc_team_manager"
    ok(cli, "fire", esc_id, "acknowledge", "--actor", "cpctm1", "--on", "2026-06-08")
    # no agreement between the two team managers: either may take it to the challenge and resolution process
    ok(cli, "fire", esc_id, "escalate", "--actor", "tm1", "--on", "2026-06-10", "--set", "note=no agreement")
    e = esc(cli, esc_id)
    assert (e["state"], e["raised_to"], e["level"]) == ("escalated", "head_of_service", 2)
    ok(cli, "fire", esc_id, "resolve", "--actor", "hos1", "--on", "2026-06-12", "--set", "note=plan remains")
    assert esc(cli, esc_id)["state"] == "resolved"
    assert ok(cli, "show", CP)["state"] == "concurrent"  # the case never moved
