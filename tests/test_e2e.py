"""End to end: a real `prefect server`, `prefect.yaml` deployed, a process worker, and `prefect deployment run`."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli.up import ROOT, deploy, prefect_env, start_server, start_worker, stop, wait_healthy
from tests.conftest import CAST

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    tmp = tmp_path_factory.mktemp("e2e")
    port = _free_port()
    env = prefect_env(port, db=f"sqlite:///{tmp / 'orderwatch.db'}", home=tmp / "prefect")
    server = start_server(env, port)
    worker = None
    try:
        wait_healthy(port, process=server)
        deploy(env)
        worker = start_worker(env)
        yield env
    finally:
        if worker is not None:
            stop(worker)
        stop(server)


def _orderwatch(env: dict[str, str], *args: str) -> dict[str, object]:
    ran = subprocess.run([sys.executable, "-m", "cli.main", *args, "--json"], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    result: dict[str, object] = json.loads(ran.stdout)
    return result


def _run_deployment(env: dict[str, str], name: str, *params: str) -> str:
    args = [sys.executable, "-m", "prefect", "deployment", "run", name, "--watch", "--watch-timeout", "240"]
    for p in params:
        args += ["--param", p]
    ran = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-2000:]
    assert "Completed" in ran.stdout, ran.stdout[-2000:]
    return ran.stdout


def test_deployments_run_for_real(stack: dict[str, str]) -> None:
    env = stack
    for user, role, manager in CAST:
        _orderwatch(env, "people", "add", user, "--role", role, *(["--manager", manager] if manager else []))
    _orderwatch(env, "so", "register", "--case", "SO-E2E", "--child", "C-E2E", "--order-date", "2026-01-15",
                "--notified-on", "2026-01-16", "--actor", "sw1")  # fmt: skip

    _run_deployment(env, "record-event/record-event", "case_ref=SO-E2E", "event=allocate_iro", "actor=su1",
                    "on=2026-01-20", "iro=iro1")  # fmt: skip
    assert _orderwatch(env, "show", "SO-E2E")["state"] == "awaiting_first_cin"

    _run_deployment(env, "daily-sweep/daily-sweep", "as_of=2026-02-10")
    shown = _orderwatch(env, "show", "SO-E2E")
    assert {"kind": "first_cin_meeting", "due_on": "2026-02-05", "status": "missed"} in shown["deadlines"]  # type: ignore[operator]

    request = urllib.request.Request(
        env["PREFECT_API_URL"] + "/artifacts/filter",
        data=json.dumps({"artifacts": {"key": {"any_": ["orderwatch-sweep-summary", "orderwatch-worklist"]}}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        keys = {a["key"] for a in json.loads(response.read())}
    assert keys == {"orderwatch-sweep-summary", "orderwatch-worklist"}
    assert os.path.exists(Path(env["PREFECT_HOME"]) / "server.log")
