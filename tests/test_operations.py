"""Operations without a Prefect server: the sweep's record and operators' alarms (SQLite and PostgreSQL), migration
0003 on notifications already there, the alarm settings, the server-log reader, the credential and ``env``, the
catch-up's due day, the alarm's diagnosis, and the worklist's escalations."""

from __future__ import annotations

import os
import stat
import uuid
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from uuid import uuid4

import pytest
import sqlalchemy as sa
from alembic import command
from prefect.client.schemas.objects import FlowRun
from prefect.client.schemas.responses import DeploymentResponse
from prefect.client.schemas.schedules import CronSchedule
from prefect.states import Completed, Failed, Late, Running

from cli.secure import Endpoint, ensure_credential, env_lines, read_credential, write_endpoint
from cli.status import service_errors
from cli.worker import due_day
from flows.alarms import diagnose
from flows.views import worklist_rows
from machines.errors import Refused
from storage.casebook import Casebook
from storage.config import SweepAlarm, sweep_alarm
from storage.db import alembic_config, make_engine
from storage.opsbook import Operations
from tests.conftest import FIXED_NOW, PG_URL, Cli

NOW = FIXED_NOW


def test_the_sweep_records_itself_and_the_last_completed_is_found(engine: sa.Engine) -> None:
    ops = Operations(engine, clock=lambda: NOW)
    assert ops.last_completed_sweep() is None
    ops.sweep_started("run-1", "sweep-2026-11-19", date(2026, 11, 19))
    ops.sweep_finished("run-1", "completed", passed=4, cases=2, batches=1)
    ops.sweep_started("run-2", "sweep-2026-11-20", date(2026, 11, 20))
    ops.sweep_finished("run-2", "failed")
    ops.sweep_started("run-3", "sweep-2026-11-20-catch-up", date(2026, 11, 20))  # still running
    last = ops.last_completed_sweep()
    assert last is not None and (last.flow_run_id, last.as_of, last.deadlines_passed) == (
        "run-1",
        date(2026, 11, 19),
        4,
    )
    assert last.completed_at == NOW and last.completed_at.tzinfo is not None
    assert ops.completed_at([date(2026, 11, 19), date(2026, 11, 20)]) == {date(2026, 11, 19): NOW}
    again = ops.sweep_started("run-1", "sweep-2026-11-19", date(2026, 11, 19))  # the same run retried
    assert again.status == "running" and again.completed_at is None
    assert [(r.flow_run_id, r.status) for r in ops.sweep_runs()] == [
        ("run-3", "running"),
        ("run-2", "failed"),
        ("run-1", "running"),
    ]
    with pytest.raises(LookupError):
        ops.sweep_finished("never-started", "completed")


def test_an_alarm_reaches_every_operator_once(engine: sa.Engine, cli: Cli) -> None:
    ops = Operations(engine, clock=lambda: NOW)
    assert ops.notify_operators(reason="sweep-missed", subject="s", key="alarm:x", source="test") == []
    for user in ("ops2", "ops1"):
        assert cli("people", "add", user, "--role", "operator").rc == 0
    first = ops.notify_operators(reason="sweep-missed", subject="no daily sweep completed for 2026-11-20",
                                 key="alarm:sweep-missed:2026-11-20", source="flow-run/1")  # fmt: skip
    again = ops.notify_operators(reason="sweep-missed", subject="said again", key="alarm:sweep-missed:2026-11-20",
                                 source="flow-run/2")  # fmt: skip
    assert [n.recipient for n in first] == ["ops1", "ops2"] and again == first
    assert {(n.kind, n.role, n.escalation, n.case) for n in first} == {("alarm", "operator", None, None)}
    listed = cli("notifications", "--recipient", "ops1").json
    assert [(n["kind"], n["subject"]) for n in listed] == [("alarm", "no daily sweep completed for 2026-11-20")]
    assert set(listed[0]) == {"id", "key", "kind", "recipient", "role", "reason", "subject", "body", "case",
                              "escalation", "status", "created_at", "source"}  # fmt: skip


def test_an_operator_fires_no_case_event(cli: Cli) -> None:
    assert cli("people", "add", "ops1", "--role", "operator").rc == 0
    cli("so", "register", "--case", "SO-1", "--child", "C-1", "--order-date", "2026-01-15", "--notified-on",
        "2026-01-16", "--actor", "sw1")  # fmt: skip
    ran = cli("fire", "SO-1", "allocate_iro", "--actor", "ops1", "--on", "2026-01-20", "--set", "iro=iro1")
    assert ran.rc == 2 and "ops1 (operator) may not allocate_iro" in ran.json["error"]


