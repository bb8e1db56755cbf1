"""``orderwatch up`` itself, as an operator meets it: the Prefect server behind basic authentication, CSRF protection
and CORS for its own UI only (issue 9, item 5); a new shell reaching it through ``orderwatch env`` (item 6b); the
catch-up sweep at start (item 3); ``orderwatch status`` all well (item 4).
"""

from __future__ import annotations

import base64
import json
import os
import signal
import stat
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pendulum
import pytest
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.actions import WorkQueueUpdate
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId, FlowRunFilter, FlowRunFilterTags

from cli.secure import ensure_credential
from cli.up import ROOT
from cli.worker import catch_up
from storage.db import make_engine
from storage.migrate import upgrade
from storage.opsbook import Operations
from tests.e2e_stack import free_port, wait_for

pytestmark = pytest.mark.e2e

LONDON = "Europe/London"


@dataclass
class Up:
    port: int
    var: Path
    db: str
    env: dict[str, str]
    output: Path
    desk_port: int = 0

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    @property
    def auth_string(self) -> str:
        return (self.var / "secrets" / "prefect-api-auth").read_text().strip()

    def client(self) -> SyncPrefectClient:
        return SyncPrefectClient(self.api, auth_string=self.auth_string)

    def orderwatch(self, *args: str, rc: int | None = 0) -> Any:
        ran = subprocess.run([sys.executable, "-m", "cli", *args, "--json"], env=self.env, cwd=ROOT,
                             capture_output=True, text=True, timeout=120)  # fmt: skip
        if rc is not None:
            assert ran.returncode == rc, ran.stdout[-2000:] + ran.stderr[-2000:]
        return json.loads(ran.stdout)


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    tmp = tmp_path_factory.mktemp("e2e-up")
    port, desk_port, var, db = free_port(), free_port(), tmp / "var", f"sqlite:///{tmp / 'orderwatch.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update({"ORDERWATCH_VAR": str(var), "ORDERWATCH_DATABASE_URL": db, "PREFECT_WORKER_QUERY_SECONDS": "2"})
    output = tmp / "up.out"
    with output.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "cli", "up", "--port", str(port), "--desk-port", str(desk_port)],
                                   cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)  # fmt: skip
    try:
        wait_for("orderwatch up", lambda: "orderwatch is up" in output.read_text() or process.poll() is not None, 180)
        assert process.poll() is None, output.read_text()[-3000:]
        yield Up(port, var, db, {**env, "PREFECT_API_URL": f"http://127.0.0.1:{port}/api"}, output, desk_port)
    finally:
        process.send_signal(signal.SIGINT)  # Ctrl-C, as at the terminal
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _request(url: str, method: str = "GET", body: Any = None, headers: dict[str, str] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_up_serves_the_desk_beside_prefect_and_prints_both_addresses(up: Up) -> None:
    printed = up.output.read_text()
    assert f"the desk at http://127.0.0.1:{up.desk_port}" in printed and f"http://127.0.0.1:{up.port}" in printed
    code, headers, body = _request(f"http://127.0.0.1:{up.desk_port}/healthz")
    assert code == 200 and body == b"ok"
    code, headers, body = _request(f"http://127.0.0.1:{up.desk_port}/")  # a page: sign-in first, with its headers
    assert code in (200, 303) and "script-src 'self'" in headers.get("content-security-policy", "")


def test_the_credential_is_generated_owner_only_and_shown_once(up: Up) -> None:
    secrets = up.var / "secrets"
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o700
    assert stat.S_IMODE((secrets / "prefect-api-auth").stat().st_mode) == 0o600
    printed = up.output.read_text()
    assert "First start" in printed and up.auth_string in printed and printed.count(up.auth_string) == 1
    again = ensure_credential(up.var)  # the next start: the same credential, not shown again
    assert not again.created and again.auth_string == up.auth_string and up.auth_string not in repr(again)


def test_an_anonymous_request_is_refused_and_the_operators_accepted(up: Up) -> None:
    basic = {"Authorization": "Basic " + base64.b64encode(up.auth_string.encode()).decode()}
    code, _, body = _request(f"{up.api}/deployments/name/caseload-report/caseload-report", headers=basic)
    assert code == 200, body
    create = f"{up.api}/deployments/{json.loads(body)['id']}/create_flow_run"

    # anonymous: refused (403: CSRF protection answers first), and no CSRF token can be had without the credential
    code, _, body = _request(create, "POST", {})
    assert code == 403 and b"CSRF" in body
    assert _request(f"{up.api}/csrf-token?client=anyone")[0] == 401
    forged = {"Prefect-Csrf-Token": "forged", "Prefect-Csrf-Client": "anyone"}
    assert _request(create, "POST", {}, forged)[0] == 403
    assert _request(f"{up.api}/deployments/name/caseload-report/caseload-report")[0] == 401
    wrong = {"Authorization": "Basic " + base64.b64encode(b"orderwatch:guess").decode()}
    assert _request(f"{up.api}/csrf-token?client=anyone", headers=wrong)[0] == 401
    code, _, body = _request(create, "POST", {}, basic)  # the credential, but no CSRF token
    assert code == 403 and b"CSRF" in body

    code, _, body = _request(f"{up.api}/csrf-token?client=e2e-test", headers=basic)
    assert code == 200, body
    csrf = {**basic, "Prefect-Csrf-Token": json.loads(body)["token"], "Prefect-Csrf-Client": "e2e-test"}
    code, _, body = _request(create, "POST", {}, csrf)
    assert code == 201, body
    run = json.loads(body)
    finished = wait_for("the report run", lambda: _final(up, run["id"]), timeout=120, every=2)
    assert finished == f"report-{pendulum.now(LONDON).date().isoformat()}"  # started by hand: today's London date


def _final(up: Up, run_id: str) -> str | None:
    with up.client() as client:
        run = client.read_flow_run(run_id)  # type: ignore[arg-type]
    return run.name if run.state is not None and run.state.is_completed() else None


def test_cors_allows_only_its_own_ui(up: Up) -> None:
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "Authorization"}
    own = f"http://127.0.0.1:{up.port}"
    code, headers, _ = _request(f"{up.api}/flow_runs/filter", "OPTIONS", headers={**preflight, "Origin": own})
    assert code == 200 and headers.get("access-control-allow-origin") == own
    code, headers, _ = _request(f"{up.api}/flow_runs/filter", "OPTIONS",
                                headers={**preflight, "Origin": "http://elsewhere.example"})  # fmt: skip
    assert code == 400 and "access-control-allow-origin" not in {k.lower() for k in headers}


