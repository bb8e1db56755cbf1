"""Alembic environment: runs on the connection orderwatch hands it (``storage.db.upgrade``)."""

from alembic import context

from storage.models import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only `alembic` on the command line lands here
    raise SystemExit("run migrations through orderwatch (storage.db.upgrade), which supplies the connection")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
