"""Snowflake-shaped rows (UPPERCASE QUERY_HISTORY column names) to ``QueryRecord``.

Shared by the Snowflake adapter (rows from the connector) and the file source (JSON or CSV exports
of the same columns), so both read a row the same way: numbers may arrive as numbers or strings
(CSV), timestamps as datetimes or ISO-8601 / Snowflake text, empty strings mean "not recorded".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from query_profiler.records import QueryRecord, QueryStatus

_STATUS = {
    "SUCCESS": QueryStatus.SUCCEEDED,
    "FAILED_WITH_ERROR": QueryStatus.FAILED,
    "FAILED_WITH_INCIDENT": QueryStatus.FAILED,
    "FAIL": QueryStatus.FAILED,
    "FAILED": QueryStatus.FAILED,
    "INCIDENT": QueryStatus.FAILED,  # ACCOUNT_USAGE spells the statuses SUCCESS, FAIL, INCIDENT
    "RUNNING": QueryStatus.RUNNING,
    "QUEUED": QueryStatus.QUEUED,
    "RESUMING_WAREHOUSE": QueryStatus.QUEUED,
    "BLOCKED": QueryStatus.BLOCKED,
}
# "2024-05-01 10:00:00.123 -0700" (Snowflake's text form) -> "2024-05-01 10:00:00.123-07:00"
_SPACED_OFFSET = re.compile(r"\s+([+-])(\d{2}):?(\d{2})$")


def record_from_row(row: Mapping[str, Any]) -> QueryRecord:
    """Map one QUERY_HISTORY row (any key case) to a record."""
    r = row if "QUERY_ID" in row else {str(k).upper(): v for k, v in row.items()}
    error_code = _text(r.get("ERROR_CODE"))
    status = _STATUS.get(str(r.get("EXECUTION_STATUS") or "").upper(), QueryStatus.UNKNOWN)
    if status is QueryStatus.UNKNOWN and error_code:
        status = QueryStatus.FAILED
    return QueryRecord(
        query_id=_text(r.get("QUERY_ID")) or "?",
        query_text=_text(r.get("QUERY_TEXT")) or "",
        status=status,
        elapsed_ms=_number(r.get("TOTAL_ELAPSED_TIME")) or 0.0,
        started_at=parse_timestamp(r.get("START_TIME")),
        ended_at=parse_timestamp(r.get("END_TIME")),
        error_code=error_code,
        error_message=_text(r.get("ERROR_MESSAGE")),
        warehouse=_text(r.get("WAREHOUSE_NAME")),
        user=_text(r.get("USER_NAME")),
        query_tag=_text(r.get("QUERY_TAG")),
        bytes_scanned=_integer(r.get("BYTES_SCANNED")),
        partitions_scanned=_integer(r.get("PARTITIONS_SCANNED")),
        partitions_total=_integer(r.get("PARTITIONS_TOTAL")),
        queued_overload_ms=_number(r.get("QUEUED_OVERLOAD_TIME")),
        queued_provisioning_ms=_number(r.get("QUEUED_PROVISIONING_TIME")),
        transaction_blocked_ms=_number(r.get("TRANSACTION_BLOCKED_TIME")),
        bytes_spilled_local=_integer(r.get("BYTES_SPILLED_TO_LOCAL_STORAGE")),
        bytes_spilled_remote=_integer(r.get("BYTES_SPILLED_TO_REMOTE_STORAGE")),
    )


def parse_timestamp(value: Any) -> datetime | None:
    """A timezone-aware datetime (naive values are taken as UTC), or None when absent or unreadable."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and value.strip():
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            try:
                parsed = datetime.fromisoformat(_SPACED_OFFSET.sub(r"\1\2:\3", value.strip()))
            except ValueError:
                return None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        parsed = datetime.fromtimestamp(value, tz=UTC)
    else:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if text.strip() else None


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value).replace(",", "").strip())
    except ValueError:
        return None


def _integer(value: Any) -> int | None:
    number = _number(value)
    return None if number is None else int(number)
