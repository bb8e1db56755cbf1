"""Sweep time against caseload: 10k, 100k and 1M active cases, the same 5,000 cases with work due that morning.

    .venv/bin/python -m bench.sweep_scale [--sizes 10000,100000,1000000] [--due 5000] [--repeat 5]

Each measured sweep runs in a fresh process (so its peak memory is its own), on SQLite under ``var/bench``;
the due cases are put back between runs. Prints JSON: per size the median, min and max seconds, deadlines passed,
and the peak resident memory of the sweeping process.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

from bench._caseload import SWEEP_DAY, VAR, build_caseload, clock, emit, log, median, reset_due


def sweep_once(url: str) -> dict[str, float | int]:
    """One sweep in this process (the child): time, deadlines passed, peak memory."""
    from storage.casebook import Casebook
    from storage.db import make_engine

    engine = make_engine(url)
    book = Casebook(engine, clock=clock)
    with engine.connect() as c:  # open the file and warm the page cache as a daily run would find it
        c.exec_driver_sql("SELECT count(*) FROM cases WHERE next_due_on IS NOT NULL").scalar()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    report = book.sweep(SWEEP_DAY)
    seconds = time.perf_counter() - started
    engine.dispose()
    return {
        "seconds": seconds,
        "passed": report.passed,
        "cases": report.cases,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_before_sweep_mb": rss_before / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--due", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(sweep_once(args.child)))
        return
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        url = f"sqlite:///{VAR / f'sweep-{size}.db'}"
        log(f"caseload of {size} cases ({args.due} due) at {url}")
        built = build_caseload(url, size - args.due, args.due)
        runs = []
        for i in range(args.repeat):
            if i or not built["built"]:
                reset_due(url, size - args.due, args.due)
            out = subprocess.run(
                [sys.executable, "-m", "bench.sweep_scale", "--child", url],
                check=True, capture_output=True, text=True, cwd=Path.cwd(),
            )  # fmt: skip
            runs.append(json.loads(out.stdout))
            log(f"  run {i + 1}: {runs[-1]['seconds']:.2f} s, {runs[-1]['passed']} deadlines passed")
        seconds = [r["seconds"] for r in runs]
        results.append({
            "active_cases": size,
            "cases_with_work_due": args.due,
            "deadlines_passed": runs[0]["passed"],
            "median_seconds": round(median(seconds), 3),
            "min_seconds": round(min(seconds), 3),
            "max_seconds": round(max(seconds), 3),
            "deadlines_per_second": round(runs[0]["passed"] / median(seconds)),
            "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs), 1),
            "rss_before_sweep_mb": round(min(r["rss_before_sweep_mb"] for r in runs), 1),
            **({"build_seconds": built["build_seconds"]} if built.get("build_seconds") else {}),
        })  # fmt: skip
    by_size = {r["active_cases"]: r["median_seconds"] for r in results}
    smallest, largest = min(by_size), max(by_size)
    emit({
        "benchmark": "sweep_scale",
        "database": "sqlite",
        "sweep_day": SWEEP_DAY.isoformat(),
        "repeat": args.repeat,
        "results": results,
        "largest_over_smallest": round(by_size[largest] / by_size[smallest], 2),
    })  # fmt: skip


if __name__ == "__main__":
    main()
