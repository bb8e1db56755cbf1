"""Alembic environment: runs on the connection orderwatch hands it (``storage.migrate``), inside the transaction
orderwatch began and locked for one migration; on its own it would still run one transaction per migration."""

from alembic import context

from storage.models import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only `alembic` on the command line lands here
    raise SystemExit("run migrations through orderwatch (orderwatch migrate), which supplies the connection")
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=True,
    compare_type=True,
    transaction_per_migration=True,
)
with context.begin_transaction():
    context.run_migrations()
