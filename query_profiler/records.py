"""What a query-history source yields (``QueryRecord``) and what the profiler returns (``QueryProfile``).

A record is one query as the warehouse reported it, with every signal the diagnosis may use; fields
a source does not have stay ``None``. A profile is the ranked, attributed, diagnosed and redacted
view of a record that leaves the process.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from shared.contracts import QueryDetail

# Marks the profiler's own statements so that it never reports itself (pg_stat_statements, Snowflake).
OWN_QUERY_MARKER = "incident-commander:query_profiler"


class QueryStatus(StrEnum):
    FAILED = "failed"
    BLOCKED = "blocked"  # waiting on a lock
    QUEUED = "queued"  # waiting for warehouse capacity (or for it to resume)
    RUNNING = "running"
    IDLE_IN_TRANSACTION = "idle_in_transaction"  # a PostgreSQL session holding locks between statements
    SUCCEEDED = "succeeded"
    AGGREGATE = "aggregate"  # pg_stat_statements: totals over many calls, not one execution
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class QueryRecord:
    """One query from a query-history source. Times are timezone-aware; durations in milliseconds."""

    query_id: str
    query_text: str
    status: QueryStatus
    elapsed_ms: float
    started_at: datetime | None = None
    ended_at: datetime | None = None
    error_code: str | None = None
    error_message: str | None = None
    warehouse: str | None = None
    user: str | None = None
    query_tag: str | None = None
    bytes_scanned: int | None = None
    partitions_scanned: int | None = None
    partitions_total: int | None = None
    queued_overload_ms: float | None = None
    queued_provisioning_ms: float | None = None
    transaction_blocked_ms: float | None = None
    bytes_spilled_local: int | None = None
    bytes_spilled_remote: int | None = None
    wait_event: str | None = None  # PostgreSQL "Type:Event", e.g. "Lock:relation"
    blocked_by_pid: int | None = None
    blocked_by_query: str | None = None
    blocking_pids: tuple[int, ...] = ()  # sessions this one blocks
    calls: int | None = None  # pg_stat_statements only
    mean_ms: float | None = None
    temp_bytes_written: int | None = None

    @property
    def failed(self) -> bool:
        return self.status is QueryStatus.FAILED

    @property
    def is_own(self) -> bool:
        """True for the profiler's own statements."""
        return OWN_QUERY_MARKER in (self.query_tag or "") or OWN_QUERY_MARKER in self.query_text


@dataclass(frozen=True, slots=True)
class QueryProfile:
    """A ranked query as reported: attributed to a dbt model, diagnosed, every text redacted."""

    query_id: str
    model: str
    status: QueryStatus
    elapsed_ms: float
    error: str | None
    diagnosis: str
    headline: str  # the diagnosis without its advice, for one-line summaries
    blocked_by: str | None
    warehouse: str | None
    started_at: datetime | None
    query_text: str  # redacted and truncated

    def to_detail(self) -> QueryDetail:
        """This profile as ``QueryDetails.queries[i]`` (the query text stays in the evidence)."""
        return QueryDetail(
            query_id=self.query_id,
            model=self.model,
            status=self.status.value,
            elapsed_ms=round(self.elapsed_ms, 1),
            error=self.error,
            diagnosis=self.diagnosis,
            blocked_by=self.blocked_by,
            warehouse=self.warehouse,
            started_at=self.started_at,
        )
