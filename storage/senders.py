"""Delivery channels: one small protocol (``Sender``) and its two implementations, SMTP and GOV.UK Notify.

A sender sends one message and answers the provider's id for it, or raises ``Transient`` (worth trying again
later: an SMTP 4xx, a relay that cannot be reached or times out, Notify 5xx or 429) or ``Permanent`` (trying again
cannot help: an SMTP 5xx for the recipient or the message, Notify 400 or 403). Their ``reason`` is kept on the
notification row, so it is written here from codes and class names only — never the provider's own text, which can
quote the address back.

The notification's key names the message for the provider: the SMTP ``Message-ID`` is made from it and GOV.UK
Notify gets it as the ``reference``, so a message sent twice (the at-least-once window of ``storage.delivery``) is
recognisable as one.
"""

from __future__ import annotations

import hashlib
import logging
import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any, Protocol

__all__ = [
    "NotifySender",
    "NotifySettings",
    "Outgoing",
    "Permanent",
    "Sender",
    "SmtpSender",
    "SmtpSettings",
    "Transient",
    "message_id",
]

# notifications-python-client logs a failed request with Notify's error message, which can quote what was sent
logging.getLogger("notifications_python_client").setLevel(logging.CRITICAL)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to send: a claimed notification with its recipient's address, links made absolute."""

    id: int
    key: str
    recipient: str
    email: str
    subject: str
    body: str
    attempt: int  # this attempt's number (1 = first)
    claimed_at: datetime  # the claim's instant: the message's Date, and the token that marks it


class Transient(Exception):
    """Try again later. ``channel_down``: the channel itself is unavailable, so the rest of the pass waits too."""

    def __init__(self, reason: str, *, channel_down: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.channel_down = channel_down


class Permanent(Exception):
    """Trying again cannot help (the recipient or the message was refused)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Sender(Protocol):
    """A delivery channel: ``send`` answers the provider's id of the message, or raises ``Transient``/``Permanent``."""

    name: str

    def send(self, message: Outgoing) -> str: ...

    def close(self) -> None: ...


def message_id(key: str, domain: str) -> str:
    """The ``Message-ID`` of a notification: the same for every attempt, so a duplicate shows as one.

    >>> message_id("escalation:7:L1:tm1", "council.gov.uk")
    '<orderwatch.888c11cb0e22fb8b5c681fcceab805ba@council.gov.uk>'
    """
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"<orderwatch.{digest}@{domain}>"


# -- SMTP ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """An SMTP relay: ``ORDERWATCH_SMTP_*`` (``storage.config.delivery_channel``). The password only from the
    environment."""

    host: str
    sender: str  # the From address
    port: int = 25
    starttls: bool = False
    tls: bool = False  # implicit TLS (SMTPS, port 465)
    user: str | None = None
    password: str | None = None
    timeout: float = 30.0
    cafile: str | None = None  # the relay's CA, where it is not among the system's


class SmtpSender:
    """Sends through one SMTP connection for the pass (opened on the first message, reopened after an error)."""

    name = "smtp"

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        if self._smtp is not None:
            return self._smtp
        s = self.settings
        context = ssl.create_default_context(cafile=s.cafile)
        smtp = (
            smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=context)
            if s.tls
            else smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        )
        try:
            if s.starttls and not s.tls:
                smtp.starttls(context=context)
            if s.user:
                smtp.login(s.user, s.password or "")
        except BaseException:
            smtp.close()
            raise
        self._smtp = smtp
        return smtp

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()

    def _drop(self) -> None:
        """After an error the connection's state is unknown: close it, the next message opens another."""
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()

    def send(self, message: Outgoing) -> str:
        domain = self.settings.sender.rpartition("@")[2] or "orderwatch.invalid"
        mid = message_id(message.key, domain)
        email = EmailMessage()
        email["From"] = self.settings.sender
        email["To"] = message.email
        email["Subject"] = message.subject
        email["Date"] = format_datetime(message.claimed_at)
        email["Message-ID"] = mid
        email["X-Orderwatch-Notification"] = message.key  # references and user names only
        email.set_content(message.body)
        try:
            self._connect().send_message(email)
        except smtplib.SMTPRecipientsRefused as exc:
            self._drop()
            code = min((c for c, _ in exc.recipients.values()), default=0)
            if 500 <= code < 600:
                raise Permanent(f"recipient refused (SMTP {code})") from None
            raise Transient(f"recipient deferred (SMTP {code})") from None
        except smtplib.SMTPDataError as exc:
            self._drop()
            if 500 <= exc.smtp_code < 600:
                raise Permanent(f"message refused (SMTP {exc.smtp_code})") from None
            raise Transient(f"message deferred (SMTP {exc.smtp_code})") from None
        except smtplib.SMTPResponseException as exc:  # the sender refused, sign-in refused, 421 at any point
            self._drop()
            raise Transient(f"relay answered SMTP {exc.smtp_code}", channel_down=True) from None
        except (smtplib.SMTPException, OSError) as exc:  # refused, unreachable, timed out, disconnected, TLS
            self._drop()
            raise Transient(f"relay unavailable ({type(exc).__name__})", channel_down=True) from None
        return mid


# -- GOV.UK Notify ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NotifySettings:
    """GOV.UK Notify: the API key (from the environment only), one e-mail template whose body is ``((body))`` and
    subject ``((subject))``, and the API's base URL."""

    api_key: str
    template_id: str
    base_url: str = "https://api.notifications.service.gov.uk"
    timeout: float = 30.0


def _notify_error(exc: Any) -> str:
    """The error's class as Notify names it (``BadRequestError``, ``RateLimitError``…), never its message."""
    try:
        errors = exc.response.json().get("errors") or []
        name = str(errors[0].get("error", ""))
    except (AttributeError, ValueError, IndexError, TypeError):
        return ""
    return name if name.isidentifier() and len(name) <= 40 else ""


class NotifySender:
    """Sends through notifications-python-client: ``POST /v2/notifications/email`` with the key as ``reference``."""

    name = "notify"

    def __init__(self, settings: NotifySettings) -> None:
        from notifications_python_client.notifications import NotificationsAPIClient

        self.settings = settings
        self._client = NotificationsAPIClient(  # type: ignore[no-untyped-call]
            settings.api_key, base_url=settings.base_url, timeout=settings.timeout
        )

    def close(self) -> None:
        self._client.request_session.close()

    def send(self, message: Outgoing) -> str:
        from notifications_python_client.errors import APIError

        try:
            answer = self._client.send_email_notification(  # type: ignore[no-untyped-call]
                email_address=message.email,
                template_id=self.settings.template_id,
                personalisation={"subject": message.subject, "body": message.body},
                reference=message.key,
            )
        except APIError as exc:
            code = int(exc.status_code)
            what = f"Notify {code}" + (f" {name}" if (name := _notify_error(exc)) else "")
            if code == 429 or code >= 500:
                # 503 is also how the client reports a connection that failed or timed out
                raise Transient(what, channel_down=code in (429, 503)) from None
            raise Permanent(what) from None
        try:
            return str(answer["id"])[:100]
        except (KeyError, TypeError):
            return ""
