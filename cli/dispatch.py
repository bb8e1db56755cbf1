"""The storage-backed subcommands of ``orderwatch``: each builds one command or query for the casebook.

Kept apart from ``cli.main`` so the demo can replay command lines without the launcher (no import circle).
"""

from __future__ import annotations

import argparse
import gc
import os
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any

from cli.parser import parse_fields
from machines.errors import Refused
from storage import clock

if TYPE_CHECKING:
    from storage.access import Reader
    from storage.casebook import Casebook

__all__ = ["MAX_BATCH", "MAX_WITHIN", "RecordBroken", "ReplayDiffers", "run_on_database"]

MAX_BATCH = 10_000  # cases per sweep transaction
MAX_WITHIN = 3_660  # days ahead a worklist looks: ten years
CHANNEL = "cli"


class ReplayDiffers(Exception):
    """A case's log does not reproduce it: an internal fault, whose message names only the case."""


class RecordBroken(ReplayDiffers):
    """A restored database whose chains do not verify: exit 1, naming the first broken link."""


def run_on_database(args: argparse.Namespace) -> Any:
    """Carry out a parsed subcommand against the database (``--db``, else the configured one). The local policy
    is read and checked first, then the schema is brought up to date (under a lock), then the command runs."""
    # The imports make a great many objects that live as long as the process: a collection during them only walks
    # them again (about a twentieth of a short command's time), so none runs until they are done.
    gc.disable()
    try:
        from storage.casebook import Casebook
        from storage.config import load_policy
        from storage.db import make_engine
        from storage.migrate import upgrade
    finally:
        gc.enable()

    policy = load_policy()
    engine = make_engine(getattr(args, "db", None))
    try:
        applied = upgrade(engine, policy)
        if args.command == "migrate":
            from storage.db import HEAD
            from storage.roles import app_role_name, grant_app_role

            done: dict[str, Any] = {"schema": HEAD, "applied": applied}
            role = app_role_name(args.app_role)
            if role is not None and engine.dialect.name == "postgresql":
                done["app_role"] = grant_app_role(engine, role).as_json()
            return done
        book = Casebook(engine, policy, clock=clock.now)
        return _COMMANDS[args.command](book, args)
    finally:
        engine.dispose()


def _entered_by() -> str:
    """The operating-system account running the command: the command line runs on the server, so that account is
    its authentication (``storage.access.os_account``)."""
    from storage.access import os_account

    return os_account()


def _reader(actor: str | None) -> str:
    """On whose behalf: ``--actor``, else ``$ORDERWATCH_ACTOR``, else the operating-system account."""
    return actor or os.environ.get("ORDERWATCH_ACTOR") or _entered_by()


def _as_reader(actor: str | None) -> Reader:
    from storage.access import Reader

    return Reader(_reader(actor), _entered_by(), CHANNEL)


def _stamp() -> dict[str, Any]:
    """What every command from the command line carries: who typed it, and the channel."""
    return {"entered_by": _entered_by(), "channel": CHANNEL}


def _not_future(on: date, what: str) -> date:
    today = clock.today()
    if on > today:
        raise Refused(f"{what} {on} is in the future (today is {today})")
    return on


def _people(book: Casebook, args: argparse.Namespace) -> Any:
    from storage.commands import AddPerson, ChangePerson, DeactivatePerson, ReactivatePerson, SetEmail

    sub = args.people_command
    if sub == "list":
        return book.people()
    who: dict[str, Any] = {"actor": _reader(getattr(args, "actor", None)), **_stamp(),
                           "request_id": getattr(args, "request_id", None)}  # fmt: skip
    if sub == "add":
        return book.handle(AddPerson(user=args.user, role=args.role, manager=args.manager,
                                     display_name=args.display_name, email=args.email, **who))  # fmt: skip
    if sub == "set-email":
        return book.handle(SetEmail(user=args.user, email=args.email, **who))
    if sub == "change":
        return book.handle(ChangePerson(user=args.user, role=args.role, manager=args.manager,
                                        clear_manager=args.no_manager, display_name=args.display_name, **who))  # fmt: skip
    if sub == "deactivate":
        return book.handle(DeactivatePerson(user=args.user, on=clock.today(), **who))
    if sub == "reactivate":
        return book.handle(ReactivatePerson(user=args.user, **who))
    return _accounts(book, args, who)


def _accounts(book: Casebook, args: argparse.Namespace, who: dict[str, Any]) -> Any:
    """Desk accounts: a temporary password (from standard input), a one-time link, an OpenID Connect identity."""
    from datetime import timedelta

    from storage import accounts

    sub = args.people_command
    if sub == "set-password":
        password = _password_from_stdin()
        return book.handle(accounts.SetPassword(user=args.user, password_hash=accounts.hash_password(password),
                                                must_change=True, **who))  # fmt: skip
    if sub == "issue-link":
        if not 1 <= args.days <= 30:
            raise Refused("--days must be 1 to 30")
        token = accounts.new_token()
        expires = clock.now() + timedelta(days=args.days)
        done = book.handle(accounts.IssueLink(user=args.user, token_hash=accounts.hash_token(token), expires_at=expires,
                                              **who))  # fmt: skip
        # the token is shown here once; only its hash is stored
        return {**done.as_json(), "link": f"{args.base_url.rstrip('/')}/account/set-password?token={token}"}
    return book.handle(accounts.LinkIdentity(user=args.user, issuer=args.issuer, subject=args.subject, **who))