def test_the_worklist_counts_each_open_escalation_once_as_overdue(engine: sa.Engine, cli: Cli) -> None:
    book = Casebook(engine, clock=lambda: NOW)
    cli("so", "register", "--case", "SO-1", "--child", "C-1", "--order-date", "2026-01-15", "--notified-on",
        "2026-01-16", "--actor", "sw1")  # fmt: skip
    cli("sweep", "--as-of", "2026-02-02")  # iro_allocation and case_summary missed: two escalations
    rows = worklist_rows(book, date(2026, 2, 2))
    escalations = [r for r in rows if r["kind"] == "escalation"]
    assert len(escalations) == 2 and all(r["status"] == "overdue" for r in escalations)
    assert rows[:2] == escalations  # first: the most urgent
    assert not [r for r in rows if r["kind"] != "escalation" and r["deadline"].startswith("escalation_")]
    levels = Operations(engine, clock=lambda: NOW).open_escalations()
    assert levels.open == 2 and levels.by_level == {1: 1, 2: 1}  # the first went up: not acknowledged in 2 WD


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_outbox_migration_keeps_the_escalation_notices_already_there(backend: str, tmp_path: Path) -> None:
    if backend == "sqlite":
        url, admin, schema = f"sqlite:///{tmp_path / 'old.db'}", None, None
    else:
        schema = f"ow_mig_{uuid.uuid4().hex[:10]}"
        admin = make_engine(PG_URL)
        with admin.begin() as c:
            c.execute(sa.text(f"CREATE SCHEMA {schema}"))
        url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    engine = make_engine(url)
    try:
        _upgrade(engine, "0002")
        with engine.begin() as c:
            c.execute(sa.text("INSERT INTO people (\"user\", role, added_at) VALUES ('su1', 'safeguarding_unit', :t)"),
                      {"t": NOW})  # fmt: skip
            c.execute(sa.text(
                "INSERT INTO cases (id, ref, kind, state, procedure_version, child_id, dates, people, details, links,"
                " last_seq, revision, opened_at) VALUES (1, 'SO-1', 'so', 'registered', 'v', 'C-1', '{}', '{}', '{}',"
                " '[]', 1, 1, :t)"), {"t": NOW})  # fmt: skip
            c.execute(sa.text(
                "INSERT INTO escalations (id, case_id, no, reason, state, raised_to, raised_on, level) VALUES"
                " (7, 1, 1, 'missed:iro_allocation', 'raised', 'safeguarding_unit', '2026-01-24', 1)"))  # fmt: skip
            c.execute(sa.text(
                "INSERT INTO notifications (escalation_id, case_ref, recipient, role, reason, created_at, source)"
                " VALUES (7, 'SO-1', 'su1', 'safeguarding_unit', 'missed:iro_allocation', :t, 'manual')"),
                {"t": NOW})  # fmt: skip
        _upgrade(engine, "head")
        (note,) = Operations(engine, clock=lambda: NOW).notifications()
        assert (note.kind, note.escalation, note.case) == ("escalation", "ESC-7", "SO-1")
        assert note.subject == "ESC-7 on SO-1: missed:iro_allocation, raised to safeguarding_unit"
        with engine.connect() as c:
            assert c.scalar(sa.text("SELECT key FROM notifications")) == "escalation:7:L1:su1"
        _upgrade(engine, "0002", down=True)  # and back
    finally:
        engine.dispose()
        if admin is not None:
            with admin.begin() as c:
                c.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
            admin.dispose()


def _upgrade(engine: sa.Engine, revision: str, *, down: bool = False) -> None:
    with engine.connect() as connection:
        if down and engine.dialect.name == "sqlite":
            # SQLite rebuilds an altered table, dropping the one others reference: as its docs say, foreign keys are
            # switched off for such a change, outside any transaction (straight on the driver's connection)
            dbapi = connection.connection.dbapi_connection
            if dbapi is not None:
                dbapi.execute("PRAGMA foreign_keys=OFF")
        with connection.begin():
            config = alembic_config()
            config.attributes["connection"] = connection
            (command.downgrade if down else command.upgrade)(config, revision)


def test_the_alarm_settings_are_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    assert sweep_alarm() == SweepAlarm(time(7, 30), timedelta(hours=1))
    monkeypatch.setenv("ORDERWATCH_SWEEP_ALARM_AT", "06:45:30")
    monkeypatch.setenv("ORDERWATCH_SWEEP_ALARM_WINDOW", "90")
    assert sweep_alarm() == SweepAlarm(time(6, 45, 30), timedelta(seconds=90))
    for at, window in (("7.30", "60"), ("25:00", "60"), ("07:30", "ten"), ("07:30", "5"), ("07:30", "90000")):
        monkeypatch.setenv("ORDERWATCH_SWEEP_ALARM_AT", at)
        monkeypatch.setenv("ORDERWATCH_SWEEP_ALARM_WINDOW", window)
        with pytest.raises(Refused, match="ORDERWATCH_SWEEP_ALARM"):
            sweep_alarm()


def test_the_mornings_ahead_are_those_whose_deadline_has_not_passed() -> None:
    alarm = SweepAlarm()
    before = datetime(2026, 11, 20, 7, 29, tzinfo=UTC)
    after = datetime(2026, 11, 20, 7, 31, tzinfo=UTC)
    assert alarm.mornings(before, 2) == [date(2026, 11, 20), date(2026, 11, 21)]
    assert alarm.mornings(after, 2) == [date(2026, 11, 21), date(2026, 11, 22)]


