"""The requirements trace holds: every quote is in its seed paragraph, every rule, spec and test it names exists, every
requirement names a test or says why not; and the README shows its counts."""

from __future__ import annotations

import dataclasses
from collections import Counter

from cli.readme import README, trace_block
from cli.trace import counts_block, load, problems, resolves


def test_the_trace_holds() -> None:
    reqs = load()
    assert problems(reqs) == []
    assert Counter(r.id[0] for r in reqs) == {"W": 78, "B": 28}


def test_the_readme_shows_the_traces_counts() -> None:
    assert trace_block(README.read_text(encoding="utf-8")) == counts_block(load()), "run `python -m cli.readme`"


def test_the_checker_finds_what_is_wrong() -> None:
    """Not vacuous: a misquote, a rule or a test that does not exist, a missing test or reason are all caught."""
    first = load()[2]  # W-0.03, implemented
    broken = [
        dataclasses.replace(first, quote="a review during month 10 of the Order"),
        dataclasses.replace(first, id="X-1", implements=("supervision_order:deadline:month10_review",)),
        dataclasses.replace(first, id="X-2", tests=("tests/test_seeds_review.py::test_that_does_not_exist",)),
        dataclasses.replace(first, id="X-3", tests=()),
        dataclasses.replace(first, id="X-4", status="not-implemented", reason=""),
    ]
    found = problems(broken)
    assert any("W-0.03: the quote is not in" in p for p in found)
    assert "X-1: no such rule or spec 'supervision_order:deadline:month10_review'" in found
    assert any(p.startswith("X-2: no such test") for p in found)
    assert "X-3: names no test" in found and "X-4: not-implemented without a reason" in found


def test_every_kind_of_reference_resolves_against_the_declarations() -> None:
    for ref in ("supervision_order:event:issue_minutes.meeting_on", "cp_iso:deadline:guardian_invitation",
                "cp_iso:validator:single_assessment_done", "supervision_order:guard:concludes",
                "supervision_order:state:escalated_to_hos", "cp_iso:registration", "escalation:ladder:team_manager",
                "role:safeguarding_unit_manager", "policy:review_agenda", "calendar:order_review_shape",
                "cli:notifications", "readme:D8", "py:storage.outbox:write"):  # fmt: skip
        assert resolves(ref), ref
    for ref in ("supervision_order:event:issue_minutes.colour", "cp_iso:deadline:month9_review", "role:wizard",
                "policy:nothing_wd", "cli:teleport", "readme:D99", "py:storage.outbox:nothing", "mystery:thing"):  # fmt: skip
        assert not resolves(ref), ref
