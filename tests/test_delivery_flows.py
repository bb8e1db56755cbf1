"""The delivery flows, run for real under the session's Prefect test server, on SQLite and PostgreSQL: the morning's
digests made, a pass every few minutes delivering them to a real aiosmtpd server, and nothing but counts in Prefect
(its parameters, run name, logs, result and state message carry no recipient, address, subject or child)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowFilter, FlowFilterName, LogFilter, LogFilterFlowRunId
from prefect.client.schemas.sorting import FlowRunSort
from prefect.logging.handlers import APILogWorker

from flows.delivery import daily_digest, deliver_notifications
from tests.conftest import Cli
from tests.mail_servers import Recorder, smtp_server

CHILD = "CHILDSECRET-9"


def _register(cli: Cli) -> None:
    ran = cli("so", "register", "--case", "SO-1", "--child", CHILD, "--order-date", "2026-01-15",
              "--notified-on", "2026-01-16", "--social-worker", "sw1", "--actor", "sw1")  # fmt: skip
    assert ran.rc == 0, ran.err


def _prefect_view(flow_run_id: Any) -> str:
    """Everything Prefect holds of a run: its name, parameters, state message, and its logs."""
    APILogWorker.drain_all()
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(flow_run_id)
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
    state = run.state
    parts = [run.name, repr(run.parameters), str(state.message if state else ""), *(log.message for log in logs)]
    return "\n".join(parts)


def _last_run(flow: str) -> Any:
    """The id of the newest run of ``flow`` (a test's own: the tests of one worker run one after another).
    Not ``return_state=True`` and ``state.result()``: with an event loop about, that answers a coroutine."""
    with get_client(sync_client=True) as client:
        (run,) = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=[flow])),
                                       sort=FlowRunSort.START_TIME_DESC, limit=1)  # fmt: skip
    return run.id


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch) -> Any:
    with smtp_server() as (recorder, port):
        monkeypatch.delenv("ORDERWATCH_NOTIFY_API_KEY", raising=False)
        monkeypatch.setenv("ORDERWATCH_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("ORDERWATCH_SMTP_PORT", str(port))
        monkeypatch.setenv("ORDERWATCH_SMTP_FROM", "orderwatch@council.test")
        monkeypatch.setenv("ORDERWATCH_DESK_URL", "https://desk.council.test")
        yield recorder


def test_the_digest_and_the_delivery_pass_send_each_once_and_prefect_holds_counts_only(
    flow_db: str, cli: Cli, smtp: Recorder
) -> None:
    _register(cli)
    for user in ("su1", "sw1"):
        assert cli("people", "set-email", user, f"{user}.private@council.test").rc == 0
    made = daily_digest(as_of=date(2026, 2, 2))
    digest_run = _last_run("daily-digest")
    # su1: the IRO allocation (due 23 January); sw1: the case summary (due 30 January)
    assert made["made"] >= 2 and made["until"] == "2026-02-09"
    again = daily_digest(as_of=date(2026, 2, 2))
    assert again["made"] == 0  # one per person per day
    result = deliver_notifications()
    deliver_run = _last_run("deliver-notifications")
    assert result["channel"] == "smtp" and result["failed"] == 0 and result["sent"] == len(smtp.messages)
    assert deliver_notifications()["sent"] == 0  # each once
    subjects = {(m["To"], m["Subject"]) for m in smtp.messages}
    assert ("su1.private@council.test", "SO-1: a Supervision Order to allocate to a named IRO") in subjects
    su_digest = next(m for m in smtp.messages if m["To"] == "su1.private@council.test"
                     and m["Subject"].startswith("Your work due by 9 February 2026"))  # fmt: skip
    body = su_digest.get_payload(decode=True).decode()
    assert "- SO-1: allocate a named IRO, due 23 January 2026\r\n" in body  # overdue (no sweep yet: not missed)
    assert "https://desk.council.test/cases/SO-1" in body and CHILD not in body
    for run_id in (deliver_run, digest_run):
        seen = _prefect_view(run_id)
        assert "deliver-" in seen or "digest-" in seen
        for secret in (CHILD, "private@", "Supervision Order to allocate", "Your work"):
            assert secret not in seen, (secret, seen)


def test_with_no_channel_the_pass_sends_nothing_and_says_how_many_are_held(
    flow_db: str, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("ORDERWATCH_SMTP_HOST", "ORDERWATCH_NOTIFY_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    _register(cli)  # the registration's notice to su1, and sw1's "entered on your behalf"
    assert deliver_notifications() == {"channel": None, "sent": 0, "held": len(cli("notifications").json)}


def test_a_bad_channel_setting_fails_the_run_with_the_rule_not_the_secret(
    flow_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORDERWATCH_NOTIFICATIONS_CHANNEL", "notify")
    monkeypatch.setenv("ORDERWATCH_NOTIFY_API_KEY", "secret-value-not-a-key")
    state = deliver_notifications(return_state=True)
    assert state.is_failed()
    seen = _prefect_view(state.state_details.flow_run_id)
    assert "is not a GOV.UK Notify API key" in seen and "secret-value" not in seen
