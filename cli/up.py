"""``orderwatch up`` (``make run``): the main job.

Starts a Prefect server on its embedded SQLite (home under ./var/prefect) with basic authentication (a credential
generated on first start, kept owner-only under ./var/secrets), CSRF protection on and CORS limited to its own UI;
creates the process work pool, deploys ``prefect.yaml``, applies the shipped Automations, starts a worker through
``orderwatch worker`` (which first runs a catch-up sweep if the last completed one is behind) and prints the UI
address. Ctrl-C stops it all cleanly; running it again resumes with the same data.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from cli.secure import ROOT, Credential, Endpoint, ensure_credential, var_dir, write_endpoint
from machines.errors import Refused
from storage.db import database_url

__all__ = ["ROOT", "prefect_env", "server_env", "up"]

POOL = "orderwatch"


def _absolute_db(url: str) -> str:
    """Worker subprocesses run elsewhere: a relative SQLite path is made absolute against the project root."""
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite") and parsed.database and parsed.database != ":memory:":
        path = Path(parsed.database)
        if not path.is_absolute():
            return str(parsed.set(database=str(ROOT / path)))
    return url


def prefect_env(port: int, db: str | None = None, var: Path | None = None,
                credential: Credential | None = None) -> dict[str, str]:  # fmt: skip
    """The environment the deploy, the worker, the flows and orderwatch's own commands share (clients of the API).

    ``var`` is orderwatch's state folder (default ``./var``): Prefect's home is ``var/prefect``, the credential
    ``var/secrets/prefect-api-auth`` (generated here on first use).
    """
    var = (var or var_dir()).resolve()
    home = var / "prefect"
    home.mkdir(parents=True, exist_ok=True)
    home.chmod(0o700)  # Prefect's database and logs: the operator's only
    credential = credential or ensure_credential(var)
    return {
        **os.environ,
        "ORDERWATCH_VAR": str(var),
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_UI_URL": f"http://127.0.0.1:{port}",
        "PREFECT_API_AUTH_STRING": credential.auth_string,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_LOGGING_LEVEL": os.environ.get("PREFECT_LOGGING_LEVEL", "INFO"),
        # dated log lines: `orderwatch status` counts the server's service errors of the last 24 hours
        "PREFECT_LOGGING_FORMATTERS_STANDARD_DATEFMT": "%Y-%m-%d %H:%M:%S",
        "ORDERWATCH_HOME": str(ROOT),
        "ORDERWATCH_DATABASE_URL": _absolute_db(database_url(db)),
    }


def server_env(env: dict[str, str], port: int) -> dict[str, str]:
    """The server's own settings on top of the clients': basic auth, CSRF protection, CORS for its own UI only."""
    origins = f"http://127.0.0.1:{port},http://localhost:{port}"
    return {
        **env,
        "PREFECT_SERVER_API_AUTH_STRING": env["PREFECT_API_AUTH_STRING"],
        "PREFECT_SERVER_CSRF_PROTECTION_ENABLED": "true",
        "PREFECT_SERVER_CORS_ALLOWED_ORIGINS": origins,
        "PREFECT_SERVER_CORS_ALLOWED_METHODS": "GET,POST,PUT,PATCH,DELETE,OPTIONS",
        "PREFECT_SERVER_CORS_ALLOWED_HEADERS": "Content-Type,Authorization,Prefect-Csrf-Token,Prefect-Csrf-Client",
    }


def _prefect(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "prefect", "--no-prompt", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )


def wait_healthy(port: int, timeout: float = 120.0, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the Prefect server exited ({process.returncode}); see var/prefect/server.log")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the Prefect server did not become healthy within {timeout:.0f}s")


def start_server(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    with (Path(env["PREFECT_HOME"]) / "server.log").open("ab") as log:  # the child keeps its own handle
        return subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT, env=server_env(env, port), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


def deploy(env: dict[str, str]) -> None:
    """The work pool, every deployment of prefect.yaml, and the shipped Automations."""
    pool = _prefect(env, "work-pool", "create", POOL, "--type", "process")
    if pool.returncode != 0 and "already exists" not in (pool.stdout + pool.stderr):
        raise RuntimeError(f"creating the work pool failed: {(pool.stdout + pool.stderr).strip()[-500:]}")
    deployed = _prefect(env, "deploy", "--all")
    if deployed.returncode != 0:
        raise RuntimeError(f"prefect deploy failed: {(deployed.stdout + deployed.stderr).strip()[-800:]}")
    applied = subprocess.run([sys.executable, "-m", "flows.automations"], cwd=ROOT, env=env, capture_output=True,
                             text=True)  # fmt: skip
    if applied.returncode != 0:
        raise RuntimeError(f"applying the automations failed: {applied.stderr.strip()[-800:]}")


def start_worker(env: dict[str, str], *, catch_up: bool = True) -> subprocess.Popen[bytes]:
    """``orderwatch worker`` in the background (its log: ``var/prefect/worker.log``)."""
    args = [sys.executable, "-m", "cli", "worker", "--pool", POOL] + ([] if catch_up else ["--no-catch-up"])
    with (Path(env["PREFECT_HOME"]) / "worker.log").open("ab") as log:  # the child keeps its own handle
        return subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip


def start_desk(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    """The desk (``python -m desk``) on 127.0.0.1, on orderwatch's own database (its log: ``var/desk.log``).

    It serves plain HTTP on the loopback address, so its session cookie cannot be ``Secure`` there; a deployment
    puts it behind a TLS proxy (README: scaling out) and leaves ``ORDERWATCH_DESK_INSECURE_COOKIES`` unset.
    """
    desk_env = {**env, "ORDERWATCH_DESK_HOST": "127.0.0.1", "ORDERWATCH_DESK_PORT": str(port),
                "ORDERWATCH_DESK_INSECURE_COOKIES": env.get("ORDERWATCH_DESK_INSECURE_COOKIES", "1")}  # fmt: skip
    with (Path(env["ORDERWATCH_VAR"]) / "desk.log").open("ab") as log:  # the child keeps its own handle
        return subprocess.Popen([sys.executable, "-m", "desk", "--port", str(port)], cwd=ROOT, env=desk_env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip


def wait_desk(port: int, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """Until the desk answers its health check (or has exited)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the desk exited ({process.returncode}); see var/desk.log")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"the desk did not answer within {timeout:.0f}s; see var/desk.log")


