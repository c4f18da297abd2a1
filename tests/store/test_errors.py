"""The incident history's failures become the project's exceptions: retryable or permanent, one clear line."""

from __future__ import annotations

import socket
import sqlite3
import threading
from pathlib import Path

import pytest

from shared.errors import ConfigError, PermanentError, RetryableError
from shared.incident_db import StoreError, StoreUnavailable, open_store, upgrade
from tests.store.conftest import history_that_hangs, incident, member

PASSWORD = "hunter2-not-a-real-one"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_database_that_does_not_answer_is_retryable_and_its_password_masked() -> None:
    url = f"postgresql://etl:{PASSWORD}@127.0.0.1:{_free_port()}/incidents"
    store = open_store(url)  # connects on first use, not here
    with pytest.raises(StoreUnavailable) as raised:
        store.list_incidents()
    store.close()
    assert isinstance(raised.value, RetryableError) and raised.value.retry_after_s
    assert "did not answer at INCIDENT_DB_URL=postgresql://etl:" in str(raised.value)
    assert PASSWORD not in str(raised.value)
    with pytest.raises(StoreUnavailable):
        upgrade(url)


def test_a_database_never_migrated_says_to_run_db_upgrade(empty_url: str) -> None:
    # Given a database that exists but was never migrated (for SQLite: a file made by someone else)
    if empty_url.startswith("sqlite"):
        path = Path(empty_url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True)
        sqlite3.connect(path).close()
    store = open_store(empty_url)
    # When it is read or written, Then the error is permanent and says what to do
    with pytest.raises(StoreError, match=r"has no incident tables .*run `incident-commander db upgrade`") as raised:
        store.list_incidents()
    assert isinstance(raised.value, PermanentError)
    with pytest.raises(StoreError, match="db upgrade"):
        store.record_opened(incident(), member())
    store.close()


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("not a url", "is not a database URL"),
        (f"mysql://etl:{PASSWORD}@db/incidents", "only sqlite:/// and postgresql:// databases are supported"),
        (f"postgresql+nosuchdriver://etl:{PASSWORD}@db/incidents", "cannot use it"),
    ],
)
def test_an_unusable_url_is_a_config_error_naming_the_variable(url: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says) as raised:
        open_store(url)
    assert str(raised.value).startswith("INCIDENT_DB_URL=") and PASSWORD not in str(raised.value)


def test_a_write_the_database_keeps_waiting_is_cut_short_and_retryable(db_url: str) -> None:
    # Given a database that keeps every writer waiting (another connection holds the table or the file)
    store = open_store(db_url)
    raised: list[BaseException] = []

    def write() -> None:
        try:
            store.record_opened(incident(), member())
        except BaseException as exc:
            raised.append(exc)

    # When the history writes meanwhile, Then the write gives up while the lock is still held (PostgreSQL:
    # the statement timeout; SQLite: the lock wait), with an error Celery retries: a worker is never held
    with history_that_hangs(db_url):
        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        writer.join(30)
        assert not writer.is_alive(), "the write waited for the lock"
    store.close()
    assert len(raised) == 1 and isinstance(raised[0], StoreUnavailable), raised
