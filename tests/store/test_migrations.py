"""The incident history's migrations, run for real on SQLite and PostgreSQL, from an empty database."""

from __future__ import annotations

import threading
import tomllib
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from shared.incident_db import StoreError, current_revision, head_revision, open_store, upgrade
from shared.incident_db.engine import parse_url, sqlite_path
from shared.incident_db.migrate import MIGRATIONS, VERSION_TABLE
from shared.incident_db.models import Base
from tests.store.conftest import incident, member

REPO = Path(__file__).resolve().parents[2]
TABLES = {"incidents", "members", "events", "sequences", VERSION_TABLE}


def _tables(url: str) -> set[str]:
    engine = create_engine(parse_url(url))
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_creates_every_table_from_empty_at_the_newest_revision(empty_url: str) -> None:
    # Given a database that was never migrated (for SQLite: not even a file, nor its folder)
    path = sqlite_path(empty_url)
    assert path is None or not path.parent.exists()
    # When it is upgraded
    revision = upgrade(empty_url)
    # Then every table is there, at the newest revision
    assert revision == head_revision()
    assert current_revision(empty_url) == revision
    assert _tables(empty_url) == TABLES


def test_upgrade_twice_changes_nothing(db_url: str) -> None:
    # Given a migrated database with one incident in it
    store = open_store(db_url)
    store.record_opened(incident(), member())
    # When it is upgraded again
    again = upgrade(db_url)
    # Then it stays at the same revision and keeps its rows; the sequence was not re-seeded
    assert again == head_revision()
    assert [i.id for i in store.list_incidents()] == ["INC-20261130-0001"]
    assert store.record_opened(incident("INC-20261130-0002"), member("run-2")).is_new
    assert [i.sequence for i in store.list_incidents()] == [2, 1]
    store.close()


def test_the_migrations_create_exactly_the_models(db_url: str) -> None:
    # Given a database made by the migrations, When Alembic compares it with the ORM models
    engine = create_engine(parse_url(db_url))
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        differences = compare_metadata(context, Base.metadata)
    engine.dispose()
    # Then there is no difference: no table, column, index or constraint the one has and the other not
    assert differences == []


def test_two_processes_upgrading_at_once_both_end_at_the_newest_revision(empty_url: str) -> None:
    # Given two workers starting together on an empty database
    results: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def worker() -> None:
        start.wait()
        try:
            results.append(upgrade(empty_url))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then they take turns: both succeed, and the schema was made once
    assert errors == []
    assert results == [head_revision(), head_revision()]
    assert _tables(empty_url) == TABLES


def test_a_database_from_a_newer_version_is_refused_not_altered(db_url: str) -> None:
    # Given a database another, newer version migrated to a revision this code does not have
    engine = create_engine(parse_url(db_url))
    with engine.begin() as connection:
        connection.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = '9999'"))
    engine.dispose()
    # When this code upgrades it, Then it says so instead of guessing
    with pytest.raises(StoreError, match=r"newest revision is 0001: is the database from a newer version"):
        upgrade(db_url)
    assert current_revision(db_url) == "9999"


def test_a_sqlite_file_that_does_not_exist_is_not_created_by_readers(sqlite_url: str) -> None:
    # Given no database file yet, When a reader opens it, Then it is told how to create it, and no file appears
    with pytest.raises(StoreError, match=r"no incident database at .*incident-commander db upgrade"):
        open_store(sqlite_url)
    with pytest.raises(StoreError, match="no incident database"):
        current_revision(sqlite_url)
    path = sqlite_path(sqlite_url)
    assert path is not None and not path.exists()


def test_the_migrations_ship_in_the_wheel() -> None:
    # The migrations are modules of packages (setuptools finds them under shared*), and Alembic's
    # template is package data: an installed wheel can upgrade without the source tree.
    assert (MIGRATIONS / "__init__.py").is_file() and (MIGRATIONS / "versions" / "__init__.py").is_file()
    assert (MIGRATIONS / "env.py").is_file() and sorted(p.name for p in (MIGRATIONS / "versions").glob("0*.py"))
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "shared*" in project["tool"]["setuptools"]["packages"]["find"]["include"]
    assert project["tool"]["setuptools"]["package-data"]["shared.incident_db.migrations"] == ["script.py.mako"]
    assert (MIGRATIONS / "script.py.mako").is_file()
    assert any(dep.startswith("alembic") for dep in project["project"]["dependencies"])
