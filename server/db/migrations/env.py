"""Alembic environment: runs on the connection the server hands it (see server/db/engine.py)."""

from alembic import context

from mlmp_server.db.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise SystemExit("Run migrations through `mp-server migrate`, which knows the database URL.")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
)
with context.begin_transaction():
    context.run_migrations()
