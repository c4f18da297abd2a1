"""The database behind the incident history: its URL, its engine and its errors, in one place.

``INCIDENT_DB_URL`` is a SQLAlchemy URL: ``sqlite:///path/incidents.db`` (the embedded default, a file)
or ``postgresql://user:pass@host/db`` (production; run through psycopg 3, which the project
installs). Errors of the driver become the project's exceptions here, once (``translated``):

    StoreUnavailable (a SourceUnavailable, retryable)  the database did not answer, or was locked
    StoreError (a SourceError, permanent)               it answered, but not as the store expects
    ├── IncidentNotFound                                no incident with that id
    └── IdCollision                                     one id given to two incidents (Redis lost its counter)
    ConfigError                                         the URL itself is unusable

Every wait is bounded, so a database that hangs costs a caller seconds, not a worker slot for minutes:

    CONNECT_TIMEOUT_S     PostgreSQL: connecting (libpq's minimum, 2 s); SQLite: a writer waiting for the
                          write lock of another writer (``busy_timeout``). Reads never wait for it (below).
    STATEMENT_TIMEOUT_S   PostgreSQL: every statement (``SET LOCAL statement_timeout``, per transaction,
                          so it also holds behind PgBouncer); SQLite's only wait is the lock above.

A transaction that writes begins ``BEGIN IMMEDIATE`` on SQLite (two writers queue for the lock instead
of failing on a lock upgrade); a read-only one (``READ_ONLY``) begins ``BEGIN DEFERRED`` and, in WAL
mode, never waits for a writer.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import URL, make_url

from shared.errors import ConfigError, SourceError, SourceUnavailable
from shared.redact import mask_url

URL_VARIABLE = "INCIDENT_DB_URL"  # named in messages; the settings field the URL comes from
CONNECT_TIMEOUT_S = 2  # PostgreSQL: connecting (libpq takes no less); SQLite: waiting for another writer's lock
STATEMENT_TIMEOUT_S = 5.0  # PostgreSQL: any one statement (None: no bound, for an operator's `db upgrade`)
RETRY_AFTER_S = 5.0
READ_ONLY = "incident_db_read_only"  # an execution option: the transaction only reads (SQLite: BEGIN DEFERRED)


class StoreUnavailable(SourceUnavailable):
    """Raised when the incident database does not answer (refused, timed out, locked by another writer)."""


class StoreError(SourceError):
    """Raised when the incident database answers with something the store cannot use (no tables: not
    migrated; a schema newer than this code; a constraint it did not expect)."""


class IncidentNotFound(StoreError):
    """Raised when an incident id is not in the history."""


class IdCollision(StoreError):
    """Raised when an incident id the history holds is recorded again for another incident (another first
    failure, or opened at another time): Redis gave the id out twice. The two are never merged."""


def describe(url: str) -> str:
    """``INCIDENT_DB_URL=<url, password masked>``, for messages."""
    return f"{URL_VARIABLE}={mask_url(url)}"


def parse_url(url: str) -> URL:
    """The SQLAlchemy URL, with ``postgresql://`` and ``postgres://`` run through psycopg 3 (psycopg2,
    SQLAlchemy's default driver, is not a dependency); ConfigError naming the variable when unusable."""
    try:
        parsed = make_url(url)
    except exc.ArgumentError as error:
        raise ConfigError(f"{describe(url)} is not a database URL (sqlite:///path or postgresql://...)") from error
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError(f"{describe(url)}: only sqlite:/// and postgresql:// databases are supported")
    return parsed


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL; None for any other database (or an in-memory SQLite)."""
    parsed = parse_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def make_engine(url: str, *, create_file: bool, statement_timeout_s: float | None = STATEMENT_TIMEOUT_S) -> Engine:
    """An engine for ``url``. SQLite: WAL (readers never wait for the writer), foreign keys on, a writing
    transaction ``BEGIN IMMEDIATE`` (two writers queue for ``CONNECT_TIMEOUT_S`` instead of failing on a
    lock upgrade), a ``READ_ONLY`` one ``BEGIN DEFERRED``. PostgreSQL: ``CONNECT_TIMEOUT_S`` to connect,
    ``statement_timeout_s`` per statement (None: unbounded). A SQLite file that does not exist is created
    only with ``create_file``, else StoreError."""
    parsed = parse_url(url)
    path = sqlite_path(url)
    if path is not None:
        if create_file:
            path.parent.mkdir(parents=True, exist_ok=True)
        elif not path.exists():
            raise StoreError(
                f"no incident database at {path} ({describe(url)}): `incident-commander db upgrade` creates it"
            )
        engine = _create(url, parsed, {"timeout": CONNECT_TIMEOUT_S})
        _sqlite_pragmas(engine)
        return engine
    engine = _create(url, parsed, {"connect_timeout": CONNECT_TIMEOUT_S}, pool_pre_ping=True)
    if statement_timeout_s is not None:
        _postgres_statement_timeout(engine, statement_timeout_s)
    return engine


def _create(url: str, parsed: URL, connect_args: dict[str, Any], **options: Any) -> Engine:
    try:
        return create_engine(parsed, connect_args=connect_args, **options)
    except (exc.NoSuchModuleError, exc.ArgumentError, ImportError) as error:  # a driver we do not have
        raise ConfigError(f"{describe(url)}: cannot use it ({error})") from error


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (below), not pysqlite
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={CONNECT_TIMEOUT_S * 1000}")
        cursor.execute("PRAGMA foreign_keys=ON")
        _wal(cursor)
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN DEFERRED" if read_only else "BEGIN IMMEDIATE")


def _postgres_statement_timeout(engine: Engine, timeout_s: float) -> None:
    """``SET LOCAL statement_timeout`` at the start of every transaction: a statement that runs or waits
    (for a lock, say) longer is cancelled, and the caller gets StoreUnavailable. Per transaction, not a
    startup option, so it holds behind a pooler (PgBouncer refuses startup options)."""
    milliseconds = max(1, int(timeout_s * 1000))

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql(f"SET LOCAL statement_timeout = {milliseconds}")


def _wal(cursor: Any) -> None:
    """Switch the file to WAL once (the mode is kept in the file). The switch needs the file to itself and
    SQLite answers "locked" at once, without waiting, while another connection makes the same switch
    (two workers creating the file together): so it is tried again for up to CONNECT_TIMEOUT_S."""
    deadline = time.monotonic() + CONNECT_TIMEOUT_S
    while str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() >= deadline:
                raise
            time.sleep(0.02)


_UNDEFINED_TABLE = "42P01"  # PostgreSQL's SQLSTATE; SQLite says "no such table"


@contextmanager
def translated(url: str) -> Iterator[None]:
    """Map the driver's errors raised in the block to the project's tree (see the module docstring)."""
    try:
        yield
    except exc.DBAPIError as error:
        raise _mapped(error, url) from error
    except (exc.TimeoutError, exc.DisconnectionError) as error:  # the pool's own, not the driver's
        raise StoreUnavailable(
            f"the incident database did not answer at {describe(url)}: {error}", retry_after_s=RETRY_AFTER_S
        ) from error


def _mapped(error: exc.DBAPIError, url: str) -> Exception:
    reason = " ".join(str(error.orig).split())[:300]
    if "no such table" in reason.lower() or getattr(error.orig, "sqlstate", None) == _UNDEFINED_TABLE:
        return StoreError(
            f"the incident database at {describe(url)} has no incident tables ({reason}): "
            "run `incident-commander db upgrade`"
        )
    if isinstance(error, exc.OperationalError | exc.InterfaceError) or error.connection_invalidated:
        return StoreUnavailable(
            f"the incident database did not answer at {describe(url)}: {reason}", retry_after_s=RETRY_AFTER_S
        )
    return StoreError(f"the incident database at {describe(url)} refused a statement: {reason}")
