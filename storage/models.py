"""Typed SQLAlchemy 2 models: the tables orderwatch keeps. Alembic migrations create them (a test keeps the two equal).

The database is the schedule: ``cases.next_due_on`` is the earliest open deadline of the case, so the sweep reads
only cases with work due; ``deadlines`` is indexed on ``(status, due_on)`` for the worklist.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "AccessRecord",
    "Base",
    "CaseRow",
    "DeadlineRow",
    "EscalationRow",
    "EventRow",
    "NotificationRow",
    "PersonChange",
    "PersonRow",
    "SweepRunRow",
]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Json = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: Json, list[Any]: Json}


class PersonRow(Base):
    """A user of orderwatch and their role; ``manager`` makes the escalation and ownership chains."""

    __tablename__ = "people"

    user: Mapped[str] = mapped_column(String(100), primary_key=True)
    role: Mapped[str] = mapped_column(String(40))
    manager: Mapped[str | None] = mapped_column(ForeignKey("people.user"))
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PersonChange(Base):
    """Audit of the people table: who added whom, when."""

    __tablename__ = "people_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(40))
    manager: Mapped[str | None] = mapped_column(String(100))
    change: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CaseRow(Base):
    """A case: its state, key dates, people and free text. ``revision`` is the optimistic-concurrency counter."""

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ref: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(10))
    state: Mapped[str] = mapped_column(String(40))
    procedure_version: Mapped[str] = mapped_column(String(40))
    child_id: Mapped[str] = mapped_column(String(64))
    dob: Mapped[date | None] = mapped_column(Date)
    dates: Mapped[dict[str, Any]]
    people: Mapped[dict[str, Any]]
    details: Mapped[dict[str, Any]]
    links: Mapped[list[Any]]
    last_event_on: Mapped[date | None] = mapped_column(Date)
    next_due_on: Mapped[date | None] = mapped_column(Date, index=True)
    last_seq: Mapped[int] = mapped_column(Integer)
    revision: Mapped[int] = mapped_column(Integer)
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DeadlineRow(Base):
    __tablename__ = "deadlines"
    __table_args__ = (Index("ix_deadlines_status_due_on", "status", "due_on"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    due_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10))
    owner: Mapped[str] = mapped_column(String(40))
    escalate_to: Mapped[str] = mapped_column(String(40))
    armed_in: Mapped[str] = mapped_column(String(40))
    armed_on: Mapped[date] = mapped_column(Date)
    closed_on: Mapped[date | None] = mapped_column(Date)
    shown_from: Mapped[date | None] = mapped_column(Date)
    escalation_no: Mapped[int | None] = mapped_column(Integer)


class EscalationRow(Base):
    """An escalation; its public id is ``ESC-<id>``."""

    __tablename__ = "escalations"
    __table_args__ = (UniqueConstraint("case_id", "no"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    no: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(60))
    state: Mapped[str] = mapped_column(String(20), index=True)
    raised_to: Mapped[str] = mapped_column(String(40))
    raised_on: Mapped[date] = mapped_column(Date)
    level: Mapped[int] = mapped_column(Integer)
    deadline_kind: Mapped[str | None] = mapped_column(String(40))
    detail: Mapped[str | None] = mapped_column(Text)
    resolution: Mapped[str | None] = mapped_column(Text)
    closed_on: Mapped[date | None] = mapped_column(Date)


class EventRow(Base):
    """The append-only event log (triggers forbid UPDATE and DELETE): one row per thing that happened to a case."""

    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("case_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    seq: Mapped[int] = mapped_column(Integer)
    escalation_no: Mapped[int | None] = mapped_column(Integer)
    event: Mapped[str] = mapped_column(String(40))
    from_state: Mapped[str] = mapped_column(String(40))
    to_state: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(80))  # manual | timer, and the flow run that carried it if any
    happened_on: Mapped[date] = mapped_column(Date)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    payload: Mapped[dict[str, Any]]
    consequences: Mapped[dict[str, Any]]


class AccessRecord(Base):
    """Every read of a case through the tools, attributable to an actor."""

    __tablename__ = "access_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_ref: Mapped[str] = mapped_column(String(64))
    what: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class NotificationRow(Base):
    """A notice for a person: an escalation raised to them (by the Prefect automation), or an alarm for operators.

    ``subject`` is one line of references, dates and counts only. ``idempotency_key`` is unique: a repeated alarm (or
    escalation notice) for the same thing and the same person is recorded once.
    """

    __tablename__ = "notifications"
    __table_args__ = (UniqueConstraint("escalation_id", "recipient"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), server_default="escalation")  # escalation | alarm
    escalation_id: Mapped[int | None] = mapped_column(ForeignKey("escalations.id"))
    case_ref: Mapped[str | None] = mapped_column(String(64))
    recipient: Mapped[str] = mapped_column(ForeignKey("people.user"))
    role: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(String(60))
    subject: Mapped[str] = mapped_column(String(300), server_default="")
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    source: Mapped[str] = mapped_column(String(80))


class SweepRunRow(Base):
    """One run of the daily sweep flow, as the flow recorded it: what the morning did, and whether it finished.

    ``orderwatch status`` and the catch-up at start-up read the last completed one; a run that crashed stays
    ``running`` (its flow run in Prefect says how it ended).
    """

    __tablename__ = "sweep_runs"
    __table_args__ = (Index("ix_sweep_runs_status_as_of", "status", "as_of"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    flow_run_id: Mapped[str] = mapped_column(String(64), unique=True)
    flow_run_name: Mapped[str] = mapped_column(String(100))
    as_of: Mapped[date] = mapped_column(Date)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(12))  # running | completed | failed
    deadlines_passed: Mapped[int] = mapped_column(Integer, server_default="0")
    cases: Mapped[int] = mapped_column(Integer, server_default="0")
    batches: Mapped[int] = mapped_column(Integer, server_default="0")
