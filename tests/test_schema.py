"""The Alembic migrations and the SQLAlchemy models describe the same schema; the event log is append-only."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from storage.db import head_revision
from storage.models import events, metadata
from tests.conftest import Cli


def test_models_and_migrations_agree(engine: sa.Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert context.get_current_revision() == head_revision()
        assert compare_metadata(context, metadata) == []


def test_the_event_log_refuses_updates_and_deletes(engine: sa.Engine, cli: Cli) -> None:
    assert cli("so", "register", "--case", "SO-1", "--child", "C-1", "--order-date", "2026-01-15",
               "--notified-on", "2026-01-16", "--actor", "sw1").rc == 0  # fmt: skip
    for statement in (sa.update(events).values(actor="someone-else"), sa.delete(events)):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), engine.begin() as c:
            c.execute(statement)
    with engine.connect() as c:
        assert c.scalar(sa.select(sa.func.count()).select_from(events)) == 1


def test_the_head_constant_is_alembics_head() -> None:
    from storage.db import HEAD

    assert head_revision() == HEAD, "a new migration: set storage.db.HEAD to its revision"
