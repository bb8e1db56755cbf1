"""Issue 13, part A: people are an admin's (setting up, adding, changing, deactivating a leaver, reactivating), every
change to a person is a people_log row, and every event records who entered it and through which channel; the
person an event was entered for by someone else is told. Both backends.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from storage.access import os_account
from storage.models import events, people_log
from tests.conftest import Cli
from tests.test_refusals import SO, build_so, fire, so_register
from tests.test_scenarios_so import ok

TODAY = "2026-03-02"


@pytest.fixture(autouse=True)
def _pinned_today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERWATCH_TODAY", TODAY)


def refused(cli: Cli, *argv: str) -> str:
    ran = cli(*argv)
    assert ran.rc == 2, ran
    return str(ran.json["error"])


def _rows(url: str, table: sa.Table, *where: Any) -> list[Any]:
    from storage.db import make_engine

    engine = make_engine(url)
    with engine.connect() as c:
        rows = c.execute(sa.select(table).where(*where).order_by(table.c.id)).all()
    engine.dispose()
    return rows


def test_only_an_admin_changes_people_once_one_exists(cli: Cli) -> None:
    # the fixture set up "test-reader" as the first admin, then added the cast as that admin
    assert "only an admin may change people (sw1 is not an active admin)" in refused(
        cli, "people", "add", "mallory", "--role", "head_of_service", "--actor", "sw1")  # fmt: skip
    assert "only an admin" in refused(cli, "people", "add", "mallory", "--role", "admin", "--actor", "nobody")
    added = ok(cli, "people", "add", "sw9", "--role", "social_worker", "--manager", "tm1", "--display-name", "S Nine")
    assert added == {"user": "sw9", "role": "social_worker", "manager": "tm1", "active": True,
                     "display_name": "S Nine"}  # fmt: skip


def test_setting_up_is_from_the_server_only_while_no_admin_exists(db_url: str, cli: Cli) -> None:
    from storage.casebook import Casebook
    from storage.commands import AddPerson
    from storage.db import make_engine
    from tests.conftest import FIXED_NOW

    engine = make_engine(db_url)
    book = Casebook(engine, clock=lambda: FIXED_NOW)
    from machines.errors import Refused

    with pytest.raises(Refused, match="only an admin"):  # the desk never sets up, and an admin exists anyway
        book.handle(AddPerson(actor="someone", user="x1", role="admin", channel="desk", entered_by="someone"))
    engine.dispose()


def test_a_person_change_is_logged_with_before_after_who_and_channel(db_url: str, cli: Cli) -> None:
    ok(cli, "people", "change", "sw2", "--manager", "tm1", "--display-name", "Sam Two")
    (row,) = _rows(db_url, people_log, people_log.c.user == "sw2", people_log.c.change == "changed")
    assert (row.actor, row.entered_by, row.channel) == ("test-reader", os_account(), "cli")
    assert (row.before["manager"], row.after["manager"]) == ("tm2", "tm1")
    assert row.after["display_name"] == "Sam Two"
    first = _rows(db_url, people_log, people_log.c.user == "test-reader")[0]
    assert (first.change, first.after["role"], first.channel) == ("added", "admin", "cli")
    assert "cannot loop" in refused(cli, "people", "change", "tm1", "--manager", "sw1")
    assert "nothing to change" in refused(cli, "people", "change", "sw2", "--manager", "tm1")
    assert "last active admin" in refused(cli, "people", "change", "test-reader", "--role", "head_of_service")


def test_a_leaver_cannot_act_or_be_allocated_and_their_allocations_are_listed(db_url: str, cli: Cli) -> None:
    build_so("awaiting_first_cin")(cli)  # sw1's case, iro1 allocated
    gone = ok(cli, "people", "deactivate", "iro1")
    assert gone["person"]["active"] is False and gone["deactivated_on"] == TODAY
    assert [a["case"] for a in gone["allocations"]] == [SO] and gone["allocations"][0]["as"] == "iro"
    gone_sw = ok(cli, "people", "deactivate", "sw1")
    (alloc,) = gone_sw["allocations"]
    assert alloc["as"] == "social_worker"
    assert alloc["deadlines"] == [
        {"kind": "case_summary", "due_on": "2026-01-30"},
        {"kind": "first_cin_meeting", "due_on": "2026-02-05"},
    ]  # theirs to do
    assert ok(cli, "people", "deactivate", "tm2")["reports"] == ["sw2"]
    # cannot act
    message = refused(cli, *fire(SO, "record_first_cin_meeting", "sw1", "2026-02-03"))
    assert message.endswith("sw1 is no longer active (deactivated): they cannot act or be allocated")
    assert "no longer active" in refused(cli, *so_register("SO-2", "--actor", "sw1")[:-2])
    # cannot be allocated (SO-3 is registered by sw2, then allocate_iro names the leaver)
    assert cli(*so_register("SO-3")[:-2], "--actor", "sw2").rc == 0
    assert "iro1 is no longer active" in refused(cli, *fire("SO-3", "allocate_iro", "su1", "2026-01-20", "iro=iro1"))
    assert "already deactivated" in refused(cli, "people", "deactivate", "iro1")
    assert "cannot deactivate themselves" in refused(cli, "people", "deactivate", "test-reader")
    # back again
    assert ok(cli, "people", "reactivate", "iro1")["active"] is True
    assert ok(cli, *fire("SO-3", "allocate_iro", "su1", "2026-01-20", "iro=iro1"))["to"] == "awaiting_first_cin"
    changes = [r.change for r in _rows(db_url, people_log, people_log.c.user == "iro1")]
    assert changes == ["added", "deactivated", "reactivated"]


def test_every_event_records_who_entered_it_and_the_person_it_was_for_is_told(db_url: str, cli: Cli) -> None:
    build_so("awaiting_first_cin")(cli)
    rows = _rows(db_url, events)
    assert {(r.entered_by, r.channel) for r in rows} == {(os_account(), "cli")}
    assert {(h["entered_by"], h["channel"]) for h in ok(cli, "history", SO)} == {(os_account(), "cli")}
    assert f"by su1, entered by {os_account()} [manual]" in cli("history", SO, json_out=False).out
    told = [n for n in ok(cli, "notifications", "--recipient", "su1") if n["kind"] == "entered_on_your_behalf"]
    assert len(told) == 1
    assert (
        told[0]["subject"] == f"{SO}: “Allocate a named IRO” was recorded on your behalf"
    )  # the event as people say it
    assert told[0]["case"] == SO and "C-1" not in told[0]["body"]  # no child's identifier
    assert f"{os_account()} recorded “Allocate a named IRO” on case {SO}" in told[0]["body"]


def test_an_event_entered_by_its_own_actor_tells_nobody(db_url: str, cli: Cli) -> None:
    from storage.casebook import Casebook
    from storage.commands import Fire
    from storage.db import make_engine
    from tests.conftest import FIXED_NOW

    assert cli(*so_register()).rc == 0
    engine = make_engine(db_url)
    book = Casebook(engine, clock=lambda: FIXED_NOW)
    from datetime import date

    book.handle(Fire(actor="su1", ref=SO, event="allocate_iro", on=date(2026, 1, 20), fields={"iro": "iro1"},
                     entered_by="su1", channel="desk"))  # fmt: skip
    engine.dispose()
    (last,) = [r for r in _rows(db_url, events) if r.event == "allocate_iro"]
    assert (last.actor, last.entered_by, last.channel) == ("su1", "su1", "desk")
    assert [n for n in ok(cli, "notifications", "--recipient", "su1") if n["kind"] == "entered_on_your_behalf"] == []


def test_a_leaver_is_told_nothing_more(cli: Cli) -> None:
    ok(cli, "people", "add", "su2", "--role", "safeguarding_unit")
    ok(cli, "people", "deactivate", "su2")
    assert cli(*so_register()).rc == 0  # the Safeguarding Unit is told of a registration: su1, not the leaver
    told = {n["recipient"] for n in ok(cli, "notifications") if n["kind"] == "registration"}
    assert told == {"su1"}


@pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)
def test_a_long_running_process_tells_whoever_is_active_now(book: Any) -> None:
    """The outbox keeps who may be told between units of work (``storage.outbox.people_roles``) only while the people
    log stands still: one process — the desk, a worker — sees a leaver, a joiner and a move at once."""
    from datetime import date

    from machines.supervision_order import SORegistration
    from storage.commands import AddPerson, ChangePerson, DeactivatePerson, Register

    def register(n: int) -> set[str]:
        reg = SORegistration(f"SO-T{n}", f"C-T{n}", date(2026, 1, 15), None, None, date(2026, 1, 16), "sw1")
        book.handle(Register(actor="sw1", registration=reg, on=date(2026, 1, 16)))
        return {t.recipient for t in book.notifications() if t.kind == "registration" and t.case == reg.ref}

    assert register(1) == {"su1"}
    book.handle(AddPerson(actor="test-setup", user="su2", role="safeguarding_unit", manager="sum1"))
    assert register(2) == {"su1", "su2"}
    book.handle(DeactivatePerson(actor="test-setup", user="su1", on=date(2026, 1, 16)))
    assert register(3) == {"su2"}
    book.handle(ChangePerson(actor="test-setup", user="su2", role="legal"))
    book.handle(AddPerson(actor="test-setup", user="su3", role="safeguarding_unit"))
    assert register(4) == {"su3"}
