"""PostgreSQL via SQLAlchemy: live sessions (pg_stat_activity), statement totals (pg_stat_statements).

Read-only three times over: every statement passes the guard; the session starts with
``default_transaction_read_only=on`` and a ``statement_timeout`` (libpq startup options, so they are
connection parameters rather than statements); and each transaction is opened READ ONLY by the
driver (SQLAlchemy's ``postgresql_readonly``). Values are bound parameters. PostgreSQL keeps no
history of failed statements in these views (they are in the server log), so this source reports
what is running, waiting or blocking now, plus the slowest statements since the last stats reset.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from query_profiler.guard import ensure_read_only
from query_profiler.records import OWN_QUERY_MARKER, QueryRecord, QueryStatus
from shared.errors import SourceError, SourceUnavailable

LONG_RUNNING_MS = 1_000  # active sessions shorter than this are not worth a line (waiting ones always are)
STATEMENTS_LIMIT = 50
BLOCK_SIZE_BYTES = 8_192
MAX_TEXT_FILTERS = 20
# psycopg errors that mean "the server is not answering" rather than "the server said no".
_UNAVAILABLE_ERRORS = (
    "OperationalError",
    "QueryCanceled",
    "InterfaceError",
    "AdminShutdown",
    "ConnectionTimeout",
)

ACTIVITY_SQL = f"""/* {OWN_QUERY_MARKER} */
SELECT a.pid, a.usename, a.state, a.wait_event_type, a.wait_event, a.query_start, a.xact_start, a.query,
       pg_blocking_pids(a.pid) AS blocking_pids, b.pid AS blocker_pid, b.query AS blocker_query,
       clock_timestamp() AS observed_at
FROM pg_stat_activity AS a
LEFT JOIN pg_stat_activity AS b ON b.pid = (pg_blocking_pids(a.pid))[1]
WHERE a.datname = current_database()
  AND a.backend_type = 'client backend'
  AND a.pid <> pg_backend_pid()
  AND a.state IS DISTINCT FROM 'idle'
  AND COALESCE(a.query_start, a.backend_start) <= :window_end
  AND (CARDINALITY(CAST(:patterns AS TEXT[])) = 0 OR a.query ILIKE ANY (CAST(:patterns AS TEXT[])))"""

EXTENSION_SQL = f"""/* {OWN_QUERY_MARKER} */
SELECT e.extversion, current_setting('server_version_num') AS server_version_num
FROM pg_extension AS e WHERE e.extname = 'pg_stat_statements'"""

# PG13+ column names (total_exec_time, mean_exec_time, max_exec_time).
STATEMENTS_SQL = f"""/* {OWN_QUERY_MARKER} */
SELECT s.queryid, s.query, s.calls, s.mean_exec_time, s.max_exec_time, s.temp_blks_written, r.rolname
FROM pg_stat_statements AS s
LEFT JOIN pg_roles AS r ON r.oid = s.userid
WHERE s.dbid = (SELECT d.oid FROM pg_database AS d WHERE d.datname = current_database())
  AND s.max_exec_time >= :min_ms
  AND s.query NOT LIKE :own_marker
  AND (CARDINALITY(CAST(:patterns AS TEXT[])) = 0 OR s.query ILIKE ANY (CAST(:patterns AS TEXT[])))
