"""Fixtures for the incident history: a fresh SQLite file, and a fresh database on a throwaway PostgreSQL.

PostgreSQL is the query profiler's session cluster (``tests/query_profiler/conftest.py``: initdb/pg_ctl
on a free port, else the local server at 127.0.0.1:5432); each test gets a database of its own, so
every migration runs from empty. Without PostgreSQL binaries or a local server the PostgreSQL half is
skipped here and fails in CI (``tests.requirements.require``).
"""

from __future__ import annotations

import socket
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from shared.incident_db import IncidentDB, NewIncident, NewMember, open_store, upgrade
from shared.incident_db.engine import sqlite_path
from tests.query_profiler.conftest import INSTALL_PG, LOCAL_SERVER, PG_BIN, Postgres
from tests.query_profiler.conftest import postgres as postgres  # the session cluster, reused (a fixture)
from tests.requirements import require

BACKENDS = ["sqlite", "postgresql"]


def _local_server_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


def postgres_database(request: pytest.FixtureRequest) -> Iterator[str]:
    """A new, empty database on the session's PostgreSQL; dropped afterwards."""
    binaries = PG_BIN is not None and (PG_BIN / "initdb").is_file() and (PG_BIN / "pg_ctl").is_file()
    require(
        binaries or _local_server_answers(),
        f"PostgreSQL (initdb and pg_ctl, or a server at {LOCAL_SERVER})",
        INSTALL_PG,
    )
    server: Postgres = request.getfixturevalue("postgres")
    name = f"history_{uuid.uuid4().hex[:12]}"
    with server.connect(autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server.url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with server.connect(autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite file that does not exist yet, in a folder that does not either (upgrade makes both)."""
    return f"sqlite:///{tmp_path / 'state' / 'incidents.db'}"


@pytest.fixture
def postgres_url(request: pytest.FixtureRequest) -> Iterator[str]:
    yield from postgres_database(request)


@pytest.fixture(params=BACKENDS)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database, never migrated: a SQLite file to be, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state' / 'incidents.db'}"
    else:
        yield from postgres_database(request)


@pytest.fixture
def db_url(empty_url: str) -> str:
    """A database migrated to the newest revision, on each backend."""
    upgrade(empty_url)
    return empty_url


@pytest.fixture
def store(db_url: str) -> Iterator[IncidentDB]:
    db = open_store(db_url)
    yield db
    db.close()


def member(run_id: str = "scheduled__2026-11-30T09:00:00+00:00", **overrides: object) -> NewMember:
    """A failure of hourly_marts.dbt_build_marts, try 1, unless told otherwise."""
    values: dict[str, object] = {
        "dag_id": "hourly_marts",
        "task_id": "dbt_build_marts",
        "run_id": run_id,
        "try_number": 1,
        "map_index": -1,
        "failed_at": datetime(2026, 11, 30, 9, 5, tzinfo=UTC),
    }
    values.update(overrides)
    key = f"{values['dag_id']}:{values['task_id']}:{values['run_id']}:{values['map_index']}:{values['try_number']}"
    return NewMember(dedup_key=key, **values)  # type: ignore[arg-type]


def incident(incident_id: str = "INC-20261130-0001", **overrides: object) -> NewIncident:
    values: dict[str, object] = {"opened_at": datetime(2026, 11, 30, 9, 5, 1, tzinfo=UTC), "fingerprint": "fp-orders"}
    values.update(overrides)
    return NewIncident(incident_id=incident_id, **values)  # type: ignore[arg-type]


@contextmanager
def writer_holding_its_transaction(db_url: str) -> Iterator[None]:
    """Another connection in the middle of a write (SQLite: it holds the write lock), not committed."""
    path = sqlite_path(db_url)
    if path is not None:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("UPDATE sequences SET value = value + 1")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    with psycopg.connect(db_url, connect_timeout=5) as pg:
        pg.execute("UPDATE sequences SET value = value + 1")
        try:
            yield
        finally:
            pg.rollback()


@contextmanager
def history_that_hangs(db_url: str) -> Iterator[None]:
    """Another connection that keeps every reader of the incidents waiting: SQLite, an exclusive lock
    (locking_mode=EXCLUSIVE); PostgreSQL, ACCESS EXCLUSIVE on ``incidents`` (what a migration takes)."""
    path = sqlite_path(db_url)
    if path is not None:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA locking_mode=EXCLUSIVE")
        conn.execute("BEGIN EXCLUSIVE")
        conn.execute("UPDATE sequences SET value = value + 1")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    with psycopg.connect(db_url, connect_timeout=5) as pg:
        pg.execute("LOCK TABLE incidents IN ACCESS EXCLUSIVE MODE")
        try:
            yield
        finally:
            pg.rollback()
