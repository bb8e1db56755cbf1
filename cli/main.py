"""The ``orderwatch`` command line (DESIGN.md: a contract — names, options, JSON shapes and exit codes are stable).

Exit status: 0 done; 2 refused (bad input, unknown case or person, illegal event, actor not allowed) with one line
on stderr (and ``{"error": ...}`` on stdout with ``--json``) and nothing changed; 1 an internal fault.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict
from datetime import date
from typing import Any, NoReturn

from sqlalchemy.exc import OperationalError

from cli import clock
from cli.config import load_policy
from machines.calendar import parse_date
from machines.casework import CpIsoRegistration, SORegistration
from machines.errors import Refused
from storage.casebook import Casebook, parse_escalation_id
from storage.db import make_engine, upgrade

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage fault is one line and exit 2, like every other refusal."""

    def error(self, message: str) -> NoReturn:
        # main() prefixes "orderwatch: "; name the subcommand without repeating the program name
        command = self.prog.removeprefix("orderwatch").strip()
        raise Refused(f"{command}: {message}" if command else message)


def _date(text: str) -> date:
    try:
        return parse_date(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _common() -> _Parser:
    common = _Parser(add_help=False)
    # SUPPRESS: given before or after the subcommand, neither placement overwrites the other with a default.
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="one JSON document on stdout")
    common.add_argument(
        "--db",
        metavar="URL",
        default=argparse.SUPPRESS,
        help="database URL (default: $ORDERWATCH_DATABASE_URL, else a SQLite file under ./var/)",
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    parser = _Parser(prog="orderwatch", description=__doc__, parents=[common])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    people = sub.add_parser("people", help="the people who use orderwatch").add_subparsers(
        dest="people_command", required=True, parser_class=_Parser
    )
    add = people.add_parser("add", parents=[common], help="add a person with a role")
    add.add_argument("user")
    add.add_argument("--role", required=True)
    add.add_argument("--manager")
    people.add_parser("list", parents=[common], help="list people")

    so = sub.add_parser("so", help="Supervision Order cases").add_subparsers(
        dest="so_command", required=True, parser_class=_Parser
    )
    reg = so.add_parser("register", parents=[common], help="register a final Supervision Order")
    reg.add_argument("--case", required=True)
    reg.add_argument("--child", required=True)
    reg.add_argument("--order-date", required=True, type=_date)
    reg.add_argument("--expiry", type=_date)
    reg.add_argument("--dob", type=_date)
    reg.add_argument("--notified-on", type=_date)
    reg.add_argument("--social-worker")
    reg.add_argument("--actor", required=True)

    cp = sub.add_parser("cp-iso", help="CP plan + Interim Supervision Order cases").add_subparsers(
        dest="cp_command", required=True, parser_class=_Parser
    )
    creg = cp.add_parser("register", parents=[common], help="register a CP + ISO case")
    creg.add_argument("--case", required=True)
    creg.add_argument("--child", required=True)
    creg.add_argument("--iso-date", required=True, type=_date)
    creg.add_argument("--next-review", required=True, type=_date)
    for name in ("--last-review", "--icpc", "--issued", "--cmh", "--irh", "--final-hearing", "--dob"):
        creg.add_argument(name, type=_date)
    creg.add_argument("--social-worker")
    creg.add_argument("--actor", required=True)

    fire = sub.add_parser("fire", parents=[common], help="record an event on a case (or an escalation)")
    fire.add_argument("ref", help="case reference, or ESC-<id> for an escalation")
    fire.add_argument("event")
    fire.add_argument("--actor", required=True)
    fire.add_argument("--on", type=_date, help="the date it happened (default: today)")
    fire.add_argument("--set", dest="fields", action="extend", nargs="+", default=[], metavar="KEY=VALUE")

    sweep = sub.add_parser("sweep", parents=[common], help="let every deadline due before the date pass")
    sweep.add_argument("--as-of", type=_date, help="default: today")
    sweep.add_argument("--batch-size", type=int, default=500)

    show = sub.add_parser("show", parents=[common], help="a case: state, dates, deadlines, escalations")
    show.add_argument("ref")
    show.add_argument("--actor", help="who is reading (default: $ORDERWATCH_ACTOR or the login name)")
    history = sub.add_parser("history", parents=[common], help="a case's event log, oldest first")
    history.add_argument("ref")
    history.add_argument("--actor", help="who is reading (default: $ORDERWATCH_ACTOR or the login name)")

    work = sub.add_parser("worklist", parents=[common], help="what is overdue or due soon")
    work.add_argument("--as-of", type=_date)
    work.add_argument("--within", type=int, default=7, metavar="DAYS")
    work.add_argument("--role")

    esc = sub.add_parser("escalations", parents=[common], help="escalations")
    esc.add_argument("--open", action="store_true", help="only those not yet resolved")

    diagram = sub.add_parser("diagram", parents=[common], help="draw a machine")
    diagram.add_argument("machine", choices=["so", "cp-iso", "escalation"])
    diagram.add_argument("--format", choices=["mermaid", "dot", "svg"], default="mermaid")

    replay = sub.add_parser("replay", parents=[common], help="check that a case's log reproduces it")
    replay.add_argument("ref")

    sim = sub.add_parser("simulate", parents=[common], help="a synthetic caseload lived day by day")
    sim.add_argument("--cases", type=int, required=True, help="cases opened over the period")
    sim.add_argument("--years", type=float, default=1.0)
    sim.add_argument("--seed", type=int, default=0)
    sim.add_argument("--start", type=_date, default=date(2025, 1, 1), help="first simulated day")
    sim.add_argument("--behaviour", metavar="TOML", help="response distributions and decision shares")
    sim.add_argument("--replay-sample", type=int, default=200, metavar="N")
    sim.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")

    up = sub.add_parser("up", parents=[common], help="the main job: Prefect server, deployments, worker")
    up.add_argument("--demo", action="store_true", help="also load the demo caseload")
    up.add_argument("--port", type=int, default=4200)

    notes = sub.add_parser("notifications", parents=[common], help="escalations raised to people, operators' alarms")
    notes.add_argument("--recipient", metavar="USER", help="only this person's")
    sub.add_parser("status", parents=[common], help="is all well? exit 1, one line per problem, when not")
    sub.add_parser("env", help='export lines for a new shell: eval "$(.venv/bin/orderwatch env)"')
    worker = sub.add_parser("worker", parents=[common], help="a Prefect worker for the pool (catches up first)")
    worker.add_argument("--pool", default="orderwatch")
    worker.add_argument("--no-catch-up", action="store_true", help="do not start a catch-up sweep")
    return parser


def _fields(pairs: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise Refused(f"--set takes KEY=VALUE, got {pair!r}")
        if key in out:
            raise Refused(f"--set {key} given twice")
        out[key] = value
    return out


def _reader(actor: str | None) -> str:
    return actor or os.environ.get("ORDERWATCH_ACTOR") or getpass.getuser()


def _not_future(on: date, what: str) -> date:
    today = clock.today()
    if on > today:
        raise Refused(f"{what} {on} is in the future (today is {today})")
    return on


def run(args: argparse.Namespace) -> Any:
    """Carry out one parsed command; returns what to print."""
    if args.command == "diagram":
        from cli.diagrams import render

        return render(args.machine, args.format)
    if args.command == "up":
        from cli.up import up

        return up(db=getattr(args, "db", None), demo=args.demo, port=args.port)
    if args.command == "simulate":
        return _simulate(args)
    if args.command in ("status", "env", "worker"):
        return _operate(args)
    engine = make_engine(getattr(args, "db", None))
    try:
        upgrade(engine)
        if args.command == "notifications":
            from storage.operations import Operations

            found = Operations(engine, clock=clock.now).notifications(recipient=args.recipient)
            return [{**asdict(n), "created_at": n.created_at.isoformat(timespec="seconds")} for n in found]
        return _run_on(Casebook(engine, load_policy(), clock=clock.now), args)
    finally:
        engine.dispose()


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

    worker(args.pool, with_catch_up=not args.no_catch_up)


def _simulate(args: argparse.Namespace) -> Any:
    from pathlib import Path

    from pydantic import ValidationError

    from cli.simulate import Behaviour, progress_bar, simulate

    try:
        behaviour = Behaviour.from_toml(Path(args.behaviour)) if args.behaviour else Behaviour()
    except (OSError, ValueError, ValidationError) as exc:
        raise Refused(f"--behaviour {args.behaviour}: {str(exc).splitlines()[0]}") from None
    url = getattr(args, "db", None)
    if url is None:  # never the working database: a file of its own, started afresh
        path = Path("var") / f"simulate-{args.seed}.db"
        path.parent.mkdir(exist_ok=True)
        for stale in path.parent.glob(path.name + "*"):
            stale.unlink()
        url = f"sqlite:///{path}"
    engine = make_engine(url)
    try:
        upgrade(engine)
        with progress_bar(not args.no_progress and sys.stderr.isatty()) as progress:
            result = simulate(engine, load_policy(), cases=args.cases, years=args.years, seed=args.seed,
                              start=args.start, behaviour=behaviour, replay_sample=args.replay_sample,
                              progress=progress).as_dict()  # fmt: skip
    finally:
        engine.dispose()
    result["database"] = url
    if not result["replay_check"]["ok"]:
        raise RuntimeError(f"replaying sampled logs did not reproduce {result['replay_check']['differ']}")
    return result


def _run_on(book: Casebook, args: argparse.Namespace) -> Any:
    today = clock.today()
    if args.command == "people":
        if args.people_command == "list":
            return book.people()
        return book.add_person(args.user, args.role, args.manager, actor=_reader(None))
    if args.command == "so":
        reg = SORegistration(args.case, args.child, args.order_date, args.expiry, args.dob, args.notified_on,
                             args.social_worker)  # fmt: skip
        # The case opens on the day the Safeguarding Unit was notified (default: today).
        return book.register_so(reg, args.actor, _not_future(args.notified_on or today, "--notified-on"))
    if args.command == "cp-iso":
        creg = CpIsoRegistration(args.case, args.child, args.iso_date, args.next_review, args.last_review, args.icpc,
                                 args.issued, args.cmh, args.irh, args.final_hearing, args.dob,
                                 args.social_worker)  # fmt: skip
        # The case opens on the day the ISO was granted.
        return book.register_cp_iso(creg, args.actor, _not_future(args.iso_date, "--iso-date"))
    if args.command == "fire":
        on = _not_future(args.on or today, "--on")
        fields = _fields(args.fields)
        esc = parse_escalation_id(args.ref)
        if esc is not None:
            return book.fire_escalation(esc, args.event, fields, args.actor, on)
        return book.fire(args.ref, args.event, fields, args.actor, on)
    if args.command == "sweep":
        if args.batch_size < 1:
            raise Refused("--batch-size must be at least 1")
        # A sweep for a future date would call deadlines missed before their day is over.
        as_of = _not_future(args.as_of or today, "--as-of")
        return book.sweep(as_of, batch_size=args.batch_size).as_dict()
    if args.command == "show":
        return book.show(args.ref, _reader(args.actor))
    if args.command == "history":
        return book.history(args.ref, _reader(args.actor))
    if args.command == "worklist":
        if args.within < 0:
            raise Refused("--within must be 0 or more days")
        return book.worklist(args.as_of or today, args.within, args.role)
    if args.command == "escalations":
        return book.escalations(open_only=args.open)
    if args.command == "replay":
        if not book.replay_matches(args.ref):
            raise RuntimeError(f"replaying {args.ref} does not reproduce it")
        return {"case": args.ref, "state": book.load(args.ref).state, "reproduced": True}
    raise Refused(f"unknown command {args.command!r}")


def _print_human(result: Any) -> None:
    """Plain text for people: one line per item; nested detail only in --json."""
    if isinstance(result, str):
        print(result)
    elif isinstance(result, list):
        for item in result:
            if "seq" in item:  # a history entry
                what = item["event"] + (f" (escalation {item['escalation_no']})" if "escalation_no" in item else "")
                moved = f"{item['from'] or '-'} -> {item['to']}"
                effects = "; ".join(f"{k}: {', '.join(str(x) for x in v)}" for k, v in item["consequences"].items())
                print(f"{item['seq']:>3} {item['on']} {what:<32} {moved:<44} by {item['actor']} [{item['source']}]"
                      + (f"\n      {effects}" if effects else ""))  # fmt: skip
            else:
                print("  ".join(f"{k}={v}" for k, v in item.items() if v not in (None, [], {})))
        if not result:
            print("(none)")
    else:
        print(json.dumps(result, indent=2, default=str))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    want_json = "--json" in argv
    try:
        args = build_parser().parse_args(argv)
        result = run(args)
    except Refused as exc:
        message = str(exc)
        print(f"orderwatch: {message}", file=sys.stderr)
        if want_json:
            print(json.dumps({"error": message}))
        return 2
    except OperationalError as exc:
        message = f"database unavailable: {str(exc.orig).strip().splitlines()[0] if exc.orig else exc}"
        print(f"orderwatch: {message}", file=sys.stderr)
        if want_json:
            print(json.dumps({"error": message}))
        return 1
    except Exception as exc:  # an internal fault: one line, exit 1 (ORDERWATCH_DEBUG=1 for the traceback)
        if os.environ.get("ORDERWATCH_DEBUG"):
            raise
        message = f"internal error: {type(exc).__name__}: {exc}"
        print(f"orderwatch: {message}", file=sys.stderr)
        if want_json:
            print(json.dumps({"error": message}))
        return 1
    from cli.status import Status

    if isinstance(result, Status):  # exit 1 when something needs attention
        print(json.dumps(result.as_dict()) if want_json else "\n".join(result.lines()))
        return 1 if result.problems else 0
    if want_json:
        print(json.dumps(result, default=str))
    else:
        _print_human(result)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
