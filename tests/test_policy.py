"""The local policy: shipped defaults, validation at start-up, and its effect on due dates."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from machines.errors import Refused
from machines.policy import DEFAULT_POLICY, Policy
from storage.config import load_policy

ROOT = Path(__file__).resolve().parent.parent


def test_the_shipped_policy_file_is_the_defaults() -> None:
    assert Policy.from_toml((ROOT / "policy.toml").read_text()) == DEFAULT_POLICY


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("iro_alocation_wd = 3", "unknown setting 'iro_alocation_wd'"),
        ("iro_allocation_wd = -1", "iro_allocation_wd: Input should be greater than or equal to 0"),
        ("iro_allocation_wd = 'soon'", "iro_allocation_wd"),
        ("closure_days = ['2026-02-30']", "closure_days"),
        ("this is not toml", "not valid TOML"),
    ],
)
def test_a_bad_policy_is_refused_in_one_line(text: str, message: str) -> None:
    with pytest.raises(Refused, match=message) as caught:
        Policy.from_toml(text)
    assert "\n" not in str(caught.value)


def test_policy_file_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = tmp_path / "local.toml"
    file.write_text("iro_allocation_wd = 2\nclosure_days = [2026-01-19]\n")
    monkeypatch.setenv("ORDERWATCH_POLICY", str(file))
    policy = load_policy()
    assert policy.iro_allocation_wd == 2
    # Fri 2026-01-16 + 2 WD, Monday the 19th closed: Tue 20th, Wed 21st
    assert policy.calendar.add_working_days(date(2026, 1, 16), 2) == date(2026, 1, 21)
    monkeypatch.setenv("ORDERWATCH_POLICY", str(tmp_path / "missing.toml"))
    with pytest.raises(Refused, match="not found"):
        load_policy()


def test_local_policy_moves_the_due_dates() -> None:
    from machines.casework import Casework
    from machines.model import CaseKind, MappingDirectory, Person, Role
    from machines.procedures import RULES
    from machines.supervision_order import SORegistration

    people = MappingDirectory({"sw1": Person("sw1", Role.SOCIAL_WORKER)})
    fast = Casework(Policy(iro_allocation_wd=1), people)
    case = fast.open(SORegistration("SO-9", "C-9", date(2026, 1, 15), notified_on=date(2026, 1, 16)), "sw1",
                     date(2026, 1, 16)).case  # fmt: skip
    assert case.kind is CaseKind.SUPERVISION_ORDER and "iro_allocation" in RULES
    assert {d.kind: d.due_on for d in case.deadlines}["iro_allocation"] == date(2026, 1, 19)  # Fri + 1 WD = Mon
