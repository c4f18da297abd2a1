"""SnowflakeSource through the connector's DB-API seam: the SQL it sends, its binds, its row mapping.

Snowflake cannot be reached from here, so ``connect`` is given a small DB-API connection (a fake of
the external library, not of our code) that records what is executed and returns rows shaped like
INFORMATION_SCHEMA.QUERY_HISTORY's documented columns.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlglot
from sqlglot import exp

from query_profiler.profiler import profile_queries
from query_profiler.records import QueryStatus
from query_profiler.sources import make_source
from query_profiler.sources.snowflake import COLUMNS, RESULT_LIMIT, SnowflakeSource, history_statement
from query_profiler.sources.snowflake_url import connect_arguments
from shared.errors import ConfigError, SourceError, SourceUnavailable
from tests.query_profiler.conftest import incident_rows

URL = "snowflake://analyst:s3cret@xy12345.eu-west-1/ANALYTICS/MARTS?warehouse=WH_TRANSFORM&role=REPORTER"


class ProgrammingError(Exception):
    """Named like the connector's, which the adapter maps to SourceError."""


class FakeCursor:
    def __init__(self, connection: FakeConnection) -> None:
        self.connection = connection
        self.description: list[tuple[Any, ...]] = []

    def execute(self, sql: str, params: Any = None) -> FakeCursor:
        self.connection.executed.append((sql, params))
        if self.connection.error is not None:
            raise self.connection.error
        self.description = [(name, 2, None, None, None, None, True) for name in COLUMNS]
        return self

    def fetchall(self) -> list[tuple[Any, ...]]:
        return [tuple(row.get(name) for name in COLUMNS) for row in self.connection.rows]

    def close(self) -> None:
        pass


class FakeConnection:
    def __init__(self, rows: list[dict[str, Any]], error: Exception | None = None) -> None:
        self.rows, self.error = rows, error
        self.executed: list[tuple[str, Any]] = []
        self.connect_kwargs: dict[str, Any] = {}
        self.closed = False

    def connect(self, **kwargs: Any) -> FakeConnection:  # the factory passed as ``connect``
        self.connect_kwargs = kwargs
        return self

    def cursor(self) -> FakeCursor:
        return FakeCursor(self)

    def close(self) -> None:
        self.closed = True


def _window() -> tuple[datetime, datetime]:
    end = datetime.now(UTC) - timedelta(minutes=1)
    return end - timedelta(hours=2), end


def test_sends_one_guarded_query_history_call_with_bound_window() -> None:
    # Given a source on the fake connector
    fake = FakeConnection(incident_rows())
    source = SnowflakeSource.from_url(URL, connect=fake.connect)
    start, end = _window()
    # When it reads the window
    list(source.queries(start=start, end=end))
    # Then it sent one SELECT from the QUERY_HISTORY table function, every value a bind
    [(sql, params)] = fake.executed
    statement = sqlglot.parse_one(sql, read="snowflake")
    assert isinstance(statement, exp.Select)
    assert [c.name for c in statement.expressions] == list(COLUMNS)
    function = statement.find(exp.Anonymous)
    assert function is not None and function.name.upper() == "QUERY_HISTORY"
    assert function.find_ancestor(exp.Dot).this.name.upper() == "INFORMATION_SCHEMA"
    arguments = {kwarg.this.name.upper(): kwarg.expression for kwarg in function.find_all(exp.Kwarg)}
    assert list(arguments) == ["END_TIME_RANGE_START", "END_TIME_RANGE_END", "RESULT_LIMIT"]
    assert all(value.find(exp.Placeholder) is not None for value in arguments.values())
    assert not list(statement.find_all(exp.Literal))  # no value is written into the SQL
    assert "ACCOUNT_USAGE" not in sql.upper()
    assert params == [start.isoformat(), end.isoformat(), RESULT_LIMIT]
    assert fake.closed


def test_connects_with_password_role_warehouse_timeouts_and_own_query_tag() -> None:
    fake = FakeConnection([])
    list(
        SnowflakeSource.from_url(URL, connect=fake.connect, connect_timeout_s=4, statement_timeout_s=9).queries(
            start=_window()[0], end=_window()[1]
        )
    )
    kwargs = fake.connect_kwargs
    assert {k: kwargs[k] for k in ("account", "user", "password", "database", "schema", "warehouse", "role")} == {
        "account": "xy12345.eu-west-1",
        "user": "analyst",
        "password": "s3cret",
        "database": "ANALYTICS",
        "schema": "MARTS",
        "warehouse": "WH_TRANSFORM",
        "role": "REPORTER",
    }
    assert kwargs["paramstyle"] == "qmark"
    assert (kwargs["login_timeout"], kwargs["query_timeout"]) == (4, 9)
    assert kwargs["session_parameters"] == {
        "QUERY_TAG": "incident-commander:query_profiler",
        "STATEMENT_TIMEOUT_IN_SECONDS": 9,
    }


