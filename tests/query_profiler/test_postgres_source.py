"""PostgresSource on a real PostgreSQL: lock waits, slow queries, pg_stat_statements, read-only sessions."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from query_profiler.profiler import profile_incident, profile_queries
from query_profiler.records import QueryStatus
from query_profiler.sources.postgres import PostgresSource
from shared.contracts import FindingStatus, Incident, Trigger
from shared.errors import UnsafeQuery
from shared.settings import Settings
from tests.query_profiler.conftest import INSTALL_PG, Postgres, dbt_comment
from tests.requirements import require

pytestmark = pytest.mark.integration
WAIT_S = 15


def _window() -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    return now - timedelta(hours=1), now + timedelta(minutes=5)


def _wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def _activity(pg: Postgres, sql: str) -> list[tuple[Any, ...]]:
    with pg.connect(autocommit=True) as conn:
        return conn.execute(sql).fetchall()


@contextmanager
def _in_thread(pg: Postgres, sql: str) -> Iterator[None]:
    """Run ``sql`` on its own connection in a thread (bounded by a statement timeout); join on exit."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with pg.connect(autocommit=True, options="-c statement_timeout=30000") as conn:
                conn.execute(sql)
        except psycopg.Error as exc:
            errors.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    try:
        yield
    finally:
        worker.join(WAIT_S + 30)
    assert not worker.is_alive(), "the background query did not finish"


@pytest.fixture
def orders(postgres: Postgres) -> Iterator[None]:
    with postgres.connect(autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS orders (id int primary key, amount numeric)")
        conn.execute("INSERT INTO orders VALUES (1, 10), (2, 20) ON CONFLICT DO NOTHING")
    yield


@pytest.fixture
def source(postgres: Postgres) -> Iterator[PostgresSource]:
    src = PostgresSource.from_url(postgres.url, connect_timeout_s=5, statement_timeout_s=10)
    yield src
    src.close()


def test_names_the_blocker_pid_and_query_and_the_waiting_model(
    postgres: Postgres, orders: None, source: PostgresSource
) -> None:
    # Given a session holding an exclusive lock on orders, idle in its transaction
    blocker = postgres.connect()
    try:
        blocker.execute("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE")
        blocker_pid = blocker.info.backend_pid
        waiting_sql = f"{dbt_comment('model.shop.fct_orders')}\nselect count(*) from orders"
        # When a dbt-commented query waits on it
        with _in_thread(postgres, waiting_sql):
            _wait_until(
                lambda: (
                    _activity(
                        postgres,
                        "select 1 from pg_stat_activity where wait_event_type = 'Lock' and query like '%fct_orders%'",
                    )
                    != []
                ),
                "the lock wait",
            )
            start, end = _window()
            profiles = profile_queries(source, start=start, end=end, top=5)
            scoped = profile_queries(source, start=start, end=end, model="fct_orders")
            blocker.rollback()
    finally:
        blocker.close()
    # Then the waiting query is attributed, and the blocker's pid and query are named
    waiting = next(p for p in profiles if p.model == "fct_orders")
    assert waiting.status is QueryStatus.BLOCKED
    assert waiting.blocked_by == f"pid {blocker_pid}: LOCK TABLE orders IN ACCESS EXCLUSIVE MODE"
    assert f"on a lock held by pid {blocker_pid}: `LOCK TABLE orders IN ACCESS EXCLUSIVE MODE`" in waiting.diagnosis
    holder = next(p for p in profiles if p.query_id == f"pid:{blocker_pid}")
    assert holder.status is QueryStatus.IDLE_IN_TRANSACTION
    assert "holds locks blocking pid" in holder.diagnosis
    assert [p.model for p in scoped] == ["fct_orders"]


def test_slow_dbt_query_is_reported_with_its_model(postgres: Postgres, source: PostgresSource) -> None:
    # Given a dbt model's query that sleeps
    sql = f"{dbt_comment('model.shop.slow_model')}\nselect pg_sleep(4)"
    with _in_thread(postgres, sql):
        _wait_until(
            lambda: (
                _activity(
                    postgres,
                    "select 1 from pg_stat_activity where query like '%slow_model%'"
                    " and state = 'active' and now() - query_start > interval '1.2 s'",
                )
                != []
            ),
            "the slow query to run for a second",
        )
        # When the window is profiled
        start, end = _window()
        profiles = profile_queries(source, start=start, end=end, model="slow_model")
    # Then it is the top query, attributed and diagnosed from its wait event
    assert len(profiles) == 1
    slow = profiles[0]
    assert (slow.model, slow.status) == ("slow_model", QueryStatus.RUNNING)
    assert slow.elapsed_ms >= 1_000
    assert "waiting on Timeout:PgSleep" in slow.diagnosis


def test_pg_stat_statements_reports_mean_and_max_time(postgres: Postgres, source: PostgresSource) -> None:
    require(
        postgres.statements_available,
        "a PostgreSQL with pg_stat_statements preloaded (the throwaway cluster)",
        f"{postgres.cluster_problem}; the {postgres.origin} does not preload it. {INSTALL_PG}",
    )
    # Given a dbt-commented statement that completed slowly
    with postgres.connect(autocommit=True) as conn:
        conn.execute(f"{dbt_comment('model.shop.daily_rollup')}\nselect pg_sleep(1.1)")
    # When profiled
    start, end = _window()
    profiles = profile_queries(source, start=start, end=end, model="daily_rollup")
    # Then the statement totals are attributed to the model
    assert [p.status for p in profiles] == [QueryStatus.AGGREGATE]
    assert profiles[0].query_id.startswith("queryid:")
    assert profiles[0].elapsed_ms >= 1_000
    assert "over 1 calls" in profiles[0].diagnosis


def test_session_is_read_only_with_a_statement_timeout(source: PostgresSource) -> None:
    assert source.run("SHOW transaction_read_only") == [{"transaction_read_only": "on"}]
    assert source.run("SHOW statement_timeout") == [{"statement_timeout": "10s"}]
    with pytest.raises(UnsafeQuery):
        source.run("DELETE FROM orders")


def test_model_name_with_a_quote_travels_as_a_bound_parameter(
    postgres: Postgres, orders: None, source: PostgresSource
) -> None:
    start, end = _window()
    hostile = "x'); DROP TABLE orders; --"
    assert profile_queries(source, start=start, end=end, model=hostile) == []
    assert _activity(postgres, "select count(*) from orders") == [(2,)]


def test_unreachable_postgres_gives_an_unavailable_finding() -> None:
    settings = Settings(WAREHOUSE_URL="postgresql://postgres@127.0.0.1:1/nowhere")
    incident = Incident(
        incident_id="INC-20260501-0001",
        channel="#incidents",
        trigger=Trigger(dag_id="shop", task_id="dbt_run", run_id="r1", model="fct_orders"),
    )
    finding = profile_incident(incident, settings)
    assert finding.status is FindingStatus.UNAVAILABLE
    assert "PostgreSQL unavailable" in finding.summary
