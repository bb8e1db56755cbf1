"""The desk's response times at scale: My work, the case page, the dashboard and an action, over 100k cases.

    .venv/bin/python -m bench.desk [--cases 100000] [--pg postgresql://postgres@127.0.0.1:5432/test] [--sqlite-only]

The caseload is ``bench._caseload``'s templates (real cases made by the casebook) copied in bulk, each copy given its
own social worker and IRO: a social worker holds 20 cases, a team manager 10 social workers, an IRO 70 cases, an IRO
manager 14 IROs, one Head of Service over all. The desk runs in a process of its own (uvicorn, one worker), and
httpx signs people in and asks for pages over keep-alive connections, one request at a time; the time of each request
is measured at the client (so it includes HTTP on the loopback). "Today" is the templates' sweep day.

Prints one JSON document: for each backend, p50/p95/max in milliseconds per page, and the number of requests; and
the time to count the service-wide dashboard from scratch (a Head of Service's: served from a 5-minute cache, and
counted again in the background, so the page's times above are those of the kept figures).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from bench._caseload import (
    NOW,
    SWEEP_DAY,
    VAR,
    clock,
    copy_cases,
    emit,
    log,
    make_templates,
    read_templates,
)
from machines.policy import DEFAULT_POLICY
from storage.casebook import Casebook
from storage.db import make_engine
from storage.migrate import upgrade
from storage.models import metadata
from storage.policies import PolicyBook

PASSWORD = "bench-desk-password"
SW_CASES, TEAM, IRO_CASES, IRO_TEAM = 20, 10, 70, 14


def staff(cases: int) -> dict[str, list[tuple[str, str, str | None]]]:
    """The people for ``cases`` cases: (user, role, manager) by role."""
    sws = max(1, cases // SW_CASES)
    iros = max(1, cases // IRO_CASES)
    out: dict[str, list[tuple[str, str, str | None]]] = {
        "head_of_service": [("hos", "head_of_service", None)],
        # enough managers for every worker's team (rounded up: a small caseload still has whole teams)
        "team_manager": [(f"tm{i}", "team_manager", "hos") for i in range(-(-sws // TEAM))],
        "iro_manager": [(f"irom{i}", "iro_manager", "hos") for i in range(-(-iros // IRO_TEAM))],
        "safeguarding_unit": [(f"su{i}", "safeguarding_unit", None) for i in range(10)],
        "legal": [(f"legal{i}", "legal", None) for i in range(20)],
        "cpc_team_manager": [(f"cpctm{i}", "cpc_team_manager", "hos") for i in range(10)],
    }
    out["social_worker"] = [(f"sw{i}", "social_worker", f"tm{i // TEAM}") for i in range(sws)]
    out["iro"] = [(f"iro{i}", "iro", f"irom{i // IRO_TEAM}") for i in range(iros)]
    out["cpc"] = [(f"cpc{i}", "cpc", f"cpctm{i // 10}") for i in range(100)]
    return out


def build(url: str, cases: int) -> dict[str, Any]:
    """A fresh database of ``cases`` cases spread over the staff (the actions measured change it)."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        for stale in path.parent.glob(path.name + "*"):
            stale.unlink()
    engine = make_engine(url)
    upgrade(engine)
    started = time.perf_counter()
    scratch = make_engine("sqlite://")
    upgrade(scratch)
    refs = make_templates(Casebook(scratch, DEFAULT_POLICY, clock=clock))
    templates = read_templates(scratch, refs["active"] + refs["due"])
    scratch.dispose()
    people = [p for group in staff(cases).values() for p in group]
    depth = {"head_of_service": 0, "team_manager": 1, "iro_manager": 1, "cpc_team_manager": 1}
    managers_first = sorted(people, key=lambda p: depth.get(p[1], 2))  # each manager before their reports
    with engine.begin() as c:
        c.execute(sa.insert(metadata.tables["people"]),
                  [{"user": u, "role": r, "manager": m, "added_at": NOW} for u, r, m in managers_first])  # fmt: skip
        policy_id = PolicyBook(DEFAULT_POLICY).current_id(c, NOW)  # the policy the copied cases run under
    for template in templates:
        template.rows["cases"][0]["policy_id"] = policy_id
    copy_cases(engine, templates, cases, "C", 1, dress=_own_people)  # cases C0000001…
    with engine.begin() as c:  # the planner's statistics, as a deployment's maintenance would keep them
        # PostgreSQL: these tables only (a bare ANALYZE would take every schema of the shared test database)
        c.exec_driver_sql("ANALYZE" if engine.dialect.name == "sqlite" else f"ANALYZE {', '.join(metadata.tables)}")
    if engine.dialect.name == "sqlite":
        with engine.connect() as c:
            c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return {"built": True, "build_seconds": round(time.perf_counter() - started, 1)}