ORDER BY s.max_exec_time DESC
LIMIT :row_limit"""


class PostgresSource:
    """Query activity from PostgreSQL; ``kind`` is ``"postgres"``."""

    kind = "postgres"

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @classmethod
    def from_url(cls, url: str, *, connect_timeout_s: float = 5.0, statement_timeout_s: float = 10.0) -> PostgresSource:
        """An engine for ``postgresql://`` (or ``postgres://``) with read-only, time-bounded sessions."""
        try:
            parsed = make_url(url.replace("postgres://", "postgresql://", 1))
        except SQLAlchemyError as exc:
            raise SourceError(f"WAREHOUSE_URL is not a valid PostgreSQL URL: {type(exc).__name__}") from exc
        timeout_ms = round(statement_timeout_s * 1000)
        options = (
            f"-c default_transaction_read_only=on -c statement_timeout={timeout_ms}"
            f" -c idle_in_transaction_session_timeout={2 * timeout_ms}"
        )
        engine = create_engine(
            parsed.set(drivername="postgresql+psycopg"),
            poolclass=NullPool,  # one read per incident: no connection outlives it
            connect_args={
                "connect_timeout": max(2, round(connect_timeout_s)),
                "options": options,
                "application_name": "incident-commander query_profiler",
            },
        )
        return cls(engine)

    def run(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run one statement, after the guard, in a read-only transaction; the only way SQL is sent."""
        ensure_read_only(sql, dialect="postgres")
        try:
            with self._engine.connect().execution_options(postgresql_readonly=True) as connection:
                return [dict(row._mapping) for row in connection.execute(text(sql), dict(params or {}))]
        except DBAPIError as exc:
            if exc.connection_invalidated or _is_unavailable(exc):
                raise SourceUnavailable(f"PostgreSQL unavailable: {_first_line(exc.orig)}") from exc
            raise SourceError(f"PostgreSQL rejected the read: {_first_line(exc.orig)}") from exc
        except SQLAlchemyError as exc:
            reason = f"{type(exc).__name__}: {_first_line(exc)}"
            raise SourceUnavailable(f"PostgreSQL unavailable: {reason}") from exc

    def queries(self, *, start: datetime, end: datetime, text_filters: Sequence[str] = ()) -> Iterator[QueryRecord]:
        # Model names are untrusted: they travel only as bound ILIKE patterns (wildcards only widen the read).
        patterns = [f"%{f}%" for f in text_filters if f] if len(text_filters) <= MAX_TEXT_FILTERS else []
        yield from self._activity(end, patterns)
        yield from self._statements(patterns)

    def _activity(self, end: datetime, patterns: list[str]) -> Iterator[QueryRecord]:
        rows = self.run(ACTIVITY_SQL, {"window_end": end, "patterns": patterns})
        blocks: dict[int, list[int]] = {}
        for row in rows:
            for blocker in row["blocking_pids"] or ():
                blocks.setdefault(blocker, []).append(row["pid"])
        for row in rows:
            record = _activity_record(row, tuple(sorted(blocks.get(row["pid"], ()))))
            if _worth_reporting(record):
                yield record

    def _statements(self, patterns: list[str]) -> Iterator[QueryRecord]:
        installed = self.run(EXTENSION_SQL)
        if not installed or int(installed[0]["server_version_num"]) < 130_000:
            return
        try:
            rows = self.run(
                STATEMENTS_SQL,
                {
                    "min_ms": LONG_RUNNING_MS,
                    "own_marker": f"%{OWN_QUERY_MARKER}%",
                    "row_limit": STATEMENTS_LIMIT,
                    "patterns": patterns,
                },
            )
        except SourceError:  # installed but not in shared_preload_libraries: the view cannot be read
            return
        for row in rows:
            yield QueryRecord(
                query_id=f"queryid:{row['queryid']}",
                query_text=row["query"] or "",
                status=QueryStatus.AGGREGATE,
                elapsed_ms=float(row["max_exec_time"]),
                mean_ms=float(row["mean_exec_time"]),
                calls=int(row["calls"]),
                user=row["rolname"],
                temp_bytes_written=int(row["temp_blks_written"] or 0) * BLOCK_SIZE_BYTES,
            )

    def close(self) -> None:
        self._engine.dispose()


def _activity_record(row: Mapping[str, Any], blocking: tuple[int, ...]) -> QueryRecord:
    waiting_on_lock = row["wait_event_type"] == "Lock"
    idle_in_transaction = str(row["state"] or "").startswith("idle in transaction")
    began = row["xact_start"] if idle_in_transaction else row["query_start"]
    if idle_in_transaction:
        status = QueryStatus.IDLE_IN_TRANSACTION
    else:
        status = QueryStatus.BLOCKED if waiting_on_lock else QueryStatus.RUNNING
    wait = f"{row['wait_event_type']}:{row['wait_event']}" if row["wait_event_type"] else None
    return QueryRecord(
        query_id=f"pid:{row['pid']}",
        query_text=row["query"] or "",
        status=status,
        elapsed_ms=(row["observed_at"] - began).total_seconds() * 1000 if began else 0.0,
        started_at=row["query_start"],
        user=row["usename"],
        wait_event=wait,
        blocked_by_pid=row["blocker_pid"],
        blocked_by_query=row["blocker_query"],
        blocking_pids=blocking,
    )


def _worth_reporting(record: QueryRecord) -> bool:
    if record.blocking_pids or record.blocked_by_pid is not None:
        return True
    return record.status is QueryStatus.RUNNING and record.elapsed_ms >= LONG_RUNNING_MS


def _is_unavailable(exc: DBAPIError) -> bool:
    name = type(exc.orig).__name__
    return name in _UNAVAILABLE_ERRORS


def _first_line(exc: object) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
