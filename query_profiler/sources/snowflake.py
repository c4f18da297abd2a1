"""Snowflake's INFORMATION_SCHEMA.QUERY_HISTORY table function, through snowflake-connector-python.

The table function (last 7 days, real time) rather than ACCOUNT_USAGE.QUERY_HISTORY (hours of
latency). Values are bound server-side (``paramstyle="qmark"``). The connector is reached only
through ``connect``, a DB-API connection factory: ``snowflake.connector.connect`` in production, a
small DB-API fake in tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from query_profiler.guard import ensure_read_only
from query_profiler.records import QueryRecord
from query_profiler.sources.rows import record_from_row
from query_profiler.sources.snowflake_url import connect_arguments, query_tag
from shared.errors import SourceError, SourceUnavailable

HISTORY_DAYS = 7  # INFORMATION_SCHEMA.QUERY_HISTORY errors outside the last 7 days
RESULT_LIMIT = 10_000  # the table function's maximum
MAX_TEXT_FILTERS = 20

COLUMNS = (
    "QUERY_ID",
    "QUERY_TEXT",
    "QUERY_TYPE",
    "DATABASE_NAME",
    "SCHEMA_NAME",
    "USER_NAME",
    "ROLE_NAME",
    "WAREHOUSE_NAME",
    "WAREHOUSE_SIZE",
    "QUERY_TAG",
    "EXECUTION_STATUS",
    "ERROR_CODE",
    "ERROR_MESSAGE",
    "START_TIME",
    "END_TIME",
    "TOTAL_ELAPSED_TIME",
    "BYTES_SCANNED",
    "PARTITIONS_SCANNED",
    "PARTITIONS_TOTAL",
    "BYTES_SPILLED_TO_LOCAL_STORAGE",
    "BYTES_SPILLED_TO_REMOTE_STORAGE",
    "QUEUED_PROVISIONING_TIME",
    "QUEUED_OVERLOAD_TIME",
    "TRANSACTION_BLOCKED_TIME",
)


class SnowflakeSource:
    """Query history from Snowflake; ``kind`` is ``"snowflake"``."""

    kind = "snowflake"

    def __init__(self, connect: Callable[..., Any], connect_args: dict[str, Any]) -> None:
        self._connect = connect
        self._connect_args = connect_args

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        connect: Callable[..., Any] | None = None,
        connect_timeout_s: float = 5.0,
        statement_timeout_s: float = 10.0,
    ) -> SnowflakeSource:
        """Parse a ``snowflake://`` URL; ``connect`` defaults to ``snowflake.connector.connect``."""
        if connect is None:
            import snowflake.connector

            connect = snowflake.connector.connect
        args = connect_arguments(url) | {
            "paramstyle": "qmark",
            "login_timeout": max(1, round(connect_timeout_s)),
            "connect_timeout": max(1, round(connect_timeout_s)),
            "query_timeout": max(1, round(statement_timeout_s)),
            "session_parameters": {
                "QUERY_TAG": query_tag(url),
                "STATEMENT_TIMEOUT_IN_SECONDS": max(1, round(statement_timeout_s)),
            },
        }
        return cls(connect, args)

    def queries(self, *, start: datetime, end: datetime, text_filters: Sequence[str] = ()) -> Iterator[QueryRecord]:
        sql, params = history_statement(start=start, end=end, text_filters=text_filters)
        for row in self._fetch(sql, params):
            yield record_from_row(row)

    def _fetch(self, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        ensure_read_only(sql, dialect="snowflake")
        connection = self._open()
        try:
            cursor = connection.cursor()
            try:
                cursor.execute(sql, params)
                names = [d[0].upper() for d in cursor.description]
                return [dict(zip(names, row, strict=False)) for row in cursor.fetchall()]
            finally:
                cursor.close()
        except Exception as exc:
            raise _mapped(exc) from exc
        finally:
            connection.close()

    def _open(self) -> Any:
        try:
            return self._connect(**self._connect_args)
        except Exception as exc:
            account = self._connect_args.get("account")
            raise SourceUnavailable(
                f"cannot connect to Snowflake account {account}: {type(exc).__name__}: {exc}"
            ) from exc

    def close(self) -> None:
        return None  # a connection lives for one read only


def history_statement(
    *, start: datetime, end: datetime, text_filters: Sequence[str] = (), now: datetime | None = None
) -> tuple[str, list[Any]]:
    """The guarded SQL and its qmark parameters for the window [start, end].

    END_TIME_RANGE_END is bound only for a window that has closed: omitting it includes running queries.
    """
    now = now or datetime.now(UTC)
    if start < now - timedelta(days=HISTORY_DAYS):
        raise SourceError("Snowflake INFORMATION_SCHEMA.QUERY_HISTORY covers only the last 7 days")
    arguments = ["END_TIME_RANGE_START => TO_TIMESTAMP_LTZ(?)"]
    params: list[Any] = [start.isoformat()]
    if end < now:
        arguments.append("END_TIME_RANGE_END => TO_TIMESTAMP_LTZ(?)")
        params.append(end.isoformat())
    arguments.append("RESULT_LIMIT => ?")
    params.append(RESULT_LIMIT)
    sql = f"SELECT {', '.join(COLUMNS)}\nFROM TABLE(INFORMATION_SCHEMA.QUERY_HISTORY({', '.join(arguments)}))"
    # Untrusted model names: bound as ILIKE patterns, never formatted in. Too many: read the whole window.
    filters = [f for f in text_filters if f] if len(text_filters) <= MAX_TEXT_FILTERS else []
    if filters:
        sql += "\nWHERE " + " OR ".join("(QUERY_TEXT ILIKE ? OR QUERY_TAG ILIKE ?)" for _ in filters)
        for text in filters:
            params += [f"%{text}%", f"%{text}%"]
    sql += "\nORDER BY START_TIME DESC"
    return ensure_read_only(sql, dialect="snowflake"), params


def _mapped(exc: Exception) -> Exception:
    if isinstance(exc, SourceError | SourceUnavailable):
        return exc
    kind = type(exc).__name__
    if kind in ("ProgrammingError", "DataError", "NotSupportedError", "IntegrityError"):
        return SourceError(f"Snowflake rejected the query-history read: {exc}")
    return SourceUnavailable(f"Snowflake query-history read failed: {kind}: {exc}")
