"""Input hygiene, the same on SQLite and PostgreSQL: what the database could not take as it is (or would take on one
backend and not the other) is refused before it — exit 2, one line, nothing changed — and echoed values are cut
and escaped. A reader that stops reading (``| head``) gets no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cli.main import main
from storage.casebook import Casebook
from storage.commands import AddPerson
from tests.conftest import Cli, snapshot

SO = ("so", "register", "--case", "SO-1", "--child", "C-1", "--order-date", "2026-01-15", "--notified-on",
      "2026-01-16", "--actor", "sw1")  # fmt: skip
NAME_RULE = "must be 1 to 64 printable characters, without spaces, control, bidi or zero-width characters"


@pytest.fixture(autouse=True)
def _today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERWATCH_TODAY", "2026-11-20")


def _so(**changes: str) -> tuple[str, ...]:
    argv = list(SO)
    for flag, value in changes.items():
        argv[argv.index("--" + flag.replace("_", "-")) + 1] = value
    return tuple(argv)


def _fire(ref: str = "SO-1", event: str = "allocate_iro", *sets: str, actor: str = "su1") -> tuple[str, ...]:
    return ("fire", ref, event, "--actor", actor, "--on", "2026-01-20", "--set", *(sets or ("iro=iro1",)))


CASES = [
    # the list
    (("worklist", "--as-of", "9999-12-31"), "'9999-12-31' is outside the years 1900-2100"),
    (("worklist", "--within", "1000000000000"), "--within must be 0 to 3660 days"),
    (("show", "SO-\udcff"), "case reference 'SO-\\udcff' " + NAME_RULE),
    (("simulate", "--cases", "1", "--replay-sample", "-1"), "--replay-sample must be 0 to 10,000,000 cases"),
    # dates: YYYY-MM-DD of 1900-2100 only
    (("worklist", "--as-of", "2026-W47-4"), "'2026-W47-4' is not a real date (YYYY-MM-DD)"),
    (_so(order_date="20260115"), "'20260115' is not a real date"),
    (_so(order_date="1899-12-31"), "'1899-12-31' is outside the years 1900-2100"),
    (_so(order_date="２０２６-01-15"), "is not a real date"),
    (_fire("SO-1", "schedule_review", "review_on=2026-W40-1", actor="iro1"), "is not a real date"),
    # references, user names and child identifiers
    (_fire("SO-1\u202e"), "case reference 'SO-1\\u202e' " + NAME_RULE),
    (_fire("SO\u200b1"), "case reference 'SO\\u200b1' " + NAME_RULE),
    (_fire("SO-\x1b[31m1"), "case reference 'SO-\\x1b[31m1' " + NAME_RULE),
    (_so(case="S" * 65), NAME_RULE),
    (_so(actor="sw\x001"), "user name 'sw\\x001' " + NAME_RULE),
    (("people", "add", "x" * 65, "--role", "social_worker"), NAME_RULE),
    (("people", "add", "new\u2066user", "--role", "social_worker"), "user name 'new\\u2066user' " + NAME_RULE),
    (_so(child="C" * 65), "the child identifier must be 1 to 64 printable characters"),
    (_so(child="C-\x00-1"), "the child identifier must be 1 to 64 printable characters"),
    # free text
    (_fire("SO-1", "discharge", "note=a\x00b", actor="legal1"), "fields note must be text of at most 10000 characters"),
    (_fire("SO-1", "discharge", "note=" + "n" * 10_001, actor="legal1"), "must be text of at most 10000 characters"),
    (_fire("SO-1", "discharge", "note=\u202egnp.exe", actor="legal1"), "without NUL, control or bidi-control"),
    # numbers the database cannot hold
    (("sweep", "--as-of", "2026-02-02", "--batch-size", "1000000000000"), "--batch-size must be 1 to 10000"),
    (("fire", "ESC-99999999999", "acknowledge", "--actor", "su1"), "malformed escalation id 'ESC-99999999999'"),
]  # fmt: skip


def test_refused_before_the_database_exit_2_nothing_changed(cli: Cli, db_url: str) -> None:
    assert cli(*SO).rc == 0
    before = snapshot(db_url)
    for argv, needle in CASES:
        ran = cli(*argv)
        assert ran.rc == 2, (argv, ran)
        assert needle in ran.json["error"], (argv, ran.json["error"])
        assert ran.err.count("\n") == 1 and all(c.isprintable() for c in ran.err.rstrip("\n")), (argv, ran.err)
    assert snapshot(db_url) == before


def test_personal_data_is_never_echoed_in_a_refusal(cli: Cli) -> None:
    child = "CHILD-" + "9" * 70
    ran = cli(*_so(child=child))
    assert ran.rc == 2 and "CHILD" not in ran.out + ran.err
    note = cli(*SO)
    assert note.rc == 0
    ran = cli(*_fire("SO-1", "discharge", "note=private\x00detail", actor="legal1"))
    assert ran.rc == 2 and "private" not in ran.out + ran.err


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("notaurl", "--db must be a database URL"),
        ("mysql://user:secret@host/db", "--db: 'mysql' databases are not supported"),
        ("http://example.com/", "--db: 'http' databases are not supported"),
        ("postgresql+psycopg2://user:secret@host/db", "--db: use the standard drivers"),
    ],
)
def test_a_database_url_other_than_sqlite_or_postgresql_is_refused(
    url: str, needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["people", "list", "--db", url, "--json"]) == 2
    out, err = capsys.readouterr()
    assert needle in err and "secret" not in out + err


def test_a_binary_policy_file_is_refused(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    binary = tmp_path / "policy.toml"
    binary.write_bytes(bytes(range(256)))
    monkeypatch.setenv("ORDERWATCH_POLICY", str(binary))
    ran = cli("people", "list")
    assert ran.rc == 2 and "is not UTF-8 text" in ran.json["error"]
    binary.write_bytes(b"iro_allocation_wd = 3\x00\n")
    assert "NUL bytes" in cli("people", "list").json["error"]
    monkeypatch.setenv("ORDERWATCH_POLICY", str(tmp_path))
    assert cli("people", "list").rc == 2


def test_a_bad_pinned_today_is_refused(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERWATCH_TODAY", "2026-W47-4")
    ran = cli("worklist")
    assert ran.rc == 2 and ran.json["error"] == "ORDERWATCH_TODAY: '2026-W47-4' is not a real date (YYYY-MM-DD)"


def test_echoed_values_are_cut_and_escaped(cli: Cli) -> None:
    assert cli(*SO).rc == 0
    event = "\u202e" + "x" * 500 + "\n\x1b[2J"
    ran = cli("fire", "SO-1", event, "--actor", "su1")
    assert ran.rc == 2
    message = ran.json["error"]
    assert message.startswith("event '\\u202exxx") and "..." in message and len(message) < 250
    assert all(c.isprintable() for c in ran.err.rstrip("\n")) and ran.err.count("\n") == 1
    choice = cli("fire", "SO-1", "allocate_iro", "--actor", "su1", "--set", "iro=iro1", "--set", "y" * 300 + "=1")
    assert choice.rc == 2 and len(choice.json["error"]) < 300


def test_no_broken_pipe_traceback_when_the_reader_stops(engine: object, db_url: str) -> None:
    from tests.conftest import FIXED_NOW

    book = Casebook(engine, clock=lambda: FIXED_NOW)  # type: ignore[arg-type]
    book.handle_all([AddPerson(actor="setup", user=f"user{n:05}", role="social_worker") for n in range(3000)])
    orderwatch = Path(sys.executable).parent / "orderwatch"
    for command in ("people list", "people list --json"):
        ran = subprocess.run(
            [
                "bash",
                "-c",
                f'"{orderwatch}" {command} --db "{db_url}" | head -c 10; echo; echo "rc=${{PIPESTATUS[0]}}"',
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert ran.stdout.rstrip().endswith("rc=0"), ran
        assert "Traceback" not in ran.stderr and "BrokenPipe" not in ran.stderr, ran.stderr


def test_no_name_holds_any_whitespace_character_of_unicode() -> None:
    """``is_name`` tests for the plain space only: every other whitespace character is also not printable."""
    from machines.names import is_name

    spaces = [chr(i) for i in range(sys.maxunicode + 1) if chr(i).isspace()]
    assert len(spaces) > 20  # tab, newline, no-break space, the em space, the ideographic space, …
    assert not [s for s in spaces if is_name(f"a{s}b")]
    assert is_name("a-b.c_d@e")