def stop(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """Ctrl-C, as at a terminal; a second Ctrl-C after ``grace`` (Prefect's own "stop now"); then SIGKILL.

    Prefect 3.8's worker acknowledges the first SIGINT but does not exit while idle; the second one ends it.
    """
    for sent in (signal.SIGINT, signal.SIGINT):
        if process.poll() is not None:
            return
        process.send_signal(sent)
        try:
            process.wait(grace)
            return
        except subprocess.TimeoutExpired:
            continue
    process.kill()
    process.wait()


def _load_demo(env: dict[str, str]) -> str:
    from cli.demo import DEMO_ADMIN, PEOPLE, cases_in, demo_passwords, load_demo
    from flows.views import plural
    from storage import clock

    url = env["ORDERWATCH_DATABASE_URL"]
    held = cases_in(url)
    if held:
        return f"demo not loaded: the database already holds {plural(held, 'case')}"
    load_demo(url, clock.today())
    password = demo_passwords(url)
    names = ", ".join([u for u, _, _ in PEOPLE] + [f"{DEMO_ADMIN} (admin)"])
    return f"demo caseload loaded; desk accounts {names}: password {password} (shown once)"


def first_start_notice(credential: Credential, ui: str) -> list[str]:
    """What ``up`` prints on the start that generated the credential (and never again)."""
    return [
        "  First start: the Prefect server asks for a password. Its credential (user:password) is",
        f"    {credential.auth_string}",
        f"  kept in {credential.path} (readable by you only). In the UI ({ui}) enter that whole line",
        '  when asked; in a new shell, `eval "$(.venv/bin/orderwatch env)"` gives `prefect` and `orderwatch` the',
        "  server's address and the credential. It is not shown again.",
    ]


def up(db: str | None = None, demo: bool = False, port: int = 4200, desk_port: int = 4280) -> dict[str, Any]:
    """Run the main job until Ctrl-C: Prefect (server, deployments, worker) and the desk; returns what it did."""
    for name, value in (("--port", port), ("--desk-port", desk_port)):
        if not 1024 <= value <= 65535:
            raise Refused(f"{name} {value} must be between 1024 and 65535")
    if port == desk_port:
        raise Refused(f"--port and --desk-port must differ (both {port})")
    started = time.monotonic()
    var = var_dir()
    credential = ensure_credential(var)
    env = prefect_env(port, db, var, credential)
    ui = f"http://127.0.0.1:{port}"
    shown_db = make_url(env["ORDERWATCH_DATABASE_URL"]).render_as_string(hide_password=True)
    write_endpoint(Endpoint(env["PREFECT_API_URL"], ui, shown_db), var)
    server = start_server(env, port)
    worker: subprocess.Popen[bytes] | None = None
    desk: subprocess.Popen[bytes] | None = None
    stopping = False

    def _interrupt(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True

    try:
        wait_healthy(port, process=server)
        deploy(env)
        notes = _load_demo(env) if demo else None
        worker = start_worker(env)
        desk = start_desk(env, desk_port)
        wait_desk(desk_port, desk)
        ready = time.monotonic() - started
        print(f"orderwatch is up in {ready:.1f}s: the desk at http://127.0.0.1:{desk_port}, Prefect UI at {ui}  "
              "(Ctrl-C stops it)")  # fmt: skip
        print(f"  orderwatch database: {shown_db}; Prefect home: {env['PREFECT_HOME']}")
        if notes:
            print(f"  {notes}")
        if credential.created:
            print("\n".join(first_start_notice(credential, ui)))
        print("  `orderwatch status` says whether all is well (the worker runs a catch-up sweep if one is due).")
        sys.stdout.flush()
        signal.signal(signal.SIGINT, _interrupt)
        signal.signal(signal.SIGTERM, _interrupt)
        while not stopping:
            if server.poll() is not None or worker.poll() is not None:
                raise RuntimeError("the Prefect server or worker exited; see var/prefect/*.log")
            if desk.poll() is not None:
                raise RuntimeError("the desk exited; see var/desk.log")
            time.sleep(0.5)
    finally:
        # both at once: the worker's shutdown should not hold up the server's
        # (a flow run still going gets 5 s; every flow is idempotent, so a cut-short run is simply run again)
        stoppers = [threading.Thread(target=stop, args=(worker, 5.0))] if worker is not None else []
        stoppers += [threading.Thread(target=stop, args=(desk, 5.0))] if desk is not None else []
        stoppers.append(threading.Thread(target=stop, args=(server,)))
        for t in stoppers:
            t.start()
        for t in stoppers:
            t.join()
    return {"stopped": True, "ready_seconds": round(ready, 1), "ui": ui, "desk": f"http://127.0.0.1:{desk_port}"}
