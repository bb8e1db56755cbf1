"""The tables orderwatch keeps, typed, as SQLAlchemy Core. Alembic migrations create them (a test keeps the two equal).

Core, not the ORM: storage reads and writes rows in bulk with statements built once, never identity-mapped objects,
and the ORM's import alone would cost every command line a sixth of its time budget.

The database is the schedule: ``cases.next_due_on`` is the earliest open deadline of the case, so the sweep reads
only cases with work due; ``deadlines`` is indexed on ``(status, due_on)`` for the worklist.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

from storage.expressions import case_person

__all__ = [
    "access_log",
    "account_links",
    "accounts",
    "cases",
    "chain_heads",
    "deadlines",
    "escalations",
    "events",
    "identities",
    "involvements",
    "metadata",
    "notifications",
    "people",
    "people_log",
    "policies",
    "requests",
    "sweep_runs",
]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Json(TypeDecorator[Any]):
    """JSON, stored as JSONB on PostgreSQL. A decorator rather than ``with_variant``: the PostgreSQL dialect (and
    its drivers' modules) is imported only by an engine that uses it, not by every command line on SQLite."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(JSON())


metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _when(name: str, nullable: bool = False) -> Column[datetime]:
    return Column(name, DateTime(timezone=True), nullable=nullable)


# A user of orderwatch and their role; ``manager`` makes the escalation and ownership chains. A leaver is
# deactivated (``active`` false), never deleted: the log names them.
people = Table(
    "people",
    metadata,
    Column("user", String(100), primary_key=True),
    Column("role", String(40), nullable=False),
    Column("manager", String(100), ForeignKey("people.user")),
    _when("added_at"),
    Column("display_name", String(200)),
    Column("active", Boolean, nullable=False, server_default=true()),
    Column("deactivated_on", Date),
    Column("email", String(254)),  # where their notifications are delivered (none: listed in orderwatch only)
)

# Audit of the people table: every change to a person (added, changed, deactivated, reactivated, a password set or a
# link issued), by whom (``actor``: the admin; ``entered_by``: who typed it — the desk's signed-in person or the
# operating-system account of the command line), through which ``channel``, with the person before and after.
people_log = Table(
    "people_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user", String(100), nullable=False),
    Column("role", String(40), nullable=False),
    Column("manager", String(100)),
    Column("change", String(20), nullable=False),
    Column("actor", String(100), nullable=False),
    _when("recorded_at"),
    Column("before", Json()),
    Column("after", Json()),
    Column("entered_by", String(100)),
    Column("channel", String(80)),
    Column("hash", String(64)),  # the hash chain (storage.chain): this row's content and the previous row's hash
)

# A person's desk account (local sign-in): an argon2id hash, never the password; lockout after repeated failures.
accounts = Table(
    "accounts",
    metadata,
    Column("user", String(100), ForeignKey("people.user"), primary_key=True),
    Column("password_hash", String(200)),
    Column("must_change", Boolean, nullable=False, server_default=false()),
    Column("failed_attempts", Integer, nullable=False, server_default="0"),
    _when("locked_until", nullable=True),
    _when("changed_at", nullable=True),
)

# An identity from an OpenID Connect provider (issuer, subject) mapped to the person it is: a subject signs in as
# the same person as their local account.
identities = Table(
    "identities",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("issuer", String(300), nullable=False),
    Column("subject", String(300), nullable=False),
    Column("user", String(100), ForeignKey("people.user"), nullable=False, index=True),
    _when("added_at"),
    UniqueConstraint("issuer", "subject"),
)

# One-time set-password links: only the SHA-256 of the token is stored; each expires and is used once.
account_links = Table(
    "account_links",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user", String(100), ForeignKey("people.user"), nullable=False),
    _when("expires_at"),
    _when("used_at", nullable=True),
    Column("issued_by", String(100), nullable=False),
    _when("issued_at"),
)

# Each local policy a case has run under, stored once: its settings and their content hash (``storage.policies``).
policies = Table(
    "policies",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("hash", String(64), nullable=False, unique=True),
    Column("settings", Json(), nullable=False),
    _when("recorded_at"),
)