SCHEDULER_TRACEBACK = """\
2026-11-24 06:31:02.123 | ERROR   | prefect.server.services.scheduler - Unexpected error in: scheduler
Traceback (most recent call last):
  File "prefect/server/models/deployments.py", line 760, in _insert_scheduled_flow_runs
    await session.execute(
sqlalchemy.exc.InvalidRequestError: Can't evaluate bulk DML statement; please supply a bulk_dml decorated function
Server stopped!
2026-11-25 03:00:00.001 | ERROR   | prefect.server.utilities.worker_channel - Worker channel heartbeat persistence failed
Traceback (most recent call last):
  File "aiosqlite/core.py", line 63, in _connection_worker_thread
sqlite3.OperationalError: database is locked

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "sqlalchemy/engine/base.py", line 1967, in _exec_single_context
sqlalchemy.exc.OperationalError: (sqlite3.OperationalError) database is locked
[SQL: INSERT INTO worker ...]
06:00:00.000 | ERROR   | prefect.server.services.late_runs - an old, undated line
Traceback (most recent call last):
  File "x.py", line 1, in f
ValueError: undated
2026-11-25 04:00:00.000 | INFO    | prefect.server - fine
"""


def test_the_server_log_reader_finds_each_traceback_and_its_exception(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    log.write_text(SCHEDULER_TRACEBACK)
    found = service_errors(log)
    assert [(e.logger, e.error.split(":")[0], e.transient) for e in found] == [
        ("prefect.server.services.scheduler", "sqlalchemy.exc.InvalidRequestError", False),
        ("prefect.server.utilities.worker_channel", "sqlalchemy.exc.OperationalError", True),
        ("prefect.server.services.late_runs", "ValueError", False),
    ]
    # lines are in the server's local time; only the dated ones can be placed in the last 24 hours
    since = datetime(2026, 11, 24, 12, 0).astimezone(UTC)
    assert [e.logger for e in service_errors(log, since)] == ["prefect.server.utilities.worker_channel"]
    assert service_errors(tmp_path / "missing.log") == []


def test_the_credential_is_owner_only_and_env_never_prints_it(tmp_path: Path) -> None:
    made = ensure_credential(tmp_path)
    assert made.created and made.auth_string.startswith("orderwatch:") and len(made.auth_string) > 30
    assert stat.S_IMODE(made.path.stat().st_mode) == 0o600 and stat.S_IMODE(made.path.parent.stat().st_mode) == 0o700
    assert ensure_credential(tmp_path).auth_string == made.auth_string and not ensure_credential(tmp_path).created
    write_endpoint(Endpoint("http://127.0.0.1:4311/api", "http://127.0.0.1:4311", "sqlite:////x/ow.db"), tmp_path)
    lines = "\n".join(env_lines(tmp_path))
    assert made.auth_string not in lines
    assert "export PREFECT_API_URL=http://127.0.0.1:4311/api" in lines
    assert f'export PREFECT_API_AUTH_STRING="$(cat {made.path})"' in lines
    assert "export ORDERWATCH_DATABASE_URL=sqlite:////x/ow.db" in lines
    os.chmod(made.path, 0o644)
    with pytest.raises(Refused, match="readable by others"):
        read_credential(tmp_path)


def _deployment(cron: str | None) -> DeploymentResponse:
    schedules = []
    if cron is not None:
        schedules = [{"id": uuid4(), "deployment_id": uuid4(), "active": True,
                      "schedule": CronSchedule(cron=cron, timezone="Europe/London")}]  # fmt: skip
    return DeploymentResponse.model_validate({"id": uuid4(), "name": "daily-sweep", "flow_id": uuid4(),
                                              "schedules": schedules})  # fmt: skip


def test_the_due_day_is_when_the_schedule_last_fired_in_london() -> None:
    daily = _deployment("30 6 * * *")
    assert due_day(daily, datetime(2026, 11, 20, 6, 29, tzinfo=UTC)) == date(2026, 11, 19)
    assert due_day(daily, datetime(2026, 11, 20, 6, 30, tzinfo=UTC)) == date(2026, 11, 20)
    assert due_day(daily, datetime(2027, 4, 1, 5, 30, tzinfo=UTC)) == date(2027, 4, 1)  # 06:30 BST
    assert due_day(daily, datetime(2027, 4, 1, 5, 29, tzinfo=UTC)) == date(2027, 3, 31)
    assert due_day(_deployment(None), datetime(2026, 11, 20, 1, 0, tzinfo=UTC)) == date(2026, 11, 20)


def _run(name: str, state: object) -> FlowRun:
    return FlowRun(name=name, flow_id=uuid4(), state=state, expected_start_time=NOW)  # type: ignore[arg-type]


def test_the_alarm_says_why_the_morning_did_not_happen() -> None:
    assert "no run was created" in diagnose([], NOW).reason
    assert diagnose([_run("sweep-x", Late())], NOW).reason == "run sweep-x is Late: no worker took it"
    assert "is still Running" in diagnose([_run("sweep-x", Failed()), _run("sweep-y", Running())], NOW).reason
    assert diagnose([_run("sweep-x", Failed())], NOW).reason == "run sweep-x ended Failed"
    assert "outside the alarm window" in diagnose([_run("sweep-x", Completed())], NOW).reason
