"""Delivery throughput: notifications sent through a real SMTP server (aiosmtpd on 127.0.0.1) by the delivery pass.

    .venv/bin/python -m bench.delivery [--notices 2000] [--pg postgresql://postgres@127.0.0.1:5432/test]

A fresh SQLite database under ``var/bench`` (and, with ``--pg``, a fresh schema there): ``--notices`` Supervision
Orders registered in one batch, each writing its registration notice to the Safeguarding Unit (who has an address);
then one delivery pass (``storage.delivery.deliver``: claims of 20, one SMTP connection, each message marked as soon
as it is sent). Prints JSON: messages, seconds, messages per second, per backend.
"""

from __future__ import annotations

import argparse
import socket
import time
import uuid
from datetime import date
from typing import Any

import sqlalchemy as sa
from aiosmtpd.controller import Controller

from bench._caseload import VAR, clock, emit, log
from machines.supervision_order import SORegistration
from storage.casebook import Casebook
from storage.commands import AddPerson, Register
from storage.db import make_engine
from storage.delivery import DeliverySettings, deliver
from storage.migrate import upgrade
from storage.senders import SmtpSender, SmtpSettings


class _Count:
    def __init__(self) -> None:
        self.received = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received += 1
        return "250 OK"


def _run(url: str, notices: int, port: int, counter: _Count) -> dict[str, Any]:
    engine = make_engine(url)
    upgrade(engine)
    book = Casebook(engine, clock=clock)
    book.handle(AddPerson(actor="bench", user="sw1", role="social_worker"))
    book.handle(AddPerson(actor="bench", user="su1", role="safeguarding_unit", email="su1@council.test"))
    registrations = [
        Register(actor="sw1", on=date(2026, 1, 16), registration=SORegistration(
            f"SO-{n}", f"C-{n}", date(2026, 1, 15), notified_on=date(2026, 1, 16), social_worker="sw1"))
        for n in range(notices)
    ]  # fmt: skip
    book.handle_all(registrations)
    before = counter.received
    sender = SmtpSender(SmtpSettings(host="127.0.0.1", port=port, sender="orderwatch@council.test"))
    started = time.perf_counter()
    report = deliver(book.handle, sender, DeliverySettings(), limit=notices)
    seconds = time.perf_counter() - started
    engine.dispose()
    if report.sent != notices or counter.received - before != notices:
        raise SystemExit(f"sent {report.sent}, received {counter.received - before}, expected {notices}")
    return {"messages": notices, "seconds": round(seconds, 2), "per_second": round(notices / seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notices", type=int, default=2000)
    parser.add_argument("--pg", metavar="URL", help="also on PostgreSQL (a fresh schema, dropped afterwards)")
    args = parser.parse_args()
    counter = _Count()
    with socket.socket() as probe:  # a free port (aiosmtpd's controller checks it is up by connecting to it)
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    controller = Controller(counter, hostname="127.0.0.1", port=port)
    controller.start()
    result: dict[str, Any] = {"benchmark": "delivery", "notices": args.notices}
    try:
        path = VAR / "delivery.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        for stale in path.parent.glob("delivery.db*"):
            stale.unlink()
        log(f"SQLite: {args.notices} notices")
        result["sqlite"] = _run(f"sqlite:///{path.resolve()}", args.notices, port, counter)
        if args.pg:
            schema = f"ow_bench_{uuid.uuid4().hex[:8]}"
            admin = make_engine(args.pg)
            with admin.begin() as c:
                c.execute(sa.text(f"CREATE SCHEMA {schema}"))
            try:
                log(f"PostgreSQL: {args.notices} notices")
                result["postgresql"] = _run(f"{args.pg}?options=-csearch_path%3D{schema}", args.notices, port,
                                            counter)  # fmt: skip
            finally:
                with admin.begin() as c:
                    c.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
                admin.dispose()
    finally:
        controller.stop()
    emit(result)


if __name__ == "__main__":
    main()
