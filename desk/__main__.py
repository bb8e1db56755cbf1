"""``python -m desk``: serve the desk with uvicorn on 127.0.0.1 (``--port``, else ``ORDERWATCH_DESK_PORT``, 8000).

Settings come from the environment (``desk.settings``). ``--demo`` signs people in from generated demo accounts
(their password is printed); without it no one can sign in until the accounts of issue 13 are wired in.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys

import uvicorn

from desk.app import DeskServices, create_app
from desk.auth.local import NoAccounts
from desk.settings import DeskSettings, SettingsError


def main(argv: list[str] | None = None) -> int:
    """Parse the options, validate the settings (exit 2 in one line if wrong), and serve until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m desk", description="Serve the orderwatch desk.")
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default 8000)")
    parser.add_argument("--demo", action="store_true", help="demo accounts tm1, hos1, admin1 (password printed)")
    parser.add_argument(
        "--forwarded-allow-ips",
        help="reverse proxies whose X-Forwarded-For/-Proto are trusted (the client address is rate-limited)",
    )
    args = parser.parse_args(argv)
    try:
        settings = DeskSettings.from_env(os.environ)
        settings = dataclasses.replace(
            settings, host=args.host or settings.host, port=args.port if args.port is not None else settings.port
        ).validate()
    except SettingsError as exc:
        print(f"desk: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.demo:
        from desk.dev.demo import DEMO_PEOPLE, demo_services

        services, password = demo_services(os.environ.get("ORDERWATCH_DESK_DEMO_PASSWORD"))
        names = ", ".join(p.id for p in DEMO_PEOPLE)
        print(f"desk: demo accounts {names}; password {password}", file=sys.stderr)
    else:
        nobody = NoAccounts()
        services = DeskServices(people=nobody, authenticator=nobody)
        print("desk: no accounts are wired in yet, so no one can sign in (try --demo)", file=sys.stderr)
    print(f"desk: http://{settings.host}:{settings.port}", file=sys.stderr)
    uvicorn.run(
        create_app(settings, services),
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
