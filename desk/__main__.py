"""``python -m desk``: serve the desk with uvicorn on 127.0.0.1 (``--port``, else ``ORDERWATCH_DESK_PORT``, 8000).

Settings come from the environment (``desk.settings``); the casebook is orderwatch's database
(``ORDERWATCH_DATABASE_URL``, else ``var/orderwatch.db``), its people are the desk's people. ``--demo`` serves a
fresh demo caseload (``var/desk-demo.db``, "today" 20 November 2026) whose people sign in with a generated password
(printed); without it people sign in with their accounts in orderwatch's database (``desk.auth.stored``: an admin
gives each a one-time link, ``orderwatch people issue-link USER``). With ``PREFECT_API_URL`` set,
each action is reported to Prefect's Event Feed (best effort; ``PREFECT_API_AUTH_STRING`` for basic auth).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys

import uvicorn

from desk.app import create_app
from desk.auth.stored import StoredAccounts
from desk.events import ActionEvents, NoActionEvents, PrefectActionEvents
from desk.services import DeskServices
from desk.settings import DeskSettings, SettingsError
from storage.clock import now


def main(argv: list[str] | None = None) -> int:
    """Parse the options, validate the settings (exit 2 in one line if wrong), and serve until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m desk", description="Serve the orderwatch desk.")
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default 8000)")
    parser.add_argument("--demo", action="store_true", help="a demo caseload and accounts (password printed)")
    parser.add_argument(
        "--forwarded-allow-ips",
        help="reverse proxies whose X-Forwarded-For/-Proto are trusted (the client address is rate-limited)",
    )
    args = parser.parse_args(argv)
    os.umask(0o077)  # what the desk creates (a SQLite file, logs) is its owner's only
    try:
        settings = DeskSettings.from_env(os.environ)
        settings = dataclasses.replace(
            settings, host=args.host or settings.host, port=args.port if args.port is not None else settings.port
        ).validate()
    except SettingsError as exc:
        print(f"desk: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    prefect = os.environ.get("PREFECT_API_URL")
    events: ActionEvents = (
        PrefectActionEvents(prefect, auth=os.environ.get("PREFECT_API_AUTH_STRING")) if prefect else NoActionEvents()
    )
    today = None
    if args.demo:
        from desk.dev.demo import DEMO_PEOPLE, demo_services, demo_today

        services, password = demo_services(os.environ.get("ORDERWATCH_DESK_DEMO_PASSWORD"), events=events)
        today = demo_today
        names = ", ".join(p.id for p in DEMO_PEOPLE)
        print(f"desk: demo accounts {names}; password {password}", file=sys.stderr)
    else:
        from storage.casebook import Casebook
        from storage.clock import today as london_today
        from storage.db import database_url, make_engine
        from storage.migrate import upgrade

        engine = make_engine(database_url())
        upgrade(engine)
        book = Casebook(engine, clock=now)
        accounts = StoredAccounts(book)
        services = DeskServices(people=accounts, authenticator=accounts, oidc_people=accounts, casebook=book,
                                events=events)  # fmt: skip
        today = london_today  # honours ORDERWATCH_TODAY, as the command line does
        print("desk: people sign in with their accounts (an admin gives each a one-time link: "
              "orderwatch people issue-link USER)", file=sys.stderr)  # fmt: skip
    print(f"desk: http://{settings.host}:{settings.port}", file=sys.stderr)
    uvicorn.run(
        create_app(settings, services, today=today),
        host=settings.host,
        port=settings.port,
        access_log=False,
        server_header=False,
        proxy_headers=args.forwarded_allow_ips is not None,
        forwarded_allow_ips=args.forwarded_allow_ips,
        log_level="info",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
