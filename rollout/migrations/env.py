"""Alembic's environment for ``rollout.db``: migrations run on the connection ``rollout.db.upgrade``
hands over (in its transaction, under the schema lock), against ``rollout.db.metadata``."""

from alembic import context

from rollout.db import VERSION_TABLE, metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise SystemExit("run the migrations through `ocr-migrate db upgrade` (rollout.db.upgrade), which takes the "
                     "schema lock first")
context.configure(connection=connection, target_metadata=metadata, version_table=VERSION_TABLE,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
