"""One diagnosis per query, in words a data engineer acts on.

The first signal that explains the time wins: an error, a lock wait, queueing, remote spill, no
pruning, local spill, a slow resume, temp files (pg_stat_statements), a non-lock wait. A failed query
leads with its error and adds the strongest performance signal, if any.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from query_profiler.records import QueryRecord, QueryStatus

QUEUED_MIN_MS = 1_000  # shorter queueing is noise
BLOCKED_MIN_MS = 1_000
PROVISIONING_MIN_MS = 5_000
LOCAL_SPILL_MIN_BYTES = 1_000_000_000
TEMP_WRITTEN_MIN_BYTES = 100_000_000
FULL_SCAN_MIN_PARTITIONS = 100  # a full scan of a small table is fine

# Advice for common Snowflake error codes of a failed dbt model. Snowflake publishes no table of its
# server error codes: each comes with its message, in QUERY_HISTORY's ERROR_CODE and ERROR_MESSAGE
# (https://docs.snowflake.com/en/sql-reference/account-usage/query_history). 000904 "invalid
# identifier"; 002003 "Object ... does not exist or not authorized"; 000630 "Statement reached its
# statement or warehouse timeout of N second(s) and was canceled" (the STATEMENT_TIMEOUT_IN_SECONDS
# parameter, https://docs.snowflake.com/en/sql-reference/parameters); 000604 "SQL execution canceled";
# 000606 "No active warehouse selected in the current session".
_ERROR_ADVICE = {
    "000904": "fix the column reference in the model (or its upstream's output)",
    "002003": "the object is missing or not granted: check the upstream model ran and the role's grants",
    "000630": "hit the statement/warehouse timeout: speed the query up or raise STATEMENT_TIMEOUT_IN_SECONDS",
    "000604": "the query was cancelled (by a user, a timeout or a resource monitor)",
    "000606": "no usable warehouse: check the warehouse exists, is granted and its resource monitor quota",
}
_COMPILATION_NOISE = re.compile(r"(?i)SQL compilation error:\s*|error line \d+ at position \d+\s*")


@dataclass(frozen=True, slots=True)
class Diagnosis:
    headline: str  # what happened: "spilled 12 GB to remote storage"
    advice: str | None = None  # what to do about it

    @property
    def text(self) -> str:
        return f"{self.headline}: {self.advice}" if self.advice else self.headline


def diagnose(record: QueryRecord) -> Diagnosis:
    """The one diagnosis for ``record``."""
    signal = _first_signal(record)
    if record.failed:
        failure = Diagnosis(f"failed: {short_error(record)}", _ERROR_ADVICE.get(record.error_code or ""))
        if signal is None:
            return failure
        return Diagnosis(f"{failure.headline}; {signal.headline}", signal.advice or failure.advice)
    return signal or _fallback(record)


def has_signal(record: QueryRecord) -> bool:
    """True when something beyond elapsed time explains the query (a lock, queueing, a spill, ...)."""
    return _first_signal(record) is not None


def short_error(record: QueryRecord) -> str:
    """``000904 invalid identifier 'AMOUNT_USD'``: the code and the message without compiler noise."""
    message = " ".join(_COMPILATION_NOISE.sub(" ", record.error_message or "").split())
    code = (record.error_code or "").strip()
    return " ".join(part for part in (code, message) if part) or "error not recorded"


def _first_signal(record: QueryRecord) -> Diagnosis | None:
    for check in _SIGNALS:
        found = check(record)
        if found is not None:
            return found
    return None


def _lock_wait(r: QueryRecord) -> Diagnosis | None:
    if r.blocked_by_pid is not None:
        held = f"`{r.blocked_by_query}`" if r.blocked_by_query else "(query not visible)"
        return Diagnosis(
            f"waiting {duration(r.elapsed_ms)} on a lock held by pid {r.blocked_by_pid}: {held}",
            f"let pid {r.blocked_by_pid} finish, or end it with pg_terminate_backend",
        )
    if r.blocking_pids:
        pids = ", ".join(str(p) for p in r.blocking_pids)
        state = "idle in transaction" if r.status is QueryStatus.IDLE_IN_TRANSACTION else "running"
        return Diagnosis(
            f"holds locks blocking pid {pids} while {state} for {duration(r.elapsed_ms)}",
            "commit or roll back that session, or terminate it",
        )
    if (r.transaction_blocked_ms or 0) >= BLOCKED_MIN_MS:
        return Diagnosis(
            f"waited {duration(r.transaction_blocked_ms or 0)} on a transaction lock",
            "another statement held a lock on the same table: serialise the writers",
        )
    return None


def _queued(r: QueryRecord) -> Diagnosis | None:
    if (r.queued_overload_ms or 0) >= QUEUED_MIN_MS:
        where = f"behind {r.warehouse}" if r.warehouse else "for the warehouse"
        return Diagnosis(
            f"queued {duration(r.queued_overload_ms or 0)} {where}",
            "warehouse saturated: scale it out (multi-cluster) or move this job off peak",
        )
    return None


def _remote_spill(r: QueryRecord) -> Diagnosis | None:
    if (r.bytes_spilled_remote or 0) > 0:
        return Diagnosis(
            f"spilled {size(r.bytes_spilled_remote or 0)} to remote storage",
            "warehouse too small for this join or sort: size it up or reduce the rows joined",
        )
    return None


def _no_pruning(r: QueryRecord) -> Diagnosis | None:
    scanned, total = r.partitions_scanned, r.partitions_total
    if scanned is not None and total and total >= FULL_SCAN_MIN_PARTITIONS and scanned >= total:
        return Diagnosis(
            f"scanned {scanned:,} of {total:,} partitions",
            "no pruning: filter on the table's clustering or date column",
        )
    return None


def _local_spill(r: QueryRecord) -> Diagnosis | None:
    if (r.bytes_spilled_local or 0) >= LOCAL_SPILL_MIN_BYTES:
        return Diagnosis(
            f"spilled {size(r.bytes_spilled_local or 0)} to local disk",
            "memory pressure: a larger warehouse keeps this in memory",
        )
    return None


def _provisioning(r: QueryRecord) -> Diagnosis | None:
    if (r.queued_provisioning_ms or 0) >= PROVISIONING_MIN_MS:
        waited, warehouse = duration(r.queued_provisioning_ms or 0), r.warehouse or "the warehouse"
        return Diagnosis(
            f"waited {waited} for {warehouse} to resume",
            "keep the warehouse warm for this schedule (AUTO_SUSPEND)",
        )
    return None


def _temp_files(r: QueryRecord) -> Diagnosis | None:
    if (r.temp_bytes_written or 0) >= TEMP_WRITTEN_MIN_BYTES:
        return Diagnosis(
            f"wrote {size(r.temp_bytes_written or 0)} of temp files",
            "sorts or hashes spill to disk: raise work_mem for this role or reduce the rows",
        )
    return None


def _other_wait(r: QueryRecord) -> Diagnosis | None:
    if r.wait_event and not r.wait_event.startswith("Lock") and r.status is not QueryStatus.AGGREGATE:
        return Diagnosis(f"running {duration(r.elapsed_ms)}, waiting on {r.wait_event}")
    return None


_SIGNALS: tuple[Callable[[QueryRecord], Diagnosis | None], ...] = (
    _lock_wait,
    _queued,
    _remote_spill,
    _no_pruning,
    _local_spill,
    _provisioning,
    _temp_files,
    _other_wait,
)


def _fallback(r: QueryRecord) -> Diagnosis:
    if r.status is QueryStatus.AGGREGATE:
        calls = f"{r.calls or 0:,} calls"
        return Diagnosis(
            f"mean {duration(r.mean_ms or 0)}, max {duration(r.elapsed_ms)} over {calls}",
            "look at its plan (EXPLAIN) for a missing index or a bad join",
        )
    if r.status in (QueryStatus.RUNNING, QueryStatus.BLOCKED, QueryStatus.QUEUED):
        return Diagnosis(f"still {r.status.value} after {duration(r.elapsed_ms)}")
    return Diagnosis(
        f"ran {duration(r.elapsed_ms)} with no queueing, spilling or lock wait recorded",
        "look at its plan for the expensive step",
    )


def duration(ms: float) -> str:
    """``850 ms``, ``2.3 s``, ``41 s``, ``12 min``, ``3.5 h``."""
    if ms < 1_000:
        return f"{ms:.0f} ms"
    seconds = ms / 1_000
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 600:
        return f"{seconds:.0f} s"
    if seconds < 7_200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3_600:.1f} h"


def size(n_bytes: float) -> str:
    """``512 MB``, ``1.2 GB``, ``12 GB`` (decimal units, as Snowflake's UI shows them)."""
    for unit, factor in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n_bytes >= factor:
            value = n_bytes / factor
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
    return f"{n_bytes:.0f} B"