def _own_people(i: int, case: dict[str, Any]) -> None:
    """Copy ``i`` gets a social worker (and, where the template has one, an IRO) of its own share of the staff."""
    held = json.loads(case["people"]) if isinstance(case["people"], str) else case["people"]
    people = {"social_worker": f"sw{i // SW_CASES}"}
    if "iro" in held:
        people["iro"] = f"iro{i // IRO_CASES}"
    case.update(child_id=f"CHILD-{i + 1:07d}", people=json.dumps(people))


# -- the desk in its own process --------------------------------------------------------------------------------------


def serve(url: str, port: int, users: list[str]) -> None:
    """Run the desk over ``url`` with accounts for ``users`` (the bench's own process is the client)."""
    import logging

    import uvicorn
    from argon2 import PasswordHasher

    from desk.app import create_app
    from desk.auth.accounts import Person
    from desk.auth.directory import StoragePeople
    from desk.auth.local import InMemoryAccounts
    from desk.services import DeskServices
    from desk.settings import DeskSettings

    logging.getLogger("desk").setLevel(logging.WARNING)
    book = Casebook(make_engine(url), clock=clock)
    accounts = InMemoryAccounts(PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1))
    for user in users:
        accounts.add(Person(user, user, frozenset()), PASSWORD)
    services = DeskServices(people=StoragePeople(book), authenticator=accounts, casebook=book)
    app = create_app(DeskSettings(cookie_secure=False), services, clock=clock, today=lambda: SWEEP_DAY)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _client(base: str, user: str) -> httpx.Client:
    c = httpx.Client(base_url=base, timeout=60)
    token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/sign-in").text)
    assert token
    signed = c.post("/sign-in", data={"csrf_token": token.group(1), "user_name": user, "password": PASSWORD})
    assert signed.status_code == 303, signed.text[:300]
    return c


def _timed(c: httpx.Client, method: str, path: str, **kw: Any) -> tuple[float, httpx.Response]:
    started = time.perf_counter()
    response = c.request(method, path, **kw)
    return (time.perf_counter() - started) * 1000, response


def _stats(ms: list[float]) -> dict[str, Any]:
    ordered = sorted(ms)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

    return {"n": len(ordered), "p50_ms": pick(0.5), "p95_ms": pick(0.95), "max_ms": round(ordered[-1], 1)}