def _password_from_stdin() -> str:
    """The password from standard input: prompted without echo at a terminal, else its first line."""
    import getpass
    import sys

    if sys.stdin.isatty():
        password = getpass.getpass("temporary password: ")
        if getpass.getpass("again: ") != password:
            raise Refused("the two passwords are not the same")
        return password
    return sys.stdin.readline().rstrip("\n")


_SO_DATES = ("order_date", "expiry", "dob", "notified_on")
_CP_DATES = ("iso_date", "next_review", "last_review", "icpc", "issued", "cmh", "irh", "final_hearing", "dob")
_REG_TEXTS = ("case", "child", "social_worker", "actor")


def _register_so(book: Casebook, args: argparse.Namespace) -> Any:
    from cli.from_input import merge_options, read_object
    from machines.supervision_order import SORegistration
    from storage.commands import Register

    merge_options(args, read_object(args.from_source, "so register"), what="so register", dates=_SO_DATES,
                  texts=_REG_TEXTS, required=("case", "child", "order_date", "actor"))  # fmt: skip

    reg = SORegistration(args.case, args.child, args.order_date, args.expiry, args.dob, args.notified_on,
                         args.social_worker)  # fmt: skip
    # The case opens on the day the Safeguarding Unit was notified (default: today).
    on = _not_future(args.notified_on or clock.today(), "--notified-on")
    return book.handle(Register(actor=args.actor, registration=reg, on=on, request_id=args.request_id, **_stamp()))


def _register_cp_iso(book: Casebook, args: argparse.Namespace) -> Any:
    from cli.from_input import merge_options, read_object
    from machines.cp_iso import CpIsoRegistration
    from storage.commands import Register

    merge_options(args, read_object(args.from_source, "cp-iso register"), what="cp-iso register", dates=_CP_DATES,
                  texts=_REG_TEXTS, required=("case", "child", "iso_date", "next_review", "actor"))  # fmt: skip

    reg = CpIsoRegistration(args.case, args.child, args.iso_date, args.next_review, args.last_review, args.icpc,
                            args.issued, args.cmh, args.irh, args.final_hearing, args.dob,
                            args.social_worker)  # fmt: skip
    # The case opens on the day the ISO was granted.
    on = _not_future(args.iso_date, "--iso-date")
    return book.handle(Register(actor=args.actor, registration=reg, on=on, request_id=args.request_id, **_stamp()))


def _fire(book: Casebook, args: argparse.Namespace) -> Any:
    from storage.commands import ActOnEscalation, Fire
    from storage.ids import parse_escalation_id

    on = _not_future(args.on or clock.today(), "--on")
    fields = parse_fields(args.fields)
    if args.from_source is not None:
        from cli.from_input import read_object, set_fields

        fields = set_fields(read_object(args.from_source, "fire"), fields, "fire")
    esc = parse_escalation_id(args.ref)
    key = args.request_id
    if esc is not None:
        return book.handle(ActOnEscalation(actor=args.actor, escalation=esc, action=args.event, on=on, fields=fields,
                                           request_id=key, **_stamp()))  # fmt: skip
    return book.handle(Fire(actor=args.actor, ref=args.ref, event=args.event, on=on, fields=fields, request_id=key,
                            **_stamp()))  # fmt: skip


def _sweep(book: Casebook, args: argparse.Namespace) -> Any:
    if not 1 <= args.batch_size <= MAX_BATCH:
        raise Refused(f"--batch-size must be 1 to {MAX_BATCH}")
    # A sweep for a future date would call deadlines missed before their day is over.
    as_of = _not_future(args.as_of or clock.today(), "--as-of")
    return book.sweep(as_of, batch_size=args.batch_size, request_id=args.request_id).as_dict()


def _worklist(book: Casebook, args: argparse.Namespace) -> Any:
    if not 0 <= args.within <= MAX_WITHIN:
        raise Refused(f"--within must be 0 to {MAX_WITHIN} days")
    return book.worklist(args.as_of or clock.today(), args.within, args.role, reader=_as_reader(args.actor))


def _policy(book: Casebook, args: argparse.Namespace) -> Any:
    if args.policy_command == "list":
        return book.stored_policies()
    if args.dry_run:
        return book.policy_plan(clock.today())
    return book.migrate_policy(clock.today(), args.plan, _entered_by())


