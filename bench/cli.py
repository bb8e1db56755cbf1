"""The command line's latency: ``orderwatch show`` and ``orderwatch fire`` as whole processes, wall time.

    .venv/bin/python -m bench.cli [--runs 15]

A small SQLite database under ``var/bench`` with one case per run; each command runs in a fresh process (what a
person at the terminal waits for: interpreter start, imports, the database, the answer). Prints JSON: min, median
and max seconds per command.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from bench._caseload import VAR, emit, log, median

ORDERWATCH = [sys.executable, "-m", "cli"]


def _run(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    ran = subprocess.run([*ORDERWATCH, *args], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if ran.returncode != 0:
        raise SystemExit(f"orderwatch {' '.join(args)} failed: {ran.stderr.strip()}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    path = VAR / "cli.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob("cli.db*"):
        stale.unlink()
    env = {**os.environ, "ORDERWATCH_DATABASE_URL": f"sqlite:///{Path(path).resolve()}",
           "ORDERWATCH_TODAY": "2026-11-20", "ORDERWATCH_ACTOR": "bench"}  # fmt: skip
    for user, role in (("sw1", "social_worker"), ("su1", "safeguarding_unit"), ("iro1", "iro")):
        _run(["people", "add", user, "--role", role], env)
    refs = [f"SO-{n}" for n in range(args.runs + 1)]
    for ref in refs:
        _run(["so", "register", "--case", ref, "--child", f"C-{ref}", "--order-date", "2026-01-15",
              "--notified-on", "2026-01-16", "--actor", "sw1"], env)  # fmt: skip
    log(f"{len(refs)} cases registered; timing {args.runs} runs of each command (one warm-up)")
    show = [_run(["show", ref, "--actor", "sw1"], env) for ref in refs][1:]  # the case's own social worker reads it
    fire = [_run(["fire", ref, "allocate_iro", "--actor", "su1", "--on", "2026-01-20", "--set", "iro=iro1"], env)
            for ref in refs][1:]  # fmt: skip
    emit({
        "benchmark": "cli",
        "runs": args.runs,
        "show_seconds": {"min": round(min(show), 3), "median": round(median(show), 3), "max": round(max(show), 3)},
        "fire_seconds": {"min": round(min(fire), 3), "median": round(median(fire), 3), "max": round(max(fire), 3)},
    })  # fmt: skip


if __name__ == "__main__":
    main()