def measure(url: str, cases: int, rounds: int, seed: int = 1) -> dict[str, Any]:
    rng = random.Random(seed)
    people = staff(cases)
    sample = {role: [u for u, _, _ in rng.sample(group, min(len(group), 8))] for role, group in people.items()}
    users = sorted({u for group in sample.values() for u in group} | {"hos"})
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "bench.desk", "--serve", url, "--port", str(port),
                               "--users", ",".join(users)], env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        clients = {u: _client(base, u) for u in users}
        times: dict[str, list[float]] = {"my_work": [], "case_page": [], "dashboard": [], "action": []}
        by_role: dict[str, list[float]] = {}
        warm = clients["hos"]
        for path in ("/", "/dashboard", "/cases/C0000001"):
            warm.get(path)  # first requests compile templates and statements
        for _ in range(rounds):
            for role, group in sample.items():
                for u in group:
                    ms, r = _timed(clients[u], "GET", "/")
                    assert r.status_code == 200, (u, r.status_code)
                    times["my_work"].append(ms)
                    by_role.setdefault(role, []).append(ms)
            for _ in range(40):
                ref = f"C{rng.randrange(1, cases + 1):07d}"
                ms, r = _timed(warm, "GET", f"/cases/{ref}")
                assert r.status_code == 200
                times["case_page"].append(ms)
            for u in [*sample["team_manager"], *sample["iro_manager"], "hos"]:
                ms, r = _timed(clients[u], "GET", "/dashboard")
                assert r.status_code == 200
                times["dashboard"].append(ms)
                by_role.setdefault(
                    f"dashboard:{'head_of_service' if u == 'hos' else u.rstrip('0123456789')}", []
                ).append(ms)
        # actions: a month-9 review scheduled on a plan-in-progress case (template 0) by its IRO
        iros = [u for u in users if re.fullmatch(r"iro\d+", u)]
        done = 0
        for iro in iros:
            first = int(iro[3:]) * IRO_CASES
            c = clients[iro]
            for i in range(first, first + IRO_CASES):
                if i % 6 != 0 or done >= 60:
                    continue
                ref = f"C{i + 1:07d}"
                form = c.get(f"/cases/{ref}/actions/schedule_review")
                if form.status_code != 200:
                    continue
                token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
                assert token
                data = {"csrf_token": token.group(1), "request_id": uuid.uuid4().hex,
                        "field-review_on-day": "1", "field-review_on-month": "8", "field-review_on-year": "2027",
                        "field-happened-on-day": "1", "field-happened-on-month": "3", "field-happened-on-year": "2027"}  # fmt: skip
                ms, r = _timed(c, "POST", f"/cases/{ref}/actions/schedule_review", data=data)
                assert r.status_code == 303, (ref, r.status_code, r.text[-500:])
                times["action"].append(ms)
                done += 1
        return {"pages": {k: _stats(v) for k, v in times.items() if v},
                "by_role": {k: _stats(v) for k, v in by_role.items()},
                "every_case_dashboard_count_ms": _count_every_case(url)}  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=30)


def _count_every_case(url: str) -> dict[str, float]:
    """The Head of Service's dashboard counted from scratch (what its 5-minute cache saves each request): ms."""
    from storage.deskbook import DeskBook

    engine = make_engine(url)
    book = DeskBook(Casebook(engine, clock=clock))
    runs = []
    for _ in range(3):
        started = time.perf_counter()
        book._count("hos", SWEEP_DAY)
        runs.append((time.perf_counter() - started) * 1000)
    engine.dispose()
    return {"min": round(min(runs), 1), "max": round(max(runs), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--sqlite-only", action="store_true")
    parser.add_argument("--keep-pg", action="store_true", help="keep the PostgreSQL schema (its name is logged)")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--users", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.users.split(","))
        return
    result: dict[str, Any] = {"benchmark": "desk", "cases": args.cases, "today": SWEEP_DAY.isoformat()}
    sqlite_url = f"sqlite:///{VAR / f'desk-{args.cases}.db'}"
    VAR.mkdir(parents=True, exist_ok=True)
    log(f"building {args.cases} cases on SQLite")
    result["sqlite"] = {"build": build(sqlite_url, args.cases)}
    result["sqlite"] |= measure(sqlite_url, args.cases, args.rounds)
    if not args.sqlite_only:
        schema = f"ow_bench_desk_{uuid.uuid4().hex[:8]}"
        admin = make_engine(args.pg)
        with admin.begin() as c:
            c.exec_driver_sql(f"CREATE SCHEMA {schema}")
        pg_url = f"{args.pg}?options=-csearch_path%3D{schema}"
        try:
            log(f"building {args.cases} cases on PostgreSQL")
            result["postgresql"] = {"build": build(pg_url, args.cases)}
            result["postgresql"] |= measure(pg_url, args.cases, args.rounds)
        finally:
            if args.keep_pg:
                log(f"kept {pg_url}")
            else:
                with admin.begin() as c:
                    c.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
            admin.dispose()
    emit(result)


if __name__ == "__main__":
    main()
