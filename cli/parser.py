"""The ``orderwatch`` command's arguments (DESIGN.md: a contract — names and options are stable).

``fire --help`` lists every event's ``--set`` keys, derived from the procedures' event specs.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import date
from typing import NoReturn

from machines.calendar import parse_date
from machines.errors import Refused
from machines.names import shown

__all__ = ["build_parser", "parse_fields"]

_READER = ("who is reading (default: $ORDERWATCH_ACTOR or the login name); they see only the cases they may "
           "(need-to-know), and the read is logged")  # fmt: skip


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage fault is one line and exit 2, like every other refusal."""

    def format_help(self) -> str:
        # an epilog that needs the procedures is built only when help is shown
        build = getattr(self, "epilog_from", None)
        if build is not None:
            self.epilog = build()
        return super().format_help()

    def error(self, message: str) -> NoReturn:
        # main() prefixes "orderwatch: "; name the subcommand without repeating the program name
        command = self.prog.removeprefix("orderwatch").strip()
        raise Refused(f"{command}: {message}" if command else message)


def _date(text: str) -> date:
    try:
        return parse_date(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _request_id(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--request-id",
        metavar="KEY",
        help="idempotency key: the same command sent again with it records nothing twice and answers as the first "
        "time (a key used for different content is refused)",
    )


def _from(parser: argparse.ArgumentParser, keys: str) -> None:
    parser.add_argument(
        "--from",
        dest="from_source",
        metavar="-|FILE",
        help=f"a JSON object ({keys}) read from standard input (-) or a file: personal data and free text stay off "
        "the command line, which every local user can see",
    )


def _admin(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--actor",
        help="the admin on whose behalf (default: $ORDERWATCH_ACTOR or the login name); until an admin exists, "
        "the server's own account sets people up",
    )
    _request_id(parser)


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
    parser = _Parser(prog="orderwatch", description="Keeps court-order casework on time.", parents=[common])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    people = sub.add_parser("people", help="the people who use orderwatch").add_subparsers(
        dest="people_command", required=True, parser_class=_Parser
    )
    add = people.add_parser("add", parents=[common], help="add a person with a role (an admin's work)")
    add.add_argument("user")
    add.add_argument("--role", required=True)
    add.add_argument("--manager")
    add.add_argument("--display-name", metavar="NAME")
    add.add_argument("--email", help="where their notifications are delivered (default: none, listed only)")
    _admin(add)
    change = people.add_parser("change", parents=[common], help="change a person's role, manager or display name")
    change.add_argument("user")
    change.add_argument("--role")
    who = change.add_mutually_exclusive_group()
    who.add_argument("--manager")
    who.add_argument("--no-manager", action="store_true", help="they report to nobody")
    change.add_argument("--display-name", metavar="NAME")
    _admin(change)
    for name, text in (("deactivate", "a leaver: they can no longer sign in, act or be allocated (lists their open "
                                      "allocations)"), ("reactivate", "let a deactivated person back in")):  # fmt: skip
        one = people.add_parser(name, parents=[common], help=text)
        one.add_argument("user")
        _admin(one)
    people.add_parser("list", parents=[common], help="list people")
    set_email = people.add_parser("set-email", parents=[common], help="set (or clear) where a person is e-mailed")
    set_email.add_argument("user")
    set_email.add_argument("email", nargs="?", help="the address (left out: cleared; notices stay listed only)")
    _admin(set_email)
    setpw = people.add_parser("set-password", parents=[common],
                              help="give a person a temporary desk password, read from standard input (never an "
                                   "argument: ps shows those); they must change it at first sign-in")  # fmt: skip
    setpw.add_argument("user")
    _admin(setpw)
    link = people.add_parser(
        "issue-link",
        parents=[common],
        help="a one-time link for the person to set their own desk password (shown once)",
    )
    link.add_argument("user")
    link.add_argument("--base-url", default="http://127.0.0.1:4280", help="the desk's address (default: %(default)s)")
    link.add_argument("--days", type=int, default=3, help="how long the link works (default: %(default)s days)")
    _admin(link)
    ident = people.add_parser("link-identity", parents=[common],
                              help="map an OpenID Connect identity (issuer and subject; Entra ID: entra:<tenant id> "
                                   "and the object id) to the person")  # fmt: skip
    ident.add_argument("user")
    ident.add_argument("--issuer", required=True)
    ident.add_argument("--subject", required=True)
    _admin(ident)

    so = sub.add_parser("so", help="Supervision Order cases").add_subparsers(
        dest="so_command", required=True, parser_class=_Parser
    )
    reg = so.add_parser("register", parents=[common], help="register a final Supervision Order")
    _from(reg, "the options' keys: child, dob, order_date, …")
    # --case, --child, --order-date and --actor are required, given here or in --from (checked once merged)
    reg.add_argument("--case")
    reg.add_argument("--child")
    reg.add_argument("--order-date", type=_date)
    reg.add_argument("--expiry", type=_date)
    reg.add_argument("--dob", type=_date)
    reg.add_argument("--notified-on", type=_date)
    reg.add_argument("--social-worker")
    reg.add_argument("--actor")
    _request_id(reg)

    cp = sub.add_parser("cp-iso", help="CP plan + Interim Supervision Order cases").add_subparsers(
        dest="cp_command", required=True, parser_class=_Parser
    )
    creg = cp.add_parser("register", parents=[common], help="register a CP + ISO case")
    _from(creg, "the options' keys: child, dob, iso_date, …")
    # --case, --child, --iso-date, --next-review and --actor are required, here or in --from
    creg.add_argument("--case")
    creg.add_argument("--child")
    creg.add_argument("--iso-date", type=_date)
    creg.add_argument("--next-review", type=_date)
    for name in ("--last-review", "--icpc", "--issued", "--cmh", "--irh", "--final-hearing", "--dob"):
        creg.add_argument(name, type=_date)
    creg.add_argument("--social-worker")
    creg.add_argument("--actor")
    _request_id(creg)

    fire = sub.add_parser(
        "fire",
        parents=[common],
        help="record an event on a case (or an escalation)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fire.epilog_from = _set_keys_help  # type: ignore[attr-defined]
    fire.add_argument("ref", help="case reference, or ESC-<id> for an escalation")
    fire.add_argument("event")
    fire.add_argument("--actor", required=True)
    fire.add_argument("--on", type=_date, help="the date it happened (default: today)")
    fire.add_argument("--set", dest="fields", action="extend", nargs="+", default=[], metavar="KEY=VALUE")
    _from(fire, "the --set keys and their values")
    _request_id(fire)

    sweep = sub.add_parser("sweep", parents=[common], help="let every deadline due before the date pass")
    sweep.add_argument("--as-of", type=_date, help="default: today")
    sweep.add_argument("--batch-size", type=int, default=500)
    _request_id(sweep)

    show = sub.add_parser("show", parents=[common], help="a case: state, dates, deadlines, escalations")
    show.add_argument("ref")
    show.add_argument("--actor", help=_READER)
    history = sub.add_parser("history", parents=[common], help="a case's event log, oldest first")
    history.add_argument("ref")
    history.add_argument("--actor", help=_READER)

    work = sub.add_parser("worklist", parents=[common], help="what is overdue or due soon")
    work.add_argument("--as-of", type=_date)
    work.add_argument("--within", type=int, default=7, metavar="DAYS")
    work.add_argument("--role")
    work.add_argument("--actor", help=_READER)

    esc = sub.add_parser("escalations", parents=[common], help="escalations")
    esc.add_argument("--open", action="store_true", help="only those not yet resolved")
    esc.add_argument("--actor", help=_READER)

    notes = sub.add_parser(
        "notifications", parents=[common], help="who has been told what: the outbox (notices, escalations, alarms)"
    )
    notes.add_argument("--recipient", metavar="USER", help="only this person's")
    notes.add_argument("--actor", help=_READER)
    notes_sub = notes.add_subparsers(dest="notifications_command", required=False, parser_class=_Parser)
    deliver = notes_sub.add_parser(
        "deliver", parents=[common], help="one delivery pass: send what is due by the configured channel"
    )
    deliver.add_argument("--limit", type=int, default=500, help="at most this many messages in the pass")
    digest = notes_sub.add_parser("digest", parents=[common], help="make the day's digest for each person")
    digest.add_argument("--as-of", type=_date, help="default: today")
    digest.add_argument("--within", type=int, metavar="WD", help="working days ahead (default: 5)")

    diagram = sub.add_parser("diagram", parents=[common], help="draw a machine")
    diagram.add_argument("machine", choices=["so", "cp-iso", "escalation"])
    diagram.add_argument("--format", choices=["mermaid", "dot", "svg"], default="mermaid")

    replay = sub.add_parser("replay", parents=[common], help="check that a case's log reproduces it")
    replay.add_argument("ref")
    replay.add_argument("--actor", help=_READER)

    sim = sub.add_parser("simulate", parents=[common], help="a synthetic caseload lived day by day")
    sim.add_argument("--cases", type=int, required=True, help="cases opened over the period")
    sim.add_argument("--years", type=float, default=1.0)
    sim.add_argument("--seed", type=int, default=0)
    sim.add_argument("--start", type=_date, default=date(2025, 1, 1), help="first simulated day")
    sim.add_argument("--behaviour", metavar="TOML", help="response distributions and decision shares")
    sim.add_argument("--replay-sample", type=int, default=200, metavar="N")
    sim.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")

    mig = sub.add_parser(
        "migrate", parents=[common], help="create or upgrade the database schema (first use does it too)"
    )
    mig.add_argument(
        "--app-role",
        metavar="ROLE",
        help="PostgreSQL: the application's role, created and granted INSERT/SELECT only on the logs (default: "
        "$ORDERWATCH_APP_ROLE, else orderwatch_app; 'none' to leave roles alone)",
    )
    sub.add_parser("verify", parents=[common], help="check every hash chain of the record; exit 1 naming a break")
    bak = sub.add_parser("backup", parents=[common], help="a consistent copy of the database, taken while it runs")
    bak.add_argument("--to", metavar="PATH", help="the new backup file (default: var/backups/orderwatch-<UTC time>)")
    exp = sub.add_parser("export", parents=[common], help="everything held about a case (subject access request)")
    exp.add_argument("ref")
    exp.add_argument("--format", choices=["json", "html"], default="json")
    exp.add_argument("--actor", required=True, help="who is reading (the export is logged)")
    amend = sub.add_parser("amend", parents=[common], help="correct a mis-keyed child id, date of birth or order date")
    amend.add_argument("ref")
    amend.add_argument("--field", choices=["child_id", "dob", "order_date"])
    amend.add_argument("--to", metavar="VALUE", help="the correct value (better: in --from)")
    amend.add_argument("--reason", help="why (kept in the log)")
    amend.add_argument("--actor")
    _from(amend, "field, to, reason, actor")
    _request_id(amend)
    ret = sub.add_parser("retention", parents=[common], help="cases due for disposal; dispose of them")
    how_ret = ret.add_mutually_exclusive_group(required=True)
    how_ret.add_argument("--dry-run", action="store_true", help="list what is due, change nothing")
    how_ret.add_argument("--dispose", action="store_true", help="dispose of every case due (audited, in its log)")
    ret.add_argument("--actor", help="who disposes (head_of_service or admin); needed with --dispose")
    res = sub.add_parser("restore", parents=[common], help="put a backup in place of the database, then verify it")
    res.add_argument("path", metavar="PATH")
    res.add_argument("--force", action="store_true", help="overwrite a database that holds cases or people")

    policy = sub.add_parser("policy", help="the local policies cases run under").add_subparsers(
        dest="policy_command", required=True, parser_class=_Parser
    )
    policy.add_parser("list", parents=[common], help="the policies cases have run under, and their live cases")
    pmig = policy.add_parser("migrate", parents=[common], help="move live cases to the policy in force")
    how = pmig.add_mutually_exclusive_group(required=True)
    how.add_argument("--dry-run", action="store_true", help="show which deadlines would move, change nothing")
    how.add_argument("--plan", metavar="ID", help="apply the plan the dry run showed (refused if it has changed)")

    up = sub.add_parser("up", parents=[common], help="the main job: Prefect server, deployments, worker")
    up.add_argument("--demo", action="store_true", help="also load the demo caseload")
    up.add_argument("--port", type=int, default=4200, help="the Prefect UI's port")
    up.add_argument("--desk-port", type=int, default=4280, help="the desk's port")

    sub.add_parser("status", parents=[common], help="is all well? exit 1, one line per problem, when not")
    sub.add_parser("env", help='export lines for a new shell: eval "$(.venv/bin/orderwatch env)"')
    worker = sub.add_parser("worker", parents=[common], help="a Prefect worker for the pool (catches up first)")
    worker.add_argument("--pool", default="orderwatch")
    worker.add_argument("--no-catch-up", action="store_true", help="do not start a catch-up sweep")
    return parser


def parse_fields(pairs: Sequence[str]) -> dict[str, str]:
    """``--set KEY=VALUE ...`` as a mapping; a malformed or repeated key is refused."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise Refused(f"--set takes KEY=VALUE, got {shown(pair)}")
        if key in out:
            raise Refused(f"--set {shown(key)} given twice")
        out[key] = value
    return out


def _set_keys_help() -> str:
    """Every event a person may fire, with its ``--set`` keys: derived from the event specs."""
    from machines.escalation import ACTIONS
    from machines.procedures import case_events

    lines = ["events and their --set keys (KEY=VALUE; an optional key is marked):"]
    specs = [(proc.kind.value, spec) for proc, spec in case_events()] + [("ESC-<id>", s) for s in ACTIONS.values()]
    for where, spec in specs:
        keys = ", ".join(f"{k} = {f.describe()}" for k, f in spec.fields.items()) or "none"
        lines.append(f"  {spec.name} ({where}): {keys}")
    return "\n".join(lines)
