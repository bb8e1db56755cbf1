"""The permission matrix (issue 13): every role × every manual event (and registration), and every role × every read
(show, history, worklist, escalations), on both backends — driven by the tables the README shows
(``cli.tables.matrix_events``: the event specs' roles; ``storage.access.ROLE_REACH``: who reads what).

An event cell is the role gate: a person of the role fires the event through the one write path, and the rules
refuse it *for the role* exactly when the table has no tick (a role the table allows may still be refused later, for
the case's state, its owner or a missing field — those are the scenario tests' business). A read cell: a person of
the role, involved in nothing, reads three cases (a live SO, an SO awaiting its IRO, a CP+ISO case) and the lists.
"""

from __future__ import annotations

from datetime import date

from cli.tables import MATRIX_RAISED_TO, MATRIX_ROLES, matrix_escalation_actions, matrix_events
from machines.cp_iso import CpIsoRegistration
from machines.errors import Refused
from machines.model import CaseKind, Role
from machines.supervision_order import SORegistration
from storage.access import ROLE_REACH, Reach, Reader
from storage.casebook import Casebook
from storage.commands import ActOnEscalation, AddPerson, Command, Fire, Register
from tests.conftest import CAST

ON = date(2026, 7, 1)
REGISTERED = date(2026, 6, 1)
# one person of each role: the cast's first, and an admin and an operator (the operator first: adding the first
# admin ends setting up)
ACTING = {Role(role): user for user, role, _ in reversed(CAST)} | {Role.OPERATOR: "op-m", Role.ADMIN: "admin-m"}
READ_CASES = ("SO-R1", "SO-R2", "CP-R1")  # live SO with its IRO; SO awaiting its IRO; CP+ISO


def _so(ref: str, on: date = REGISTERED) -> SORegistration:
    return SORegistration(ref, f"C-{ref}", on, notified_on=on)


def _cp(ref: str) -> CpIsoRegistration:
    return CpIsoRegistration(ref, f"C-{ref}", REGISTERED, date(2026, 8, 20), last_review=date(2026, 5, 20))


def _setup(book: Casebook) -> None:
    book.handle(AddPerson(actor="setup", user="op-m", role="operator"))
    book.handle(AddPerson(actor="setup", user="admin-m", role="admin"))
    for ref in ("SO-1", "SO-R1", "SO-R2"):
        book.handle(Register(actor="sw1", registration=_so(ref), on=REGISTERED))
    for ref in ("SO-1", "SO-R1"):
        book.handle(Fire(actor="su1", ref=ref, event="allocate_iro", on=REGISTERED, fields={"iro": "iro1"}))
    for ref in ("CP-1", "CP-R1"):
        book.handle(Register(actor="sw1", registration=_cp(ref), on=REGISTERED))


def _role_refused(book: Casebook, command: Command, event: str) -> bool:
    try:
        book.handle(command)
    except Refused as refused:
        return f" may not {event}: allowed roles are " in str(refused)
    return False


def test_every_role_against_every_event(book: Casebook) -> None:
    _setup(book)
    wrong = []
    for n, (name, kind, roles) in enumerate(matrix_events()):
        for m, role in enumerate(MATRIX_ROLES):
            actor = ACTING[role]
            if name.startswith("register"):
                ref = f"M-{n}-{m}"
                reg = _so(ref, ON) if kind is CaseKind.SUPERVISION_ORDER else _cp(ref)
                command: Command = Register(actor=actor, registration=reg, on=ON)
                event = reg.event
            else:
                command = Fire(actor=actor, ref="SO-1" if kind is CaseKind.SUPERVISION_ORDER else "CP-1", event=name,
                               on=ON)  # fmt: skip
                event = name
            if _role_refused(book, command, event) != (role not in roles):
                wrong.append((name, role.value))
    assert wrong == [], "the rules and the README's permissions table disagree"
    assert len(matrix_events()) * len(MATRIX_ROLES) == 35 * 12  # the matrix's size, as reported


def test_every_role_against_every_escalation_action(book: Casebook) -> None:
    """One escalation per cell (a missed IRO allocation, raised to the Safeguarding Unit manager): an action that
    succeeds changes its escalation only."""
    _setup(book)
    cells = [(a, roles, r) for a, roles in matrix_escalation_actions() for r in MATRIX_ROLES]
    for n in range(len(cells)):
        book.handle(Register(actor="sw1", registration=_so(f"E-{n}"), on=REGISTERED))
    book.sweep(date(2026, 6, 10))
    wrong = []
    for n, (action, roles, role) in enumerate(cells):
        assert book.load(f"E-{n}").escalations[0].raised_to is MATRIX_RAISED_TO
        command = ActOnEscalation(actor=ACTING[role], ref=f"E-{n}", no=1, action=action, on=date(2026, 6, 10))
        try:
            book.handle(command)
            refused_for_role = False
        except Refused as refused:
            refused_for_role = f" may not {action} an escalation raised to " in str(refused)
        if refused_for_role != (role not in roles):
            wrong.append((action, role.value))
    assert wrong == [] and len(cells) == 3 * 12


def _expected(reach: Reach) -> set[str]:
    return {
        Reach.EVERY_CASE: set(READ_CASES),
        Reach.INVOLVED: set(),
        Reach.CP_ISO: {"CP-R1"},
        Reach.SU_QUEUE: {"SO-R2"},
        Reach.LEGAL_QUEUE: set(READ_CASES),  # all live
        Reach.LISTS_ONLY: set(),
        Reach.NOTHING: set(),
    }[reach]


def test_every_role_against_every_read(book: Casebook) -> None:
    _setup(book)
    book.sweep(date(2026, 9, 1))  # missed deadlines: escalations to list
    for role in MATRIX_ROLES:
        book.handle(AddPerson(actor="admin-m", user=f"r-{role.value}", role=role.value))
    everything = Reader("hos1")
    with_work = {i.case for i in book.worklist(ON, 3660, reader=everything)} & set(READ_CASES)
    with_escalations = {e.case for e in book.escalations(reader=everything)} & set(READ_CASES)
    assert with_work == set(READ_CASES) and with_escalations  # the lists have something to hide
    cells = 0
    for role in MATRIX_ROLES:
        reach, reader = ROLE_REACH[role], Reader(f"r-{role.value}")
        readable = _expected(reach)
        for read in (book.show, book.history):
            cells += 1
            for ref in READ_CASES:
                try:
                    read(ref, reader)
                    allowed = True
                except Refused as refused:
                    assert str(refused) == f"{ref}: not found or not yours to read"
                    allowed = False
                assert allowed == (ref in readable), (role, read.__name__, ref)
        in_lists = set(READ_CASES) if reach in (Reach.EVERY_CASE, Reach.LISTS_ONLY) else readable
        cells += 2
        assert {i.case for i in book.worklist(ON, 3660, reader=reader)} & set(READ_CASES) == in_lists, role
        assert {e.case for e in book.escalations(reader=reader)} & set(READ_CASES) == in_lists & with_escalations
    assert cells == len(MATRIX_ROLES) * 4
