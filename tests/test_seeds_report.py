"""Issue 12, items 11, 14 and 15 in the daily caseload report (the Prefect ``caseload-report`` flow, run for real):
the days since the Children's Guardian was last contacted, and the cases flagged — references and numbers only."""

from __future__ import annotations

from datetime import date

import pytest

from flows.report import caseload_report
from tests.conftest import Cli
from tests.test_refusals import CP, ISSUED, build_cp, cp_register, fire
from tests.test_scenarios_so import ok


@pytest.fixture(autouse=True)
def _pinned_today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERWATCH_TODAY", "2029-12-31")


def test_the_caseload_report_shows_guardian_contact_and_flags(flow_db: str, cli: Cli) -> None:
    build_cp("iso_granted")(cli)  # CP-1: ISO Mon 2026-06-01
    ok(cli, *fire(CP, "inform_cpc", "sw1", "2026-06-02", ISSUED))
    ok(cli, *fire(CP, "hold_three_way_discussion", "cpc1", "2026-06-05", "decision=concurrent", "case_note=CN-1",
                  "participants=sw1"))  # fmt: skip  # without the team manager: flagged
    ok(cli, *fire(CP, "record_guardian_contact", "cpc1", "2026-06-10"))
    ok(cli, *fire(CP, "hold_cp_review", "cpc1", "2026-06-20", "outcome=continue_plan", "next_review=2026-11-20"))
    ok(cli, *cp_register("CP-2"))  # no contact yet: counted from its ISO, Mon 06-01
    report = caseload_report(as_of=date(2026, 7, 1))
    # CP-1: Wed 06-10 to Wed 07-01, 21 days; CP-2: Mon 06-01 to Wed 07-01, 30 days
    assert report["guardian_contact_days"] == {"CP-1": 21, "CP-2": 30}
    assert report["days since the Children's Guardian was contacted (longest)"] == "CP-2 30 (none yet), CP-1 21"
    assert report["flagged_cases"] == {"concurrency decision not confirmed as minuted": ["CP-1"],
                                       "not a 3-way discussion": ["CP-1"]}  # fmt: skip