# A case: its state, key dates, people and free text. ``revision`` is the optimistic-concurrency counter;
# ``policy_id`` the local policy it runs under (the one it was opened with, until ``orderwatch policy migrate``).
cases = Table(
    "cases",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("ref", String(64), nullable=False, unique=True),
    Column("kind", String(10), nullable=False),
    Column("state", String(40), nullable=False),
    Column("procedure_version", String(40), nullable=False),
    Column("child_id", String(64), nullable=False),
    Column("dob", Date),
    Column("dates", Json(), nullable=False),
    Column("people", Json(), nullable=False),
    Column("details", Json(), nullable=False),
    Column("links", Json(), nullable=False),
    Column("last_event_on", Date),
    Column("next_due_on", Date, index=True),
    Column("last_seq", Integer, nullable=False),
    Column("revision", Integer, nullable=False),
    _when("opened_at"),
    Column("policy_id", Integer, ForeignKey("policies.id")),
    # the head of the case's event chain (storage.chain): with ``last_seq``, a log cut short is detected
    Column("log_head", String(64)),
    # a disposed case (PROCEDURES §6) is a tombstone: the only state in which its log's payloads may be erased
    Column("disposed_on", Date),
)

deadlines = Table(
    "deadlines",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False, index=True),
    Column("kind", String(40), nullable=False),
    Column("due_on", Date, nullable=False),
    Column("status", String(10), nullable=False),
    Column("owner", String(40), nullable=False),
    Column("escalate_to", String(40), nullable=False),
    Column("armed_in", String(40), nullable=False),
    Column("armed_on", Date, nullable=False),
    Column("closed_on", Date),
    Column("shown_from", Date),
    Column("escalation_no", Integer),
    Index("ix_deadlines_status_due_on", "status", "due_on"),
)

# An escalation; its public id is ``ESC-<id>``.
escalations = Table(
    "escalations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False, index=True),
    Column("no", Integer, nullable=False),
    Column("reason", String(60), nullable=False),
    Column("state", String(20), nullable=False, index=True),
    Column("raised_to", String(40), nullable=False),
    Column("raised_on", Date, nullable=False),
    Column("level", Integer, nullable=False),
    Column("deadline_kind", String(40)),
    Column("detail", Text),
    Column("resolution", Text),
    Column("closed_on", Date),
    UniqueConstraint("case_id", "no"),
)

# The append-only event log (triggers forbid UPDATE and DELETE): one row per thing that happened to a case.
events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("escalation_no", Integer),
    Column("event", String(40), nullable=False),
    Column("from_state", String(40), nullable=False),
    Column("to_state", String(40), nullable=False),
    Column("actor", String(100), nullable=False),
    Column("role", String(40), nullable=False),
    Column("source", String(80), nullable=False),  # manual | timer, and the flow run that carried it if any
    Column("happened_on", Date, nullable=False),
    _when("recorded_at"),
    Column("payload", Json(), nullable=False),
    Column("consequences", Json(), nullable=False),
    # who typed it (the desk's signed-in person, the command line's operating-system account; ``actor`` is on whose
    # behalf) and through which channel: desk | cli | flow-run/<id> | system
    Column("entered_by", String(100)),
    Column("channel", String(80)),
    Column("hash", String(64)),  # the case's hash chain (storage.chain)
    UniqueConstraint("case_id", "seq"),
)

# Every read of a case (``case_ref``) or of a list (``*``) through the tools, attributable to its reader
# (``actor``), who typed it and through which channel; a refused read is logged too (``allowed`` false).
access_log = Table(
    "access_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("case_ref", String(64), nullable=False),
    Column("what", String(20), nullable=False),
    Column("actor", String(100), nullable=False),
    _when("recorded_at"),
    Column("entered_by", String(100)),
    Column("channel", String(80)),
    Column("allowed", Boolean, nullable=False, server_default=true()),
    Column("hash", String(64)),  # one hash chain over the whole access log (storage.chain)
)

# The head of each log that is one chain (people_log, access_log): how many rows, and the last row's hash. Written
# in the transaction that appends, so a log cut short (or emptied) no longer matches its head.
chain_heads = Table(
    "chain_heads",
    metadata,
    Column("chain", String(40), primary_key=True),
    Column("count", Integer, nullable=False),
    Column("head", String(64), nullable=False),
)

