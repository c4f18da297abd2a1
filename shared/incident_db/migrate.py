"""The incident history's schema, migrated with Alembic from this package's own ``migrations`` folder.

``upgrade(url)`` is what ``incident-commander db upgrade`` runs, and what a worker that writes the
history runs once at start (zero set-up on the embedded SQLite file): it creates the database file
if needed, brings the schema to the newest revision, and does nothing when it is there already.
Two processes upgrading at once take turns (PostgreSQL: an advisory lock; SQLite: the write lock).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, text

from shared.incident_db.engine import StoreError, describe, make_engine, translated

MIGRATIONS = Path(__file__).resolve().parent / "migrations"  # package data: shipped in the wheel
VERSION_TABLE = "incident_db_version"
_ADVISORY_LOCK = 0x50494344  # "PICD": one lock id for this schema's migrations on a shared server


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration for this package's migrations, run on ``connection``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision this code knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None  # the package ships at least one revision
    return head


def upgrade(url: str, *, statement_timeout_s: float | None = None) -> str:
    """Bring the database at ``url`` to the newest revision (creating a SQLite file); the revision it is at.

    Unbounded by default (``incident-commander db upgrade``: an operator waits for a long migration, or
    for another one holding the lock); a worker passes ``STATEMENT_TIMEOUT_S``, so a database that hangs
    costs it seconds (StoreUnavailable), never its slot."""
    engine = make_engine(url, create_file=True, statement_timeout_s=statement_timeout_s)
    try:
        with translated(url), engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK})
            try:
                command.upgrade(alembic_config(connection), "head")
            except CommandError as error:  # e.g. the database is at a revision this code does not have
                raise StoreError(
                    f"cannot migrate the incident database at {describe(url)}: {error} "
                    f"(this code's newest revision is {head_revision()}: is the database from a newer version?)"
                ) from error
            return _revision_of(connection) or ""
    finally:
        engine.dispose()


def current_revision(url: str) -> str | None:
    """The revision the database at ``url`` is at; None when it was never migrated."""
    engine = make_engine(url, create_file=False)
    try:
        with translated(url), engine.connect() as connection:
            return _revision_of(connection)
    finally:
        engine.dispose()


def _revision_of(connection: Connection) -> str | None:
    return MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE}).get_current_revision()
