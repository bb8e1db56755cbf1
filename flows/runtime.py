"""What every flow shares: the casebook on orderwatch's own database, and the run's identity.

Prefect sees only case references, states, dates and counts: nothing here passes a child's identifier, a date of
birth or free text to a log, a parameter, an artifact, an event or a state message.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

import pendulum
from prefect.runtime import flow_run
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from machines.errors import Refused
from storage import clock
from storage.casebook import Casebook
from storage.config import load_policy
from storage.db import database_url, make_engine
from storage.errors import Busy, Unavailable
from storage.migrate import upgrade
from storage.opsbook import Operations

__all__ = [
    "RefusedByRules",
    "casebook",
    "dispose_engines",
    "operations",
    "run_id",
    "scheduled_date",
    "transient_database_error",
]


class RefusedByRules(Exception):
    """A refusal as it may be shown in Prefect: the public message (no personal data)."""


class _QuietRefusals(logging.Filter):
    """A refusal is the rules at work, not a fault: its run ends Failed with the one-line reason. Prefect's engine
    also logs the refusal re-raised from that final state, with a traceback ("Engine execution exited with
    unexpected exception"); in the run's log that record is noise, so it is dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], RefusedByRules))


logging.getLogger("prefect.flow_runs").addFilter(_QuietRefusals())


_ENGINES: dict[str, Engine] = {}


def _engine(url: str) -> Engine:
    """One engine (and pool) per database for the life of the process, migrated on first use."""
    if url not in _ENGINES:
        engine = make_engine(url)
        upgrade(engine, load_policy())
        _ENGINES[url] = engine
    return _ENGINES[url]


def dispose_engines() -> None:
    while _ENGINES:
        _ENGINES.popitem()[1].dispose()


def casebook() -> Casebook:
    """The casebook on ``ORDERWATCH_DATABASE_URL`` (default: the SQLite file under ./var/), migrated."""
    return Casebook(_engine(database_url()), load_policy(), clock=clock.now)


def operations() -> Operations:
    """The operations record (the sweep's runs, operators' alarms) on the same database."""
    return Operations(_engine(database_url()), clock=clock.now)


def run_id() -> str | None:
    """The flow run's id, stamped on the event log's ``source`` so an entry leads back to its run, and sent as the
    command's request id: a retried run records nothing twice."""
    value = flow_run.get_id()
    return None if value is None else f"flow-run/{value}"


def scheduled_date() -> date:
    """The run's scheduled date in Europe/London (a late or re-run sweep still sweeps for its own day)."""
    scheduled = flow_run.get_scheduled_start_time()  # now, outside a run
    return pendulum.instance(scheduled).in_timezone(clock.LONDON).date()


def public(exc: Refused) -> RefusedByRules:
    return RefusedByRules(exc.public)


def transient_database_error(task: Any, task_run: Any, state: Any) -> bool:
    """Retry a task only when the database was briefly unavailable (connection lost, locked) or busy with the same
    cases beyond the unit of work's own retries — not on a refusal."""
    try:
        state.result()
    except (OperationalError, Unavailable, Busy):
        return True
    except DBAPIError as exc:
        return bool(exc.connection_invalidated)
    except Exception:
        return False
    return False
