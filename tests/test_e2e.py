"""End to end: a real `prefect server`, `prefect.yaml` deployed, a process worker, and `prefect deployment run`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pendulum
import pytest
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterKey,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.client.schemas.objects import FlowRun
from prefect.client.schemas.sorting import ArtifactSort

from cli.up import ROOT
from tests.conftest import CAST
from tests.e2e_stack import Stack, running_stack, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("e2e")) as running:
        yield running


def _orderwatch(env: dict[str, str], *args: str) -> dict[str, object]:
    ran = subprocess.run([sys.executable, "-m", "cli.main", *args, "--json"], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    result: dict[str, object] = json.loads(ran.stdout)
    return result


def _run_deployment(stack: Stack, name: str, *params: str, state: str = "Completed") -> FlowRun:
    """``prefect deployment run`` as the README shows it, then the run followed through the API to its end (the
    CLI's --watch follows an event stream that a busy embedded SQLite can drop)."""
    args = [sys.executable, "-m", "prefect", "deployment", "run", name]
    for p in params:
        args += ["--param", p]
    ran = subprocess.run(args, env=stack.env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-2000:]
    found = re.search(r"UUID:\s*([0-9a-f-]{36})", ran.stdout)
    assert found, ran.stdout

    def ended() -> FlowRun | None:
        with stack.client() as client:
            run = client.read_flow_run(UUID(found.group(1)))
        return run if run.state is not None and run.state.is_final() else None

    run = wait_for(f"{name} to end", ended, timeout=240, every=2)
    assert run.state is not None and run.state.name == state, run.state
    return run


def test_deployments_run_for_real(stack: Stack) -> None:
    env = stack.env
    for user, role, manager in CAST:
        _orderwatch(env, "people", "add", user, "--role", role, *(["--manager", manager] if manager else []))
    _orderwatch(env, "so", "register", "--case", "SO-E2E", "--child", "C-E2E", "--order-date", "2026-01-15",
                "--notified-on", "2026-01-16", "--actor", "sw1")  # fmt: skip

    _run_deployment(stack, "record-event/record-event", "case_ref=SO-E2E", "event=allocate_iro", "actor=su1",
                    "on=2026-01-20", "iro=iro1")  # fmt: skip
    assert _orderwatch(env, "show", "SO-E2E", "--actor", "hos1")["state"] == "awaiting_first_cin"

    swept = _run_deployment(stack, "daily-sweep/daily-sweep", "as_of=2026-02-10")
    shown = _orderwatch(env, "show", "SO-E2E", "--actor", "hos1")
    assert {"kind": "first_cin_meeting", "due_on": "2026-02-05", "status": "missed"} in shown["deadlines"]  # type: ignore[operator]
    assert swept.name == "sweep-2026-02-10"

    with stack.client() as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["orderwatch-sweep-summary",
                                                                        "orderwatch-worklist"])),
            sort=ArtifactSort.CREATED_DESC,
        )  # fmt: skip
    assert {a.key for a in found} == {"orderwatch-sweep-summary", "orderwatch-worklist"}
    worklist = next(a for a in found if a.key == "orderwatch-worklist")
    # the escalation the missed first CIN meeting raised is overdue work (issue 9: not "overdue items: 0")
    open_escalations = len(_orderwatch(env, "escalations", "--open"))  # type: ignore[arg-type]
    assert open_escalations >= 1
    assert f"{open_escalations} open escalation" in (worklist.description or "")
    assert " 1 items" not in (worklist.description or "") and "(s)" not in (worklist.description or "")
    assert os.path.exists(Path(env["PREFECT_HOME"]) / "server.log")


def test_a_report_started_by_hand_is_named_for_today(stack: Stack) -> None:
    report = _run_deployment(stack, "caseload-report/caseload-report")
    assert report.name == f"report-{pendulum.now('Europe/London').date().isoformat()}"


def test_a_refused_manual_event_fails_with_the_rule_and_no_traceback(stack: Stack) -> None:
    if not _orderwatch(stack.env, "people", "list"):
        for user, role, manager in CAST:
            _orderwatch(stack.env, "people", "add", user, "--role", role, *(["--manager", manager] if manager else []))
    _orderwatch(stack.env, "so", "register", "--case", "SO-REF", "--child", "C-REF", "--order-date", "2026-01-15",
                "--notified-on", "2026-01-16", "--actor", "sw1")  # fmt: skip
    run = _run_deployment(stack, "record-event/record-event", "case_ref=SO-REF", "event=hold_review", "actor=iro1",
                          "on=2026-01-20", "outcome=extend", state="Failed")  # fmt: skip
    assert run.state is not None and run.state.is_failed()
    assert run.state.message == ("hold_review is not allowed when case SO-REF is registered; "
                                 "allowed now (registered): allocate_iro, change_social_worker, discharge, "
                                 "issue_minutes, record_case_summary, record_support_plan")  # fmt: skip
    with stack.client() as client:
        logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id])))
    assert logs and not [log.message for log in logs if "Traceback" in log.message]
    assert _orderwatch(stack.env, "show", "SO-REF", "--actor", "sw1")["state"] == "registered"


def test_no_prefect_service_wrote_a_traceback(stack: Stack) -> None:
    assert stack.tracebacks() == []