def test_the_ui_loads_and_asks_for_the_credential(up: Up) -> None:
    code, headers, body = _request(f"http://127.0.0.1:{up.port}/")
    assert code == 200 and "text/html" in headers.get("content-type", "") and b"<script" in body
    code, _, body = _request(f"http://127.0.0.1:{up.port}/ui-settings")
    settings = json.loads(body)
    assert code == 200 and settings["auth"] == "BASIC" and settings["csrf_enabled"] is True  # the UI's login prompt
    assert _request(f"{up.api}/health")[0] == 200  # health stays open (probes)


def test_a_new_shell_reaches_orderwatch_and_prefect_through_orderwatch_env(up: Up, tmp_path: Path) -> None:
    lines = subprocess.run([str(ROOT / ".venv" / "bin" / "orderwatch"), "env"], env=up.env, capture_output=True,
                           text=True, check=True).stdout  # fmt: skip
    assert up.auth_string not in lines and "prefect-api-auth" in lines  # read from the file, never echoed
    # a fresh shell: nothing of ours in its environment but where the state folder is (this test's own)
    script = f"""
        set -e
        eval "$({ROOT}/.venv/bin/orderwatch env)"
        cd /
        orderwatch people add su1 --role safeguarding_unit
        orderwatch people add iro1 --role iro
        orderwatch people add sw1 --role social_worker
        orderwatch so register --case SO-ENV --child C-ENV --order-date 2026-01-15 --notified-on 2026-01-16 \\
            --actor sw1 >/dev/null
        prefect deployment run record-event/record-event -p case_ref=SO-ENV -p event=allocate_iro -p actor=su1 \\
            -p iro=iro1
    """
    ran = subprocess.run(["env", "-i", f"HOME={tmp_path}", "PATH=/usr/bin:/bin", f"ORDERWATCH_VAR={up.var}",
                          "bash", "-c", script], capture_output=True, text=True, timeout=180)  # fmt: skip
    assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-2000:]
    assert "Created flow run" in ran.stdout
    moved = wait_for(
        "SO-ENV to move",
        lambda: up.orderwatch("show", "SO-ENV", "--actor", "sw1")["state"] == "awaiting_first_cin",
        120,
    )
    assert moved