def _notifications(book: Casebook, args: argparse.Namespace) -> Any:
    """The list; or one delivery pass (``deliver``); or the day's digests (``digest``)."""
    command = getattr(args, "notifications_command", None)
    if command == "digest":
        from storage.digest import make_all_digests

        within = 5 if args.within is None else args.within
        return make_all_digests(book.handle, args.as_of or clock.today(), within)
    if command == "deliver":
        return deliver_pass(book, args.limit)
    return book.notifications(args.recipient, reader=_as_reader(args.actor))


def deliver_pass(book: Casebook, limit: int, source: str | None = None) -> dict[str, Any]:
    """One delivery pass by the configured channel; with none configured, nothing is sent and the notifications
    waiting are counted (they are listed in orderwatch only)."""
    from storage.config import delivery_channel, delivery_settings
    from storage.delivery import deliver

    if not 1 <= limit <= MAX_BATCH:
        raise Refused(f"--limit must be 1 to {MAX_BATCH}")
    settings = delivery_settings()
    sender = delivery_channel()
    if sender is None:
        return {"channel": None, "sent": 0, "held": book.delivery_counts().get("pending", 0)}
    return deliver(book.handle, sender, settings, limit=limit, source=source).as_dict()


def _replay(book: Casebook, args: argparse.Namespace) -> Any:
    if not book.replay_checked(args.ref, _as_reader(getattr(args, "actor", None))):
        raise ReplayDiffers(f"replaying {args.ref} does not reproduce it")
    return {"case": args.ref, "state": str(book.load(args.ref).state), "reproduced": True}


def _verify(book: Casebook, _args: argparse.Namespace) -> Any:
    from storage.verify import verify

    return verify(book.engine)


def _backup(book: Casebook, args: argparse.Namespace) -> Any:
    from pathlib import Path

    from cli.secure import var_dir
    from storage.backup import backup

    if args.to:
        to = Path(args.to)
    else:
        stamp = clock.now().strftime("%Y%m%dT%H%M%SZ")
        suffix = "db" if book.engine.dialect.name == "sqlite" else "dump"
        to = var_dir() / "backups" / f"orderwatch-{stamp}.{suffix}"
    return backup(book.engine, to)


def _restore(book: Casebook, args: argparse.Namespace) -> Any:
    from pathlib import Path

    from storage.backup import restore

    restored = restore(book.engine, Path(args.path), force=args.force)
    if not restored.verified.ok and restored.verified.broken is not None:
        raise RecordBroken(f"restored, but it does not verify: {restored.verified.broken.describe()}")
    return restored


def _amend(book: Casebook, args: argparse.Namespace) -> Any:
    from cli.from_input import merge_options, read_object
    from storage.commands import Amend

    merge_options(args, read_object(args.from_source, "amend"), what="amend", dates=(),
                  texts=("field", "to", "reason", "actor"), required=("field", "to", "reason", "actor"))  # fmt: skip
    if args.field not in ("child_id", "dob", "order_date"):
        raise Refused("amend --field must be one of child_id, dob, order_date")
    return book.handle(Amend(actor=args.actor, ref=args.ref, field=args.field, value=args.to, reason=args.reason,
                             on=clock.today(), request_id=args.request_id, **_stamp()))  # fmt: skip


def _retention(book: Casebook, args: argparse.Namespace) -> Any:
    from storage.retention import Dispose

    today = clock.today()
    due = book.retention_due(today)
    if args.dry_run:
        return due
    if not args.actor:
        raise Refused("retention --dispose: the following arguments are required: --actor")
    # one case per transaction: a refusal or a fault stops there, the ones before it stay disposed; a case with
    # unresolved escalations is held back (listed, not disposed of) until people resolve them
    done: list[Any] = []
    for item in due:
        if item.open_escalations:
            done.append({"case": item.case, "held_back": f"{item.open_escalations} unresolved escalation(s)"})
        else:
            done.append(book.handle(Dispose(actor=args.actor, ref=item.case, on=today, **_stamp())))
    return done


def _export(book: Casebook, args: argparse.Namespace) -> Any:
    exported = book.export(args.ref, _as_reader(args.actor))
    if args.format == "html":
        from cli.export_html import render

        return render(exported.as_json())
    return exported


_COMMANDS: dict[str, Callable[[Casebook, argparse.Namespace], Any]] = {
    "people": _people,
    "so": _register_so,
    "cp-iso": _register_cp_iso,
    "fire": _fire,
    "sweep": _sweep,
    "show": lambda book, args: book.show(args.ref, _as_reader(args.actor), clock.today()),
    "history": lambda book, args: book.history(args.ref, _as_reader(args.actor)),
    "worklist": _worklist,
    "escalations": lambda book, args: book.escalations(open_only=args.open, reader=_as_reader(args.actor)),
    "notifications": lambda book, args: _notifications(book, args),
    "replay": _replay,
    "policy": _policy,
    "verify": _verify,
    "amend": _amend,
    "backup": _backup,
    "export": _export,
    "restore": _restore,
    "retention": _retention,
}
