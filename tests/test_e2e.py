"""End to end: a real `prefect server`, `prefect.yaml` deployed, a process worker, and `prefect deployment run`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pendulum
import pytest
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterKey,
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.client.schemas.sorting import ArtifactSort, FlowRunSort

from cli.up import ROOT
from tests.conftest import CAST
from tests.e2e_stack import Stack, running_stack

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


def _run_deployment(env: dict[str, str], name: str, *params: str, state: str = "Completed") -> str:
    args = [sys.executable, "-m", "prefect", "deployment", "run", name, "--watch", "--watch-timeout", "240"]
    for p in params:
        args += ["--param", p]
    ran = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    if state == "Completed":
        assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-2000:]
    assert state in ran.stdout, ran.stdout[-2000:]
    return ran.stdout


def _latest(stack: Stack, deployment: str) -> FlowRun:
    with stack.client() as client:
        found = client.read_deployment_by_name(deployment)
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[found.id])),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.COMPLETED, StateType.FAILED]))
            ),
            sort=FlowRunSort.END_TIME_DESC,
            limit=1,
        )
    return runs[0]


def test_deployments_run_for_real(stack: Stack) -> None:
    env = stack.env
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
    assert _latest(stack, "daily-sweep/daily-sweep").name == "sweep-2026-02-10"

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
    _run_deployment(stack.env, "caseload-report/caseload-report")
    today = pendulum.now("Europe/London").date().isoformat()
    assert _latest(stack, "caseload-report/caseload-report").name == f"report-{today}"


def test_a_refused_manual_event_fails_with_the_rule_and_no_traceback(stack: Stack) -> None:
    if not _orderwatch(stack.env, "people", "list"):
        for user, role, manager in CAST:
            _orderwatch(stack.env, "people", "add", user, "--role", role, *(["--manager", manager] if manager else []))
    _orderwatch(stack.env, "so", "register", "--case", "SO-REF", "--child", "C-REF", "--order-date", "2026-01-15",
                "--notified-on", "2026-01-16", "--actor", "sw1")  # fmt: skip
    _run_deployment(stack.env, "record-event/record-event", "case_ref=SO-REF", "event=hold_review", "actor=iro1",
                    "on=2026-01-20", "outcome=extend", state="Failed")  # fmt: skip
    run = _latest(stack, "record-event/record-event")
    assert run.state is not None and run.state.is_failed()
    assert run.state.message == ("hold_review is not allowed when case SO-REF is registered; "
                                 "allowed now (registered): allocate_iro, discharge, issue_minutes, "
                                 "record_case_summary, record_support_plan")  # fmt: skip
    with stack.client() as client:
        logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id])))
    assert logs and not [log.message for log in logs if "Traceback" in log.message]
    assert _orderwatch(stack.env, "show", "SO-REF")["state"] == "registered"


def test_no_prefect_service_wrote_a_traceback(stack: Stack) -> None:
    assert stack.tracebacks() == []
