"""Personal data off the command line (``--from -``) and off the disk's open shelves (var/ is 0600/0700).

Real ``orderwatch`` processes: what another local user sees is the process table and the files' modes.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cli

BIN = Path(sys.executable).parent / "orderwatch"
CHILD = "CHILD-7a3f19"  # what must never appear in the process table
TODAY = "2026-11-20"


@pytest.fixture(autouse=True)
def _pinned_today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERWATCH_TODAY", TODAY)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERWATCH_")}
    return {**env, "ORDERWATCH_TODAY": TODAY, **extra}


def _run(*args: str, stdin: str | None = None, cwd: Path | None = None, env: dict[str, str] | None = None) -> Any:
    return subprocess.run([str(BIN), *args], input=stdin, capture_output=True, text=True, cwd=cwd,
                          env=env or _env(), timeout=120, check=False)  # fmt: skip


def test_registration_from_stdin_keeps_the_child_off_the_process_table(cli: Cli, db_url: str) -> None:
    argv = [str(BIN), "so", "register", "--from", "-", "--db", db_url, "--json"]
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env())  # fmt: skip
    try:
        time.sleep(0.5)  # it is running (waiting for its input, or on its way there)
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().decode()
        table = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
        assert "register" in cmdline and CHILD not in cmdline
        assert CHILD not in table and "2012-03-04" not in table
        given = {"case": "SO-71", "child": CHILD, "dob": "2012-03-04", "order-date": "2026-11-02", "actor": "sw1",
                 "social_worker": "sw1"}  # fmt: skip
        out, err = proc.communicate(json.dumps(given), timeout=120)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, err
    assert json.loads(out)["case"] == "SO-71"
    assert cli("show", "SO-71", "--actor", "hos1").json["case"] == "SO-71"
    export = cli("history", "SO-71", "--actor", "hos1").json
    assert export[0]["payload"]["child_id"] == CHILD and export[0]["payload"]["dob"] == "2012-03-04"


def test_fire_takes_free_text_from_a_file(cli: Cli, db_url: str, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setenv("ORDERWATCH_TODAY", "2026-12-31")
    assert cli("so", "register", "--case", "SO-72", "--child", "C-72", "--order-date", "2026-11-02",
               "--notified-on", "2026-11-03", "--actor", "sw1", "--social-worker", "sw1").rc == 0  # fmt: skip
    assert cli("fire", "SO-72", "allocate_iro", "--actor", "su1", "--on", "2026-11-04", "--set", "iro=iro1").rc == 0
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({"note": "met the family\nat home"}))
    fired = cli("fire", "SO-72", "record_first_cin_meeting", "--actor", "sw1", "--on", "2026-11-10",
                "--from", str(answers))  # fmt: skip
    assert fired.rc == 0, fired.err
    last = cli("history", "SO-72", "--actor", "hos1").json[-1]
    assert last["event"] == "record_first_cin_meeting" and last["payload"]["note"] == "met the family\nat home"


@pytest.mark.parametrize(
    ("args", "stdin", "needle"),
    [
        (("so", "register", "--from", "-", "--child", "C-1"), '{"child": "C-2"}', "--child given both"),
        (("so", "register", "--from", "-"), '{"case": "SO-1", "kid": "C-2"}', "unknown key 'kid'"),
        (("so", "register", "--from", "-"), '{"case": "SO-1", "child": "SECRET-9"', "not valid JSON"),
        (("so", "register", "--from", "-"), '["SECRET-9"]', "one object"),
        (("so", "register", "--from", "-"), '{"case": "SO-1", "child": "C-1"}',
         "the following arguments are required: --order-date, --actor"),
        (("so", "register", "--from", "-"), '{"case": "SO-1", "child": "C-1", "order_date": "2026-13-01", "actor":'
         ' "sw1"}', "order_date"),
        (("fire", "SO-1", "hold_review", "--actor", "iro1", "--set", "outcome=extend", "--from", "-"),
         '{"outcome": "step_down"}', "'outcome' given both"),
        (("so", "register", "--from", "/nonexistent/x.json"), "", "cannot read"),
    ],
)  # fmt: skip
def test_from_refusals_are_one_line_and_never_echo_the_input(db_url: str, args: tuple[str, ...], stdin: str,
                                                             needle: str) -> None:  # fmt: skip
    ran = _run(*args, "--db", db_url, stdin=stdin)
    assert ran.returncode == 2, ran.stderr
    assert needle in ran.stderr and "SECRET" not in ran.stderr + ran.stdout
    assert len(ran.stderr.strip().splitlines()) == 1


def test_var_files_and_folders_are_the_owners_only(tmp_path: Path) -> None:
    """A new var/ (the default database's folder), its SQLite file and journal, and the fault log: 0700 and 0600,
    whatever the caller's umask; a database file made 0644 before this rule is made 0600 on next use."""
    os.umask(0o022)  # what a login shell usually has
    env = _env(ORDERWATCH_LOG_DIR=str(tmp_path / "var" / "log"))
    ran = _run("people", "add", "sw1", "--role", "social_worker", cwd=tmp_path, env=env)
    assert ran.returncode == 0, ran.stderr
    var = tmp_path / "var"
    assert stat.S_IMODE(var.stat().st_mode) == 0o700
    for path in var.glob("orderwatch.db*"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    # a fault is logged (an unreachable database), the log's folder and file private
    bad = _run("people", "list", "--db", "postgresql://nobody@127.0.0.1:1/none", cwd=tmp_path, env=env)
    assert bad.returncode == 1
    logs = list((var / "log").rglob("*"))
    assert logs and all(stat.S_IMODE(p.stat().st_mode) in (0o600, 0o700) for p in logs)
    # a backup (default place: var/backups/), and its folder
    env_var = {**env, "ORDERWATCH_VAR": str(var)}
    taken = _run("backup", "--json", cwd=tmp_path, env=env_var)
    assert taken.returncode == 0, taken.stderr
    path = Path(json.loads(taken.stdout)["backup"])
    assert path.parent == var / "backups" and path.name.startswith("orderwatch-") and path.suffix == ".db"
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700 and stat.S_IMODE(path.stat().st_mode) == 0o600
    restored = _run("restore", str(path), "--db", f"sqlite:///{var / 'restored.db'}", cwd=tmp_path, env=env_var)
    assert restored.returncode == 0, restored.stderr
    assert stat.S_IMODE((var / "restored.db").stat().st_mode) == 0o600
    assert _run("restore", str(path), cwd=tmp_path, env=env_var).returncode == 2  # not over a database in use
    # an old, open database file is closed up
    db = var / "orderwatch.db"
    db.chmod(0o644)
    assert _run("people", "list", cwd=tmp_path, env=env).returncode == 0
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
