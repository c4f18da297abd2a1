"""Ranking: what is failing or stuck now comes before last week's slow aggregates."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

from query_profiler.profiler import profile_queries
from query_profiler.records import QueryRecord, QueryStatus

NOW = datetime(2026, 11, 23, 3, 2, tzinfo=UTC)


class ListSource:
    """A QueryHistorySource over records in memory (the port's contract, no warehouse)."""

    kind = "file"

    def __init__(self, records: Sequence[QueryRecord]) -> None:
        self._records = records

    def queries(self, *, start: datetime, end: datetime, text_filters: Sequence[str] = ()) -> Iterator[QueryRecord]:
        return iter(self._records)

    def close(self) -> None:
        pass


def test_live_blocked_and_blocking_sessions_outrank_old_aggregates() -> None:
    records = [
        QueryRecord(
            query_id="agg",
            query_text="select * from big",
            status=QueryStatus.AGGREGATE,
            elapsed_ms=20 * 60_000,
            calls=3,
            mean_ms=400_000,
        ),
        QueryRecord(
            query_id="waiter",
            query_text="insert into fct_orders select 1",
            status=QueryStatus.BLOCKED,
            elapsed_ms=93_000,
            started_at=NOW - timedelta(seconds=93),
            wait_event="Lock:relation",
            blocked_by_pid=4411,
            blocked_by_query="VACUUM FULL orders",
        ),
        QueryRecord(
            query_id="blocker",
            query_text="VACUUM FULL orders",
            status=QueryStatus.RUNNING,
            elapsed_ms=120_000,
            started_at=NOW - timedelta(seconds=120),
            blocking_pids=(4500,),
        ),
        QueryRecord(
            query_id="failed",
            query_text="select amount_usd from p",
            status=QueryStatus.FAILED,
            elapsed_ms=6,
            started_at=NOW,
            error_code="000904",
            error_message="invalid identifier",
        ),
    ]
    ranked = profile_queries(ListSource(records), start=NOW - timedelta(hours=2), end=NOW, top=4)
    assert [p.query_id for p in ranked] == ["failed", "blocker", "waiter", "agg"]