def test_key_pair_auth_from_the_url() -> None:
    args = connect_arguments(
        "snowflake://svc_profiler@acme-prod/ANALYTICS?private_key_file=/keys/rsa.p8"
        "&private_key_file_pwd=p%40ss&role=READER"
    )
    assert args == {
        "account": "acme-prod",
        "user": "svc_profiler",
        "database": "ANALYTICS",
        "private_key_file": "/keys/rsa.p8",
        "private_key_password": "p@ss",
        "role": "READER",
    }


def test_a_url_without_credentials_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="password or"):
        connect_arguments("snowflake://someone@acct/db")


def test_maps_documented_columns_and_ranks_failed_first_then_elapsed() -> None:
    fake = FakeConnection(incident_rows())
    start, end = _window()
    profiles = profile_queries(SnowflakeSource.from_url(URL, connect=fake.connect), start=start, end=end, top=4)
    assert [p.query_id for p in profiles] == [
        "q-failed",
        "q-spill",
        "q-queued",
        "q-scan",
    ]  # q-own is left out
    failed, spill, queued, scan = profiles
    assert (failed.model, failed.status, failed.warehouse) == (
        "fct_orders",
        QueryStatus.FAILED,
        "WH_TRANSFORM",
    )
    assert failed.error.startswith("000904 SQL compilation error")
    assert failed.diagnosis.startswith("failed: 000904 invalid identifier 'AMOUNT_USD'")
    assert spill.diagnosis.startswith("spilled 12 GB to remote storage: warehouse too small")
    assert queued.model == "stg_orders"  # from the JSON query tag
    assert queued.diagnosis.startswith("queued 41 s behind WH_TRANSFORM: warehouse saturated")
    assert scan.model == "unattributed"
    assert scan.diagnosis.startswith("scanned 4,812 of 4,812 partitions: no pruning")


def test_model_filter_is_bound_never_formatted_in() -> None:
    fake = FakeConnection(incident_rows())
    hostile = "fct_orders' OR 1=1 --"
    start, end = _window()
    assert (
        profile_queries(SnowflakeSource.from_url(URL, connect=fake.connect), start=start, end=end, model=hostile) == []
    )
    [(sql, params)] = fake.executed
    assert hostile not in sql
    assert "(QUERY_TEXT ILIKE ? OR QUERY_TAG ILIKE ?)" in sql
    assert params[-2:] == [f"%{hostile}%", f"%{hostile}%"]
    sqlglot.parse_one(sql, read="snowflake")


def test_an_open_window_leaves_the_end_unbound_to_include_running_queries() -> None:
    now = datetime.now(UTC)
    sql, params = history_statement(start=now - timedelta(hours=1), end=now + timedelta(minutes=5), now=now)
    assert "END_TIME_RANGE_END" not in sql
    assert params == [(now - timedelta(hours=1)).isoformat(), RESULT_LIMIT]


def test_a_window_older_than_seven_days_is_refused() -> None:
    now = datetime.now(UTC)
    with pytest.raises(SourceError, match="last 7 days"):
        history_statement(start=now - timedelta(days=8), end=now - timedelta(days=7, hours=22), now=now)


def test_connector_errors_are_mapped() -> None:
    def refuse(**_: Any) -> Any:
        raise OSError("Connection refused")

    start, end = _window()
    with pytest.raises(SourceUnavailable, match="cannot connect to Snowflake account xy12345"):
        list(SnowflakeSource.from_url(URL, connect=refuse).queries(start=start, end=end))
    broken = FakeConnection([], error=ProgrammingError("002003 (42S02): Object 'QUERY_HISTORY' does not exist"))
    with pytest.raises(SourceError, match="002003"):
        list(SnowflakeSource.from_url(URL, connect=broken.connect).queries(start=start, end=end))


def test_make_source_picks_snowflake_by_scheme() -> None:
    fake = FakeConnection([])
    assert make_source(URL, snowflake_connect=fake.connect).kind == "snowflake"
