"""Real servers for the delivery tests, started by the tests on 127.0.0.1.

- ``smtp_server``: aiosmtpd's SMTP server with a handler that records each message and can answer RCPT with a
  scripted reply (``421`` once, ``550`` for an address…).
- ``notify_server``: a small HTTP server speaking GOV.UK Notify's ``POST /v2/notifications/email``: it checks the
  bearer token as Notify does (HS256 JWT, ``iss`` the service id, ``iat`` within 30 s, signed with the key's secret,
  via notifications-python-client's own ``decode_jwt_token``) and answers 201 with a notification id — or a scripted
  error status with Notify's error body.
"""

from __future__ import annotations

import json
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Recorder:
    """What the SMTP server received, and what it is told to answer (``rcpt``: address -> replies, used in turn;
    the last one stays)."""

    messages: list[Message] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    rcpt: dict[str, list[str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        with self.lock:
            replies = self.rcpt.get(address)
            reply = (replies.pop(0) if len(replies) > 1 else replies[0]) if replies else "250 OK"
        if reply.startswith("250"):
            envelope.rcpt_tos.append(address)
        return reply

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.messages.append(message_from_bytes(envelope.content))
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[Message]:
        with self.lock:
            return [m for m in self.messages if m["To"] == address]


@contextmanager
def smtp_server() -> Iterator[tuple[Recorder, int]]:
    recorder = Recorder()
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield recorder, port
    finally:
        controller.stop()


@dataclass
class NotifyService:
    """The fake Notify's state: the service id and secret its API key carries, what it received, scripted errors
    (``fail``: a list of statuses answered in turn before it accepts again)."""

    service_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    secret: str = field(default_factory=lambda: str(uuid.uuid4()))
    received: list[dict[str, Any]] = field(default_factory=list)
    fail: list[int] = field(default_factory=list)
    reject: Callable[[dict[str, Any]], int | None] = lambda body: None
    tokens_rejected: int = 0

    @property
    def api_key(self) -> str:
        return f"orderwatch_test-{self.service_id}-{self.secret}"


_ERRORS = {400: "BadRequestError", 403: "AuthError", 429: "RateLimitError", 500: "Exception"}


def _handler(service: NotifyService) -> type[BaseHTTPRequestHandler]:
    from notifications_python_client.authentication import decode_jwt_token, get_token_issuer
    from notifications_python_client.errors import TokenError

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, message: str) -> None:
            self._answer(status, {"status_code": status,
                                  "errors": [{"error": _ERRORS.get(status, "Exception"), "message": message}]})  # fmt: skip

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            auth = self.headers.get("Authorization", "")
            if not auth.startswith("Bearer "):
                self._error(401, "Unauthorized: authentication token must be provided")
                return
            token = auth.removeprefix("Bearer ")
            try:
                if get_token_issuer(token) != service.service_id:
                    raise TokenError("Invalid token: service not found")
                decode_jwt_token(token, service.secret)
            except TokenError as exc:
                service.tokens_rejected += 1
                self._error(403, exc.message)
                return
            if self.path != "/v2/notifications/email":
                self._error(404, "Not found")
                return
            if service.fail:
                self._error(service.fail.pop(0), "scripted failure for " + str(body.get("email_address")))
                return
            status = service.reject(body)
            if status is not None:
                self._error(status, "email_address Not a valid email address: " + str(body.get("email_address")))
                return
            service.received.append(body)
            nid = str(uuid.uuid4())
            self._answer(201, {
                "id": nid, "reference": body.get("reference"),
                "content": {"subject": body["personalisation"]["subject"], "body": body["personalisation"]["body"],
                            "from_email": "orderwatch@notifications.service.gov.uk"},
                "uri": f"http://127.0.0.1/v2/notifications/{nid}",
                "template": {"id": body["template_id"], "version": 1, "uri": "http://127.0.0.1/template"},
            })  # fmt: skip

    return Handler


@contextmanager
def notify_server() -> Iterator[tuple[NotifyService, str]]:
    service = NotifyService()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(service))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield service, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def make_ca_and_cert(folder: Any) -> tuple[str, str, str]:
    """A CA and a certificate for 127.0.0.1 signed by it (PEM files in ``folder``): (ca, cert, key)."""
    from datetime import UTC, datetime, timedelta
    from ipaddress import IPv4Address
    from pathlib import Path

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.now(UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "orderwatch test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
          .not_valid_after(now + timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))  # fmt: skip
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))  # fmt: skip
    folder = Path(folder)
    paths = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    return str(paths[0]), str(paths[1]), str(paths[2])


@contextmanager
def smtp_server_with_starttls_and_auth(folder: Any, user: str, password: str) -> Iterator[tuple[Recorder, int, str]]:
    """aiosmtpd requiring STARTTLS before anything else and AUTH (LOGIN/PLAIN) after it; yields the CA file too."""
    import ssl

    from aiosmtpd.smtp import AuthResult, LoginPassword

    ca, cert, key = make_ca_and_cert(folder)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (user.encode(), password.encode())
        return AuthResult(success=ok)

    recorder = Recorder()
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True,
                            authenticator=authenticate, auth_require_tls=True)  # fmt: skip
    controller.start()
    try:
        yield recorder, port, ca
    finally:
        controller.stop()
