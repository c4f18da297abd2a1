"""Alembic's environment for the incident history: run only through ``shared.incident_db.migrate``.

``migrate.upgrade`` opens the connection (and its transaction, and on PostgreSQL an advisory lock so
two workers upgrading at once take turns) and hands it over in ``config.attributes["connection"]``.
"""

from __future__ import annotations

from alembic import context

from shared.incident_db.migrate import VERSION_TABLE
from shared.incident_db.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run the incident history's migrations with `incident-commander db upgrade`")
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters a table by copying it
)
with context.begin_transaction():
    context.run_migrations()
