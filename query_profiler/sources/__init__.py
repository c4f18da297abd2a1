"""Query-history sources behind one small interface, each strictly read-only.

    QueryHistorySource (Protocol)
    ├── SnowflakeSource   INFORMATION_SCHEMA.QUERY_HISTORY through snowflake-connector-python
    ├── PostgresSource    pg_stat_activity (+ pg_blocking_pids) and pg_stat_statements via SQLAlchemy
    └── FileSource        a JSON or CSV export of Snowflake-shaped query history

``make_source(url)`` picks one by the URL's scheme. Every statement an adapter sends goes through
``query_profiler.guard.ensure_read_only`` first, and values travel as bound parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from query_profiler.records import QueryRecord
from shared.errors import ConfigError

DEFAULT_CONNECT_TIMEOUT_S = 5.0
DEFAULT_STATEMENT_TIMEOUT_S = 10.0


class QueryHistorySource(Protocol):
    """Where the profiler reads what the warehouse did."""

    @property
    def kind(self) -> str:
        """``"snowflake"``, ``"postgres"`` or ``"file"``: named in the finding's details."""
        ...

    def queries(self, *, start: datetime, end: datetime, text_filters: Sequence[str] = ()) -> Iterator[QueryRecord]:
        """Queries that overlap [start, end].

        ``text_filters`` may narrow the read to queries whose text or tag contains one of the strings
        (a superset: callers still attribute and filter exactly)."""
        ...

    def close(self) -> None:
        """Release connections; the source is not used afterwards."""
        ...


def make_source(
    url: str,
    *,
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
    statement_timeout_s: float = DEFAULT_STATEMENT_TIMEOUT_S,
    snowflake_connect: Callable[..., Any] | None = None,
) -> QueryHistorySource:
    """The source for ``url``: ``snowflake://``, ``postgresql://`` (``postgres://``, ``postgresql+psycopg://``),
    ``file://`` or a plain path to a ``.json``/``.jsonl``/``.csv`` export."""
    scheme = urlsplit(url).scheme.lower()
    if scheme == "snowflake":
        from query_profiler.sources.snowflake import SnowflakeSource

        return SnowflakeSource.from_url(
            url,
            connect=snowflake_connect,
            connect_timeout_s=connect_timeout_s,
            statement_timeout_s=statement_timeout_s,
        )
    if scheme.split("+")[0] in ("postgresql", "postgres"):
        from query_profiler.sources.postgres import PostgresSource

        return PostgresSource.from_url(
            url, connect_timeout_s=connect_timeout_s, statement_timeout_s=statement_timeout_s
        )
    if scheme == "file" or scheme == "" or len(scheme) == 1:  # a plain path (or a Windows drive letter)
        from query_profiler.sources.file_export import FileSource

        return FileSource(_file_path(url) if scheme == "file" else Path(url))
    raise ConfigError(f"WAREHOUSE_URL: unsupported scheme {scheme!r} (snowflake://, postgresql:// or file://)")


def _file_path(url: str) -> Path:
    parts = urlsplit(url)
    return Path(unquote(parts.netloc + parts.path))  # file:///abs/x.json, or file://rel/x.json
