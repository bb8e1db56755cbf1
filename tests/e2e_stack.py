"""The end-to-end tests' stack: a real ``prefect server`` (basic auth, CSRF, CORS — as ``orderwatch up`` starts it),
``prefect.yaml`` deployed with the shipped Automations, and a worker started through ``orderwatch worker``.

One stack per test module (its own port, state folder and databases), stopped at the end of the module.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from prefect.client.orchestration import SyncPrefectClient

from cli.status import service_errors
from cli.up import ROOT, deploy, prefect_env, start_server, start_worker, stop, wait_healthy

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stack:
    env: dict[str, str]
    port: int
    var: Path
    server: subprocess.Popen[bytes]
    worker: subprocess.Popen[bytes] | None

    @property
    def api(self) -> str:
        return self.env["PREFECT_API_URL"]

    @property
    def db(self) -> str:
        return self.env["ORDERWATCH_DATABASE_URL"]

    def client(self) -> SyncPrefectClient:
        """A Prefect client with the stack's credential (CSRF tokens handled by the client)."""
        return SyncPrefectClient(self.api, auth_string=self.env["PREFECT_API_AUTH_STRING"])

    def orderwatch(self, *args: str, rc: int | None = 0, extra: dict[str, str] | None = None) -> Any:
        """``orderwatch ... --json`` in a subprocess with the stack's environment; its JSON output."""
        ran = subprocess.run([sys.executable, "-m", "cli", *args, "--json"], env={**self.env, **(extra or {})},
                             cwd=ROOT, capture_output=True, text=True, timeout=180)  # fmt: skip
        if rc is not None:
            assert ran.returncode == rc, ran.stdout[-2000:] + ran.stderr[-2000:]
        return json.loads(ran.stdout) if ran.stdout.strip() else None

    def orderwatch_text(self, *args: str, rc: int = 0) -> str:
        """``orderwatch ...`` as a person reads it (no ``--json``); its standard output."""
        ran = subprocess.run([sys.executable, "-m", "cli", *args], env=self.env, cwd=ROOT, capture_output=True,
                             text=True, timeout=180)  # fmt: skip
        assert ran.returncode == rc, ran.stdout[-2000:] + ran.stderr[-2000:]
        return ran.stdout

    def server_log(self) -> str:
        return (self.var / "prefect" / "server.log").read_text(encoding="utf-8", errors="replace")

    def tracebacks(self) -> list[str]:
        """Every traceback in the server's log but Prefect's own transient SQLite lock refusals (see
        ``cli.status.TRANSIENT``: they come with load — two Prefect servers on two shared cores — and are
        printed, not failed on)."""
        found = service_errors(self.var / "prefect" / "server.log")
        busy = [f"{e.at} {e.logger}: {e.error}" for e in found if e.transient]
        if busy:
            print(f"\nPrefect's SQLite refused {len(busy)} write(s) as locked (transient): {busy}")
        return [f"{e.at} {e.logger}: {e.error}" for e in found if not e.transient]

    def start_worker(self, *, catch_up: bool = False) -> None:
        self.worker = start_worker(self.env, catch_up=catch_up)

    def kill_worker(self) -> None:
        """The worker dies (SIGKILL: no goodbye to the server), as when its machine goes down."""
        if self.worker is not None:
            self.worker.kill()
            self.worker.wait()
            self.worker = None

    def stop_worker(self) -> None:
        if self.worker is not None:
            stop(self.worker)
            self.worker = None


@contextmanager
def running_stack(
    tmp: Path,
    extra_env: dict[str, str] | None = None,
    *,
    worker: bool = True,
    catch_up: bool = False,
    without: frozenset[str] = frozenset(),
) -> Iterator[Stack]:
    """Server, deployments (all of prefect.yaml's but those ``without``), Automations and (unless ``worker=False``)
    a worker; everything stopped afterwards."""
    port = free_port()
    env = prefect_env(port, db=f"sqlite:///{tmp / 'orderwatch.db'}", var=tmp / "var")
    env.update({"PREFECT_WORKER_QUERY_SECONDS": "2", **(extra_env or {})})
    server = start_server(env, port)
    stack = Stack(env, port, tmp / "var", server, None)
    try:
        wait_healthy(port, process=server)
        deploy(env, None if not without else [n for n in deployment_names() if n not in without])
        if worker:
            stack.start_worker(catch_up=catch_up)
        yield stack
    finally:
        stack.stop_worker()
        stop(server)


def deployment_names() -> list[str]:
    """The deployments ``prefect.yaml`` declares."""
    import yaml

    declared = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    return [str(d["name"]) for d in declared["deployments"]]


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 120.0, every: float = 1.0) -> T:
    """Poll ``probe`` until it returns something truthy; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)
