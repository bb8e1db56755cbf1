"""Hypothesis fuzzing of the command line's arguments, on SQLite and PostgreSQL: whatever is typed, ``orderwatch``
exits 0 or 2 — never 1 — and a refusal (2) is one printable line that changes nothing.

Each example is a subcommand with its options filled from valid values and hostile ones (lone surrogates, NUL and
other control characters, bidi and zero-width characters, over-long text, dates in other ISO forms or out of range,
huge and negative numbers, flags in odd places), or a soup of such tokens. Run in-process for speed, against a
database holding a case of each kind and an escalation.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli.main import main
from storage.db import make_engine
from storage.models import cases, metadata
from tests.conftest import Cli

EXAMPLES = int(os.environ.get("ORDERWATCH_FUZZ_EXAMPLES", "400"))  # more, and random: ORDERWATCH_FUZZ_RANDOM=1
HOSTILE = [
    "", " ", "\x00", "\udcff", "SO-1\udc80", "SO-1\u202e", "\u200b", "SO\u200d1", "\x1b[2J", "\n", "a\tb", "x" * 65,
    "x" * 5000, "n" * 10_001, "2026-W47-4", "20260115", "9999-12-31", "0001-01-01", "1899-12-31", "2101-01-01",
    "2026-02-30", "２０２６-01-15", "-1", "0", "1000000000000", "99999999999999999999999", "1e999", "NaN", "ESC-1",
    "ESC-0", "ESC-99999999999", "ESC-²", "esc-1", "--json", "--db", "--help", "-", "=", "key=", "=value",
    "'; DROP TABLE cases; --", "%s", "{}", "null", "true", "SO-1", "CP-1", "sw1", "su1", "iro1", "tm1",
]  # fmt: skip
text = st.one_of(st.sampled_from(HOSTILE), st.text(st.characters(codec=None), max_size=30),
                 st.text(st.characters(categories=["Cc", "Cf", "Cs", "Co", "Zs", "Zl", "Mn"]), min_size=1, max_size=8))  # fmt: skip
number = st.one_of(st.integers(-(10**15), 10**15), st.sampled_from([0, 1, -1, 2**31, 2**63])).map(str)
date_ = st.one_of(st.sampled_from(["2026-01-20", "2026-02-02", "2026-06-10", "2026-11-20"]), text)
ref = st.one_of(st.sampled_from(["SO-1", "CP-1", "ESC-1", "SO-NEW", "CP-NEW"]), text)
user = st.one_of(st.sampled_from(["sw1", "su1", "iro1", "tm1", "legal1", "cpc1", "hos1"]), text)
event = st.one_of(st.sampled_from(["allocate_iro", "discharge", "raise_disagreement", "acknowledge", "resolve",
                                   "record_final_hearing", "hold_review", "order_expiry"]), text)  # fmt: skip
pair = st.one_of(st.sampled_from(["iro=iro1", "note=a note", "outcome=no_order", "outcome=maybe"]),
                 st.builds(lambda k, v: f"{k}={v}", st.sampled_from(["iro", "note", "outcome", "new_expiry"]), text),
                 text)  # fmt: skip


def _opt(flag: str, value: st.SearchStrategy[str]) -> st.SearchStrategy[list[str]]:
    return st.one_of(st.just([]), value.map(lambda v: [flag, v]))


def _cmd(*parts: st.SearchStrategy[list[str]] | list[str]) -> st.SearchStrategy[list[str]]:
    return st.tuples(*(p if isinstance(p, st.SearchStrategy) else st.just(p) for p in parts)).map(
        lambda chunks: [token for chunk in chunks for token in chunk]
    )


one = st.builds(lambda v: [v], text)
COMMANDS = st.one_of(
    _cmd(["show"], ref.map(lambda v: [v])),
    _cmd(["history"], ref.map(lambda v: [v]), _opt("--actor", user)),
    _cmd(["replay"], ref.map(lambda v: [v])),
    _cmd(["fire"], ref.map(lambda v: [v]), event.map(lambda v: [v]), _opt("--actor", user), _opt("--on", date_),
         st.lists(pair, max_size=3).map(lambda ps: ["--set", *ps] if ps else []), _opt("--request-id", text)),
    _cmd(["so", "register"], _opt("--case", ref), _opt("--child", text), _opt("--order-date", date_),
         _opt("--notified-on", date_), _opt("--dob", date_), _opt("--expiry", date_), _opt("--actor", user),
         _opt("--social-worker", user), _opt("--request-id", text)),
    _cmd(["cp-iso", "register"], _opt("--case", ref), _opt("--child", text), _opt("--iso-date", date_),
         _opt("--next-review", date_), _opt("--last-review", date_), _opt("--actor", user), _opt("--issued", date_)),
    _cmd(["sweep"], _opt("--as-of", date_), _opt("--batch-size", number), _opt("--request-id", text)),
    _cmd(["worklist"], _opt("--as-of", date_), _opt("--within", number), _opt("--role", text)),
    _cmd(["people", "add"], user.map(lambda v: [v]), _opt("--role", st.one_of(st.just("social_worker"), text)),
         _opt("--manager", user), _opt("--request-id", text)),
    _cmd(["escalations"], _opt("--open", st.just("")).map(lambda x: x[:1])),
    _cmd(["policy", "migrate"], st.one_of(st.just(["--dry-run"]), _opt("--plan", text))),
    _cmd(["simulate"], _opt("--cases", number), _opt("--years", number), _opt("--replay-sample", number)),
    _cmd(["diagram"], one, _opt("--format", text)),
    st.lists(text, max_size=6).filter(lambda argv: not argv or argv[0] != "up"),
)  # fmt: skip


def _fingerprint(engine: sa.Engine) -> tuple[Any, ...]:
    """Every table's row count, and every case's revision: a change anywhere shows (but the access log: a refused
    read is logged, by design — issue 13)."""
    with engine.connect() as c:
        counts = tuple(c.scalar(sa.select(sa.func.count()).select_from(t)) for t in metadata.sorted_tables
                       if t.name != "access_log")  # fmt: skip
        revisions = tuple(c.execute(sa.select(cases.c.ref, cases.c.revision).order_by(cases.c.ref)))
    return counts, revisions


def test_whatever_is_typed_the_command_line_exits_0_or_2_and_a_refusal_changes_nothing(
    cli: Cli, db_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORDERWATCH_TODAY", "2026-11-20")
    assert cli("so", "register", "--case", "SO-1", "--child", "C-1", "--order-date", "2026-01-15",
               "--notified-on", "2026-01-16", "--actor", "sw1").rc == 0  # fmt: skip
    assert cli("cp-iso", "register", "--case", "CP-1", "--child", "C-2", "--iso-date", "2026-06-01",
               "--next-review", "2026-08-20", "--last-review", "2026-05-20", "--actor", "sw1").rc == 0  # fmt: skip
    assert cli("sweep", "--as-of", "2026-01-26").rc == 0  # ESC-1
    engine = make_engine(db_url)
    tally = {0: 0, 2: 0}

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=not os.environ.get("ORDERWATCH_FUZZ_RANDOM"), database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(argv=COMMANDS, json_out=st.booleans())
    def run(argv: list[str], json_out: bool) -> None:
        before = _fingerprint(engine)
        capsys.readouterr()
        try:
            rc = main([*argv, "--db", db_url, *(["--json"] if json_out else [])])
        except SystemExit as exc:  # --help
            rc = exc.code if isinstance(exc.code, int) else 2
        out, err = capsys.readouterr()
        assert rc in (0, 2), (argv, err)
        assert "Traceback" not in out + err
        tally[rc] += 1
        if rc == 2:
            assert err.count("\n") == 1 and err.startswith("orderwatch: "), (argv, err)
            assert all(c.isprintable() for c in err.rstrip("\n")), (argv, err)
            assert _fingerprint(engine) == before, argv

    run()
    engine.dispose()
    assert tally[0] and tally[2]
    print(f"\nfuzz: {sum(tally.values())} command lines: {tally[0]} done, {tally[2]} refused, none exited 1")
