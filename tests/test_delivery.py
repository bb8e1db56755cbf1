"""Notifications delivered (issue 14 item 7): the outbox sent by SMTP to a real aiosmtpd server and by GOV.UK Notify's
client to a local server speaking Notify's API, on SQLite and PostgreSQL. Each message arrives once; a transient
failure is retried after its wait; a permanent one is failed with a reason that carries no personal data; a pass
that dies between sending and marking leaves a claim that is taken again once stale (at least once: the copy has
the same Message-ID).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa

from machines.supervision_order import SORegistration
from storage.casebook import Casebook
from storage.commands import AddPerson, Fire, Register, SetEmail
from storage.delivery import DeliverySettings, deliver
from storage.models import notifications
from storage.senders import NotifySender, NotifySettings, Outgoing, SmtpSender, SmtpSettings
from tests.conftest import CAST, FIXED_NOW, Cli
from tests.mail_servers import Recorder, free_port, notify_server, smtp_server

CHILD = "CHILD-PRIVATE-77"
SETTINGS = DeliverySettings(desk_url="https://desk.council.test", retry_after=timedelta(seconds=60))
TEMPLATE = "f33517ff-2a88-4f6e-b855-c550268ce08a"


class Clock:
    def __init__(self) -> None:
        self.at = FIXED_NOW

    def __call__(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def casebook(engine: sa.Engine, clock: Clock) -> Casebook:
    """The cast, with addresses for the Safeguarding Unit and the social worker; one SO case registered (a notice to
    su1, with the child's identifier) and its IRO allocated (a notice to sw1)."""
    book = Casebook(engine, clock=clock)
    for user, role, manager in CAST:
        email = f"{user}@council.test" if user in ("su1", "sw1") else None
        book.handle(AddPerson(actor="setup", user=user, role=role, manager=manager, email=email))
    reg = SORegistration("SO-1", CHILD, date(2026, 1, 15), notified_on=date(2026, 1, 16), social_worker="sw1")
    book.handle(Register(actor="sw1", registration=reg, on=date(2026, 1, 16)))
    book.handle(Fire(actor="su1", ref="SO-1", event="allocate_iro", on=date(2026, 1, 20), fields={"iro": "iro1"}))
    return book


def _rows(book: Casebook) -> dict[str, dict[str, object]]:
    with book.engine.connect() as c:
        return {r.key: dict(r._mapping) for r in c.execute(sa.select(notifications))}


def _smtp(port: int) -> SmtpSender:
    return SmtpSender(SmtpSettings(host="127.0.0.1", port=port, sender="orderwatch@council.test", timeout=5))


@pytest.fixture
def smtp() -> Iterator[tuple[Recorder, int]]:
    with smtp_server() as running:
        yield running


def test_each_notification_arrives_once_by_smtp_with_its_link(casebook: Casebook, smtp: tuple[Recorder, int]) -> None:
    recorder, port = smtp
    first = deliver(casebook.handle, _smtp(port), SETTINGS)
    assert first.as_dict() == {"channel": "smtp", "sent": 2, "retry": 0, "failed": 0, "released": 0, "reasons": {}}
    again = deliver(casebook.handle, _smtp(port), SETTINGS)
    assert again.sent == 0
    assert len(recorder.messages) == 2
    (su,) = recorder.to("su1@council.test")
    (sw,) = recorder.to("sw1@council.test")
    assert su["Subject"] == "SO-1: a Supervision Order to allocate to a named IRO"
    su_body = su.get_payload(decode=True).decode()
    sw_body = sw.get_payload(decode=True).decode()
    assert CHILD in su_body and CHILD not in sw_body  # the child's identifier: the Safeguarding Unit's notice only
    assert "https://desk.council.test/cases/SO-1" in su_body and "https://desk.council.test/cases/SO-1" in sw_body
    assert su["From"] == "orderwatch@council.test"
    assert "Allocate a named IRO by 2026-01-23." in su_body  # what is due, and by when (PROCEDURES §7)
    assert "Now due: hold the first Child-in-Need meeting by 2026-" in sw_body
    rows = _rows(casebook)
    sent = rows["registration:SO-1:su1"]
    assert sent["status"] == "sent" and sent["attempts"] == 1 and sent["provider_id"] == su["Message-ID"]
    assert sent["sent_at"] is not None and sent["error"] is None
    # the IRO allocation's notice went to sw1; nobody else has an address, so nothing else was sent
    assert {k for k, r in rows.items() if r["status"] == "sent"} == {"registration:SO-1:su1", "iro_allocated:SO-1:sw1"}


def test_a_421_is_retried_after_its_wait_then_delivered_once(
    casebook: Casebook, smtp: tuple[Recorder, int], clock: Clock
) -> None:
    recorder, port = smtp
    recorder.rcpt["sw1@council.test"] = ["421 4.7.0 Try again later", "250 OK"]
    first = deliver(casebook.handle, _smtp(port), SETTINGS)
    assert (first.sent, first.retry, first.reasons) == (1, 1, {"recipient deferred (SMTP 421)": 1})
    row = _rows(casebook)["iro_allocated:SO-1:sw1"]
    assert row["status"] == "retry" and row["attempts"] == 1 and row["error"] == "recipient deferred (SMTP 421)"
    clock.advance(30)  # before the wait is over: not tried
    assert deliver(casebook.handle, _smtp(port), SETTINGS).sent == 0
    clock.advance(31)
    assert deliver(casebook.handle, _smtp(port), SETTINGS).sent == 1
    assert len(recorder.to("sw1@council.test")) == 1
    row = _rows(casebook)["iro_allocated:SO-1:sw1"]
    assert row["status"] == "sent" and row["attempts"] == 2 and row["error"] is None


def test_a_550_fails_the_notification_with_a_reason_that_names_nobody(
    casebook: Casebook, smtp: tuple[Recorder, int]
) -> None:
    recorder, port = smtp
    recorder.rcpt["su1@council.test"] = ["550 5.1.1 <su1@council.test>: Recipient address rejected"]
    report = deliver(casebook.handle, _smtp(port), SETTINGS)
    assert (report.sent, report.failed) == (1, 1)
    row = _rows(casebook)["registration:SO-1:su1"]
    assert row["status"] == "failed" and row["error"] == "recipient refused (SMTP 550)"
    assert deliver(casebook.handle, _smtp(port), SETTINGS).failed == 0  # failed stays failed
    assert recorder.to("su1@council.test") == []


def test_a_relay_that_cannot_be_reached_is_retried_and_the_rest_of_the_pass_waits(
    casebook: Casebook, clock: Clock
) -> None:
    closed = free_port()
    report = deliver(casebook.handle, _smtp(closed), SETTINGS)
    assert (report.sent, report.retry, report.released) == (0, 1, 1)
    assert report.reasons == {"relay unavailable (ConnectionRefusedError)": 1}
    rows = _rows(casebook)
    assert rows["registration:SO-1:su1"]["attempts"] == 1 and rows["registration:SO-1:su1"]["status"] == "retry"
    assert rows["iro_allocated:SO-1:sw1"]["attempts"] == 0  # released untried: no attempt counted
    clock.advance(61)
    with smtp_server() as (recorder, port):
        assert deliver(casebook.handle, _smtp(port), SETTINGS).sent == 2
        assert len(recorder.messages) == 2


def test_attempts_run_out_then_failed(casebook: Casebook, smtp: tuple[Recorder, int], clock: Clock) -> None:
    recorder, port = smtp
    recorder.rcpt["sw1@council.test"] = ["450 4.2.0 Mailbox busy"]
    settings = DeliverySettings(max_attempts=3, retry_after=timedelta(seconds=10))
    outcomes = []
    for _ in range(4):
        report = deliver(casebook.handle, _smtp(port), settings)
        outcomes.append((report.retry, report.failed))
        clock.advance(3600)
    assert outcomes[:3] == [(1, 0), (1, 0), (0, 1)] and outcomes[3] == (0, 0)
    row = _rows(casebook)["iro_allocated:SO-1:sw1"]
    assert row["status"] == "failed" and row["attempts"] == 3
    assert row["error"] == "recipient deferred (SMTP 450); gave up after 3 attempts"


class _Crash(BaseException):
    """The process dies after the relay accepted the message and before it was marked."""


class _SendsThenDies:
    name = "smtp"

    def __init__(self, inner: SmtpSender) -> None:
        self.inner = inner

    def send(self, message: Outgoing) -> str:
        self.inner.send(message)
        raise _Crash

    def close(self) -> None:
        self.inner.close()


def test_a_pass_that_dies_between_send_and_mark_is_sent_again_once_stale_with_the_same_message_id(
    casebook: Casebook, smtp: tuple[Recorder, int], clock: Clock
) -> None:
    """The documented at-least-once window: one message per pass that dies, recognisable by its Message-ID."""
    recorder, port = smtp
    with pytest.raises(_Crash):
        deliver(casebook.handle, _SendsThenDies(_smtp(port)), SETTINGS)
    assert len(recorder.messages) == 1
    rows = _rows(casebook)
    assert rows["registration:SO-1:su1"]["status"] == "sending"
    assert rows["iro_allocated:SO-1:sw1"]["status"] == "sending"  # claimed with it, never tried
    clock.advance(SETTINGS.stale_after.total_seconds() - 1)
    assert deliver(casebook.handle, _smtp(port), SETTINGS).sent == 0  # the claim may still be alive
    clock.advance(2)
    assert deliver(casebook.handle, _smtp(port), SETTINGS).sent == 2
    copies = recorder.to("su1@council.test")
    assert len(copies) == 2 and copies[0]["Message-ID"] == copies[1]["Message-ID"]
    assert len(recorder.to("sw1@council.test")) == 1
    assert _rows(casebook)["registration:SO-1:su1"]["attempts"] == 2


def test_a_person_without_an_address_is_told_inside_orderwatch_until_one_is_set(
    casebook: Casebook, smtp: tuple[Recorder, int]
) -> None:
    recorder, port = smtp
    casebook.handle(SetEmail(actor="setup", user="su1", email=None))
    assert deliver(casebook.handle, _smtp(port), SETTINGS).sent == 1
    counts = casebook.delivery_counts()
    assert counts["pending"] == 1 and counts["no_address"] == 1
    casebook.handle(SetEmail(actor="setup", user="su1", email="su.team@council.test"))
    assert deliver(casebook.handle, _smtp(port), SETTINGS).sent == 1
    assert len(recorder.to("su.team@council.test")) == 1


# -- GOV.UK Notify ---------------------------------------------------------------------------------------------------


def _notify(key: str, url: str) -> NotifySender:
    return NotifySender(NotifySettings(key, TEMPLATE, url, timeout=5))


def test_notify_sends_each_once_with_the_key_as_reference_signed_as_notify_checks(
    casebook: Casebook, clock: Clock
) -> None:
    with notify_server() as (service, url):
        report = deliver(casebook.handle, _notify(service.api_key, url), SETTINGS)
        assert (report.channel, report.sent) == ("notify", 2)
        assert deliver(casebook.handle, _notify(service.api_key, url), SETTINGS).sent == 0
    assert service.tokens_rejected == 0
    by_ref = {b["reference"]: b for b in service.received}
    assert set(by_ref) == {"registration:SO-1:su1", "iro_allocated:SO-1:sw1"}
    su = by_ref["registration:SO-1:su1"]
    assert su["email_address"] == "su1@council.test" and su["template_id"] == TEMPLATE
    assert su["personalisation"]["subject"] == "SO-1: a Supervision Order to allocate to a named IRO"
    assert "https://desk.council.test/cases/SO-1" in su["personalisation"]["body"]
    rows = _rows(casebook)
    assert (
        rows["registration:SO-1:su1"]["status"] == "sent"
        and len(str(rows["registration:SO-1:su1"]["provider_id"])) == 36
    )


def test_notify_with_a_wrong_secret_is_refused_403_and_failed(casebook: Casebook) -> None:
    with notify_server() as (service, url):
        wrong = service.api_key[:-36] + "00000000-0000-4000-8000-000000000000"
        report = deliver(casebook.handle, _notify(wrong, url), SETTINGS)
    assert service.tokens_rejected == 2 and report.failed == 2
    assert report.reasons == {"Notify 403 AuthError": 2}


def test_notify_500_is_retried_and_400_is_failed_without_personal_data(casebook: Casebook, clock: Clock) -> None:
    def reject(body: dict[str, object]) -> int | None:
        return 400 if body["email_address"] == "su1@council.test" else None

    with notify_server() as (service, url):
        service.fail = [500]
        service.reject = reject
        first = deliver(casebook.handle, _notify(service.api_key, url), SETTINGS)  # su1's first: 500
        assert (first.sent, first.retry, first.failed) == (1, 1, 0)
        assert _rows(casebook)["registration:SO-1:su1"]["error"] == "Notify 500 Exception"
        clock.advance(61)
        second = deliver(casebook.handle, _notify(service.api_key, url), SETTINGS)  # su1's second: 400
        assert (second.sent, second.failed) == (0, 1)
    rows = _rows(casebook)
    failed = rows["registration:SO-1:su1"]
    assert failed["status"] == "failed" and failed["error"] == "Notify 400 BadRequestError"
    assert failed["attempts"] == 2
    assert rows["iro_allocated:SO-1:sw1"]["status"] == "sent"
    assert all("@" not in str(r["error"]) for r in rows.values())


def test_notify_unreachable_is_transient(casebook: Casebook) -> None:
    key = "k-" + "11111111-1111-4111-8111-111111111111" + "-" + "22222222-2222-4222-8222-222222222222"
    report = deliver(casebook.handle, _notify(key, f"http://127.0.0.1:{free_port()}"), SETTINGS)
    assert (report.retry, report.released, report.sent) == (1, 1, 0)
    assert report.reasons == {"Notify 503": 1}


# -- the command line ------------------------------------------------------------------------------------------------


def test_people_emails_and_a_delivery_pass_from_the_command_line(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, smtp: tuple[Recorder, int]
) -> None:
    recorder, port = smtp
    monkeypatch.setenv("ORDERWATCH_TODAY", "2026-11-20")
    assert cli("people", "add", "su2", "--role", "safeguarding_unit", "--email", "su2@council.test").rc == 0
    bad = cli("people", "set-email", "su1", "not an address@x")
    assert bad.rc == 2 and "not an address" not in bad.out + bad.err
    assert cli("people", "set-email", "nobody", "n@council.test").json == {"error": "unknown person 'nobody'"}
    not_admin = cli("people", "set-email", "su1", "su1@council.test", "--actor", "sw1")
    assert not_admin.rc == 2 and "only an admin may change people" in not_admin.json["error"]
    assert cli("people", "set-email", "su1", "su1@council.test").json == {"user": "su1", "email_set": True}
    reg = cli("so", "register", "--case", "SO-9", "--child", CHILD, "--order-date", "2026-01-15", "--notified-on",
              "2026-01-16", "--social-worker", "sw1", "--actor", "sw1")  # fmt: skip
    assert reg.rc == 0, reg.err
    for name in ("ORDERWATCH_SMTP_HOST", "ORDERWATCH_NOTIFY_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    held = cli("notifications", "deliver").json  # su1's and su2's registration notices, sw1's "on your behalf"
    assert (held["channel"], held["sent"], held["held"]) == (None, 0, len(cli("notifications").json))
    monkeypatch.setenv("ORDERWATCH_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("ORDERWATCH_SMTP_PORT", str(port))
    monkeypatch.setenv("ORDERWATCH_SMTP_FROM", "orderwatch@council.test")
    monkeypatch.setenv("ORDERWATCH_DESK_URL", "https://desk.council.test/")
    sent = cli("notifications", "deliver")
    assert sent.rc == 0 and sent.json["sent"] == 2, sent
    assert {m["To"] for m in recorder.messages} == {"su1@council.test", "su2@council.test"}
    listed = cli("notifications", "--recipient", "su2").json
    assert [(n["status"], n["attempts"], n["error"]) for n in listed] == [("sent", 1, None)] and listed[0]["sent_at"]
    monkeypatch.setenv("ORDERWATCH_NOTIFY_API_KEY", "not-a-key")
    both = cli("notifications", "deliver")
    assert both.rc == 2 and "ORDERWATCH_NOTIFICATIONS_CHANNEL" in both.json["error"]
    monkeypatch.setenv("ORDERWATCH_NOTIFICATIONS_CHANNEL", "notify")
    bad_key = cli("notifications", "deliver")
    assert bad_key.rc == 2 and "not-a-key" not in bad_key.out + bad_key.err


def test_status_shows_the_channel_and_the_outbox_by_status(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.setenv("ORDERWATCH_VAR", str(tmp_path))  # no Prefect here: status says so, and goes on
    for name in ("ORDERWATCH_SMTP_HOST", "ORDERWATCH_NOTIFY_API_KEY", "ORDERWATCH_NOTIFICATIONS_CHANNEL"):
        monkeypatch.delenv(name, raising=False)
    reg = cli("so", "register", "--case", "SO-9", "--child", CHILD, "--order-date", "2026-01-15", "--notified-on",
              "2026-01-16", "--social-worker", "sw1", "--actor", "sw1")  # fmt: skip
    assert reg.rc == 0
    waiting = len(cli("notifications").json)  # the registration's notice; sw1's "entered on your behalf"
    held = cli("status", json_out=False)
    assert f"  notifications    no delivery channel configured: {waiting} held (listed in orderwatch only)" in held.out
    monkeypatch.setenv("ORDERWATCH_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("ORDERWATCH_SMTP_FROM", "orderwatch@council.test")
    smtp = cli("status").json
    assert smtp["notifications"] == {"channel": "smtp", "by_status": {"pending": waiting}, "no_address": waiting}
    monkeypatch.setenv("ORDERWATCH_SMTP_FROM", "nobody")
    bad = cli("status").json
    assert "notifications cannot be delivered: ORDERWATCH_SMTP_FROM must be" in " ".join(bad["problems"])


class _Slow:
    """An SMTP sender that takes a while per message, so that two passes overlap."""

    name = "smtp"

    def __init__(self, port: int) -> None:
        self.inner = _smtp(port)

    def send(self, message: Outgoing) -> str:
        import time

        time.sleep(0.02)
        return self.inner.send(message)

    def close(self) -> None:
        self.inner.close()


def test_two_passes_at_once_send_each_message_once(casebook: Casebook, smtp: tuple[Recorder, int]) -> None:
    import threading

    recorder, port = smtp
    for n in range(2, 12):
        reg = SORegistration(f"SO-{n}", f"C-{n}", date(2026, 1, 15), notified_on=date(2026, 1, 16),
                             social_worker="sw1")  # fmt: skip
        casebook.handle(Register(actor="sw1", registration=reg, on=date(2026, 1, 16)))
    settings = DeliverySettings(batch_size=2)
    reports = []
    passes = [threading.Thread(target=lambda: reports.append(deliver(casebook.handle, _Slow(port), settings)))
              for _ in range(2)]  # fmt: skip
    for t in passes:
        t.start()
    for t in passes:
        t.join(60)
    assert len(reports) == 2 and sum(r.sent for r in reports) == 12
    assert all(r.sent > 0 for r in reports)  # both took part
    ids = [m["Message-ID"] for m in recorder.messages]
    assert len(ids) == 12 and len(set(ids)) == 12


def test_the_digest_from_the_command_line_one_per_person_per_day(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERWATCH_TODAY", "2026-11-20")
    reg = cli("so", "register", "--case", "SO-9", "--child", CHILD, "--order-date", "2026-01-15", "--notified-on",
              "2026-01-16", "--social-worker", "sw1", "--actor", "sw1")  # fmt: skip
    assert reg.rc == 0
    first = cli("notifications", "digest", "--as-of", "2026-01-19")
    assert first.json["until"] == "2026-01-26" and first.json["made"] == first.json["people"] >= 2
    assert cli("notifications", "digest", "--as-of", "2026-01-19").json["made"] == 0
    assert cli("notifications", "digest", "--as-of", "2026-01-20").json["made"] >= 2  # a new day, new digests
    mine = [n for n in cli("notifications", "--recipient", "su1").json if n["kind"] == "digest"]
    assert [n["key"] for n in mine] == ["digest:su1:2026-01-19", "digest:su1:2026-01-20"]
    assert mine[0]["subject"] == "Your work due by 26 January 2026: 1 item"
    assert "- SO-9: allocate a named IRO, due 23 January 2026\n/cases/SO-9" in mine[0]["body"]
    assert CHILD not in mine[0]["body"]
    assert cli("notifications", "digest", "--within", "61").rc == 2


def test_a_stale_claim_with_no_attempts_left_is_failed_not_sent_again(
    casebook: Casebook, smtp: tuple[Recorder, int], clock: Clock
) -> None:
    recorder, port = smtp
    settings = DeliverySettings(max_attempts=1)
    with pytest.raises(_Crash):
        deliver(casebook.handle, _SendsThenDies(_smtp(port)), settings)
    clock.advance(settings.stale_after.total_seconds() + 1)
    report = deliver(casebook.handle, _smtp(port), settings)
    rows = _rows(casebook)
    assert rows["registration:SO-1:su1"]["status"] == "failed"
    assert rows["registration:SO-1:su1"]["error"] == "claimed 1 times, no outcome recorded"
    assert report.sent == 0 and len(recorder.messages) == 1


def test_starttls_and_sign_in_as_a_council_relay_asks(casebook: Casebook, tmp_path: object) -> None:
    from tests.mail_servers import smtp_server_with_starttls_and_auth

    with smtp_server_with_starttls_and_auth(tmp_path, "orderwatch", "s3cret") as (recorder, port, ca):

        def relay(**changes: object) -> SmtpSender:
            settings = dict(host="127.0.0.1", port=port, sender="orderwatch@council.test", timeout=5, starttls=True,
                            user="orderwatch", password="s3cret", cafile=ca)  # fmt: skip
            return SmtpSender(SmtpSettings(**{**settings, **changes}))  # type: ignore[arg-type]

        now = DeliverySettings(retry_after=timedelta(0))  # each pass tries again at once
        plain = deliver(casebook.handle, relay(starttls=False), now)  # the relay wants TLS first
        assert (plain.sent, plain.retry, plain.released) == (0, 1, 1)
        wrong = deliver(casebook.handle, relay(password="wrong"), now)
        assert (wrong.sent, wrong.retry) == (0, 1)  # sign-in refused (535, then the relay hangs up): transient
        untrusted = deliver(casebook.handle, relay(cafile=None), now)
        assert untrusted.sent == 0 and list(untrusted.reasons) == ["relay unavailable (SSLCertVerificationError)"]
        assert recorder.messages == []
        good = deliver(casebook.handle, relay(), now)
        assert good.sent == 2 and len(recorder.messages) == 2


def test_a_fault_in_the_channel_is_retried_with_its_class_only(casebook: Casebook) -> None:
    class Broken:
        name = "smtp"

        def send(self, message: Outgoing) -> str:
            raise ValueError(f"cannot encode {message.email}")  # a fault's own text may quote the address

        def close(self) -> None:
            pass

    report = deliver(casebook.handle, Broken(), SETTINGS)
    assert (report.retry, report.reasons) == (2, {"unexpected ValueError": 2})
    assert all(r["status"] in ("retry", "pending") and "@" not in str(r["error"]) for r in _rows(casebook).values())


def test_notify_429_is_retried_and_the_rest_of_the_pass_waits(casebook: Casebook, clock: Clock) -> None:
    with notify_server() as (service, url):
        service.fail = [429]
        first = deliver(casebook.handle, _notify(service.api_key, url), SETTINGS)
        assert (first.sent, first.retry, first.released) == (0, 1, 1)
        assert first.reasons == {"Notify 429 RateLimitError": 1}
        clock.advance(61)
        assert deliver(casebook.handle, _notify(service.api_key, url), SETTINGS).sent == 2
    assert len(service.received) == 2