def test_up_ran_the_catch_up_sweep_at_start(up: Up) -> None:
    today = pendulum.now(LONDON).date().isoformat()
    with up.client() as client:
        sweep = client.read_deployment_by_name("daily-sweep/daily-sweep")
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[sweep.id])),
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=["catch-up"])),
        )
    assert [r.name for r in runs] == [f"sweep-{today}-catch-up"]
    wait_for("the catch-up to complete", lambda: _final(up, str(runs[0].id)), timeout=120, every=2)
    engine = make_engine(up.db)
    try:
        last = Operations(engine, clock=lambda: datetime.now(UTC)).last_completed_sweep()
    finally:
        engine.dispose()
    assert last is not None and last.as_of.isoformat() == today and last.flow_run_id == str(runs[0].id)


def test_catch_up_waits_for_a_run_already_due_and_is_not_needed_when_current(up: Up, tmp_path: Path) -> None:
    now, today = datetime.now(UTC), pendulum.now(LONDON).date()
    engine = make_engine(up.db)
    behind = make_engine(f"sqlite:///{tmp_path / 'behind.db'}")  # a database whose last sweep is long ago
    upgrade(behind)
    try:
        with up.client() as client:
            current = catch_up(
                client, Operations(engine, clock=lambda: now), now, date(today.year, today.month, today.day)
            )
            assert current.action == "not-needed", current
            # a run for today already waits (in a paused queue: Late, never taken): no second one
            queue = client.create_work_queue(name="held-up", work_pool_name="orderwatch")
            client.update_work_queue(queue.id, **WorkQueueUpdate(is_paused=True).model_dump(exclude_unset=True))
            sweep = client.read_deployment_by_name("daily-sweep/daily-sweep")
            held = client.create_flow_run_from_deployment(sweep.id, parameters={"as_of": today.isoformat()},
                                                         work_queue_name="held-up")  # fmt: skip
            found = catch_up(client, Operations(behind, clock=lambda: now), now, today)
            assert found.action == "already-waiting" and found.flow_run == held.name, found
            client.delete_flow_run(held.id)
            started = catch_up(client, Operations(behind, clock=lambda: now), now, today)
            assert started.action == "started" and started.flow_run == f"sweep-{today.isoformat()}-catch-up"
    finally:
        engine.dispose()
        behind.dispose()


def test_status_is_all_well(up: Up) -> None:
    up.orderwatch("people", "add", "op1", "--role", "operator")

    def settled() -> dict[str, Any] | None:  # the catch-up runs above finish; the scheduler has filled the week
        report: dict[str, Any] = up.orderwatch("status", rc=None)
        return report if report["ok"] else None

    wait_for("status to say all is well", settled, timeout=90, every=3)
    report = up.orderwatch("status", rc=0)
    assert report["server"]["up"] and report["server"]["auth"] and report["worker"]["online"] >= 1
    assert report["last_sweep"]["as_of"] == pendulum.now(LONDON).date().isoformat()
    assert report["next_sweep"]["name"] and report["operators"] == ["op1"]
    # SO-ENV (registered above, dated January) has been swept since: its missed deadlines are open escalations
    assert report["escalations"]["open"] == sum(report["escalations"]["by_level"].values()) > 0


def test_no_prefect_service_wrote_a_traceback(up: Up) -> None:
    from cli.status import service_errors

    found = service_errors(up.var / "prefect" / "server.log")
    assert [e for e in found if not e.transient] == []
