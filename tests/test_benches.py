"""Every benchmark still runs, at a size that takes seconds: a harness that rots (a refusal it did not expect, a
schema it no longer matches) is found by ``make test``, not on the day its figures are wanted. The figures at these
sizes mean nothing; ``make bench`` measures. (``bench.prefect_ratio`` starts a Prefect server of its own and is left
to ``make bench-prefect``; ``tests/test_e2e*.py`` exercise the same flow.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PG = "postgresql://postgres@127.0.0.1:5432/test"

BENCHES = {
    "cli": ["--runs", "2"],
    "transitions": ["--cases", "400", "--due", "200", "--repeat", "1", "--pg", PG],
    "sweep_scale": ["--sizes", "300,600", "--due", "100", "--repeat", "1"],
    "floor": ["--cases", "400", "--due", "200", "--repeat", "1"],
    "delivery": ["--notices", "40", "--pg", PG],
    "desk": ["--cases", "300", "--rounds", "1", "--pg", PG],
}


@pytest.mark.parametrize("name", sorted(BENCHES))
def test_the_benchmark_runs_and_prints_its_figures(name: str, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ORDERWATCH_BENCH_DIR": str(tmp_path / "bench")}
    ran = subprocess.run([sys.executable, "-m", f"bench.{name}", *BENCHES[name]], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert ran.returncode == 0, ran.stderr[-2000:]
    figures = json.loads(ran.stdout)
    assert figures["benchmark"] == name, figures
