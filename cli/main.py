"""The ``orderwatch`` command line (DESIGN.md: a contract — names, options, JSON shapes and exit codes are stable).

Exit status: 0 done; 2 refused (bad input, unknown case or person, illegal event, actor not allowed) with one line
on stderr (and ``{"error": ...}`` on stdout with ``--json``) and nothing changed; 1 an internal fault, whose line
carries a correlation id and never personal data (the detail is in the local fault log, ``storage.errors``).

Thin: parse, build one command or query, hand it to the casebook, print its typed result. Heavy modules are
imported only by the subcommands that need them (the common ones answer in a fraction of a second).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from cli.dispatch import run_on_database
from cli.output import plain, print_human
from cli.parser import build_parser
from machines.errors import Refused

__all__ = ["entry", "main"]

# psycopg reports an aborted pipeline through its logger as well as by raising; the command line says it once
logging.getLogger("psycopg").addHandler(logging.NullHandler())


def run(args: argparse.Namespace) -> Any:
    """Carry out one parsed command; returns what to print (plain data, or a typed result with ``as_json``)."""
    if args.command == "diagram":
        from cli.diagrams import render

        return render(args.machine, args.format)
    if args.command == "up":
        from cli.up import up

        return up(db=getattr(args, "db", None), demo=args.demo, port=args.port, desk_port=args.desk_port)
    if args.command == "simulate":
        from cli.simulate import run_simulation

        return run_simulation(args)
    if args.command in ("status", "env", "worker"):
        return _operate(args)
    return run_on_database(args)


def _operate(args: argparse.Namespace) -> Any:
    """The operator's commands: status, env, worker."""
    if getattr(args, "db", None):
        os.environ["ORDERWATCH_DATABASE_URL"] = args.db
    if args.command == "status":
        from cli.status import status

        return status()
    if args.command == "env":
        from cli.secure import env_lines

        return "\n".join(env_lines())
    from cli.worker import worker

    worker(args.pool, with_catch_up=not args.no_catch_up)  # becomes the worker: never returns


_LINE = 500  # the longest error line printed: echoed values are cut where they are echoed, this is the backstop


def _one_line(message: str) -> str:
    """Every character that is not printable (newlines, control, bidi, zero-width, lone surrogates) escaped, and the
    line cut: a refusal's line is safe to show in a terminal and a log whatever was typed."""
    line = "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)
    return line if len(line) <= _LINE else line[: _LINE - 3] + "..."


def _fail(message: str, want_json: bool, status: int) -> int:
    message = _one_line(message)
    try:
        print(f"orderwatch: {message}", file=sys.stderr)
        if want_json:
            print(json.dumps({"error": message}))
    except BrokenPipeError:
        _quiet_stdout()
    return status


def _quiet_stdout() -> None:
    """The reader went away (``orderwatch history X | head``): send what is left, and Python's flush at exit, to
    /dev/null instead of a BrokenPipeError traceback."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # pragma: no cover - stdout is not a file (captured in tests)
        pass


def _internal(exc: Exception) -> str:
    """An internal fault's one line: never the exception's own text (a database error can quote personal data)."""
    from cli.dispatch import ReplayDiffers
    from storage.errors import Fault, record_fault

    if isinstance(exc, (Fault, ReplayDiffers)):  # messages orderwatch wrote, with references and ids only
        return str(exc)
    correlation_id = record_fault(exc, "orderwatch command line")
    return (
        f"internal error ({type(exc).__name__}; correlation id {correlation_id}; the detail is in the local fault log)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    want_json = "--json" in argv
    try:
        args = build_parser().parse_args(argv)
        raw = run(args)
        result = plain(raw)
    except Refused as exc:
        return _fail(str(exc), want_json, 2)
    except Exception as exc:  # an internal fault: one line, exit 1 (ORDERWATCH_DEBUG=1 for the traceback)
        if os.environ.get("ORDERWATCH_DEBUG"):
            raise
        return _fail(_internal(exc), want_json, 1)
    if args.command == "status":  # exit 1 when something needs attention
        print(json.dumps(result.as_dict()) if want_json else "\n".join(result.lines()))
        return 1 if result.problems else 0
    if args.command == "verify":  # exit 1 naming the first broken link
        print(json.dumps(result) if want_json else "\n".join(raw.lines()))
        return 0 if raw.ok else 1
    try:
        if want_json:
            print(json.dumps(result, default=str))
        else:
            print_human(result)
        sys.stdout.flush()
    except BrokenPipeError:
        _quiet_stdout()
    return 0


def entry() -> int:
    """The ``orderwatch`` console script: files and folders it (and every process it starts — Prefect's server,
    workers, the desk) creates are its owner's only (0600/0700): the database, backups, logs, credentials."""
    os.umask(0o077)
    return main()


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(entry())
