"""Notifications delivered end to end (issue 14 item 7): a real ``prefect server`` with ``prefect.yaml`` deployed and
a worker; the scheduled ``deliver-notifications`` deployment (every 2 minutes) sends the notices an escalation raised
to a real aiosmtpd server, with nobody pressing anything. Prints the time from the escalation raised (the sweep's
command returning) to the e-mail arriving."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.conftest import CAST
from tests.e2e_stack import Stack, running_stack, wait_for
from tests.mail_servers import Recorder, smtp_server

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def mail_and_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Recorder, Stack]]:
    with smtp_server() as (recorder, port):
        env = {"ORDERWATCH_SMTP_HOST": "127.0.0.1", "ORDERWATCH_SMTP_PORT": str(port),
               "ORDERWATCH_SMTP_FROM": "orderwatch@council.test", "ORDERWATCH_DESK_URL": "https://desk.council.test",
               "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "5"}  # fmt: skip
        with running_stack(tmp_path_factory.mktemp("e2e-delivery"), env) as stack:
            yield recorder, stack


def test_an_escalation_raised_is_e_mailed_by_the_scheduled_delivery(mail_and_stack: tuple[Recorder, Stack]) -> None:
    recorder, stack = mail_and_stack
    for user, role, manager in CAST:
        stack.orderwatch("people", "add", user, "--role", role, *(["--manager", manager] if manager else []),
                         "--email", f"{user}@council.test")  # fmt: skip
    stack.orderwatch("so", "register", "--case", "SO-E1", "--child", "C-E1", "--order-date", "2026-01-15",
                     "--notified-on", "2026-01-16", "--social-worker", "sw1", "--actor", "sw1")  # fmt: skip
    swept = stack.orderwatch("sweep", "--as-of", "2026-02-02")
    raised_at = time.monotonic()
    assert swept["escalations_raised"] >= 1

    def escalation_mail() -> list[object]:
        return [m for m in recorder.messages if " on SO-E1: " in str(m["Subject"]) and "ESC-" in str(m["Subject"])]

    mails = wait_for("an escalation's notice by e-mail", escalation_mail, 200, 0.2)
    latency = time.monotonic() - raised_at
    print(f"\nescalation raised -> e-mail at the relay: {latency:.1f} s (deliver-notifications every 120 s)")
    assert latency < 200
    assert all("https://desk.council.test/cases/SO-E1" in m.get_payload(decode=True).decode() for m in mails)
    assert len(recorder.to("su1@council.test")) >= 1  # the registration's notice went in the same pass (or before)
    time.sleep(5)  # nothing is sent twice: each message once, whatever runs came since
    ids = [m["Message-ID"] for m in recorder.messages]
    assert len(ids) == len(set(ids))
    assert stack.tracebacks() == []