# A notice for a person (PROCEDURES §7): both what is listed for them inside orderwatch and the delivery outbox.
# Written by storage in the same transaction as the change that causes it, from the domain events; ``key`` makes
# each notice once (registration:SO-1:su1, iro_allocated:SO-1:sw1, escalation:<id>:L<level>:<user>, …). Only the
# Safeguarding Unit's registration notice carries the child's identifier (in ``body``).
notifications = Table(
    "notifications",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(200), nullable=False, unique=True),
    Column("recipient", String(100), ForeignKey("people.user"), nullable=False, index=True),
    Column("kind", String(30), nullable=False),
    Column("case_ref", String(64)),
    Column("escalation_id", Integer, ForeignKey("escalations.id")),
    Column("role", String(40)),
    Column("reason", String(60)),
    Column("subject", String(200), nullable=False),
    Column("body", Text, nullable=False),
    _when("created_at"),
    Column("source", String(80), nullable=False),
    # pending | sending (claimed by a delivery pass) | sent | retry (after next_attempt_at) | failed
    Column("status", String(10), nullable=False),
    Column("attempts", Integer, nullable=False),  # delivery attempts begun (claims)
    _when("last_attempt_at", nullable=True),
    _when("sent_at", nullable=True),
    Column("error", String(200)),  # never personal data
    _when("claimed_at", nullable=True),
    _when("next_attempt_at", nullable=True),
    Column("provider_id", String(100)),  # the relay's Message-ID or Notify's notification id
    Index("ix_notifications_status_next_attempt_at", "status", "next_attempt_at"),
)

# Who is involved in a case in which role, from when to when (PROCEDURES §2, rev.): written from the domain events
# (the social worker on registration, the IRO on allocation; a later change ends the old involvement).
involvements = Table(
    "involvements",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False, index=True),
    Column("user", String(100), ForeignKey("people.user"), nullable=False),
    Column("role", String(40), nullable=False),
    Column("from_on", Date, nullable=False),
    Column("to_on", Date),
)

# One run of the daily sweep flow, as the flow recorded it: what the morning did, and whether it finished.
# ``orderwatch status`` and the catch-up at start-up read the last completed one; a run that crashed stays
# ``running`` (its flow run in Prefect says how it ended).
sweep_runs = Table(
    "sweep_runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("flow_run_id", String(64), nullable=False, unique=True),
    Column("flow_run_name", String(100), nullable=False),
    Column("as_of", Date, nullable=False),
    _when("started_at"),
    _when("completed_at", nullable=True),
    Column("status", String(12), nullable=False),  # running | completed | failed
    Column("deadlines_passed", Integer, nullable=False, server_default="0"),
    Column("cases", Integer, nullable=False, server_default="0"),
    Column("batches", Integer, nullable=False, server_default="0"),
    Index("ix_sweep_runs_status_as_of", "status", "as_of"),
)

# Idempotency (``storage.idempotency``): each command sent with a request id, the hash of its content and its result,
# written in the same transaction as its effects, so a retry records nothing twice and gets the same answer.
requests = Table(
    "requests",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("command", String(40), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("result", Json(), nullable=False),
    Column("actor", String(100), nullable=False),
    _when("recorded_at"),
)


# -- the desk's read paths (migration 0005_desk) -------------------------------------------------------------------
# A person's cases are found by the user names in ``cases.people`` (the allocated social worker and IRO); a role's
# queue and the dashboard by deadline kind and status; a manager's line through ``people.manager``.
Index("ix_cases_social_worker", case_person(cases.c.people, "social_worker"))
Index("ix_cases_iro", case_person(cases.c.people, "iro"))
Index("ix_cases_kind_state", cases.c.kind, cases.c.state)
Index("ix_deadlines_kind_status_due_on", deadlines.c.kind, deadlines.c.status, deadlines.c.due_on)
Index("ix_deadlines_status_closed_on", deadlines.c.status, deadlines.c.closed_on, deadlines.c.kind)
Index("ix_people_manager", people.c.manager)
# need-to-know (migration 0007_people): a reader's cases through their line's current involvements
Index("ix_involvements_user_to_on", involvements.c.user, involvements.c.to_on)
Index("ix_escalations_raised_to_state_raised_on", escalations.c.raised_to, escalations.c.state, escalations.c.raised_on)
