"""A query-history export on disk (JSON array, JSON Lines or CSV; Snowflake's UPPERCASE columns).

For offline analysis and the demo. Rows are streamed: a JSON array is decoded one element at a time
and a CSV read row by row, so a 100,000-row export never sits in memory as one list.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from query_profiler.records import QueryRecord
from query_profiler.sources.rows import record_from_row
from shared.errors import SourceError

CHUNK_CHARS = 1 << 16
CSV_FIELD_LIMIT_CHARS = 10_000_000  # Snowflake keeps up to 100K characters of query text; leave headroom
_LIST_KEYS = ("rows", "data", "queries", "query_history", "QUERY_HISTORY")


class FileSource:
    """Reads a query-history export; ``kind`` is ``"file"``."""

    kind = "file"

    def __init__(self, path: Path) -> None:
        self.path = path

    def queries(
        self, *, start: datetime, end: datetime, text_filters: Sequence[str] = ()
    ) -> Iterator[QueryRecord]:
        needles = tuple(f.lower() for f in text_filters if f)
        for row in self.rows():
            record = record_from_row(row)
            if not _overlaps(record, start, end):
                continue
            if needles and not _mentions(record, needles):
                continue
            yield record

    def rows(self) -> Iterator[dict[str, Any]]:
        """The raw rows of the export, streamed."""
        if not self.path.is_file():
            raise SourceError(f"query history file not found: {self.path}")
        try:
            with self.path.open(encoding="utf-8", newline="") as stream:
                if self.path.suffix.lower() == ".csv":
                    yield from _csv_rows(stream)
                else:
                    yield from _json_rows(stream, lines=self.path.suffix.lower() in (".jsonl", ".ndjson"))
        except (UnicodeDecodeError, csv.Error) as exc:
            raise SourceError(f"cannot read {self.path.name}: {exc}") from exc

    def close(self) -> None:
        return None


def _overlaps(record: QueryRecord, start: datetime, end: datetime) -> bool:
    if record.started_at is not None and record.started_at > end:
        return False
    return record.ended_at is None or record.ended_at >= start


def _mentions(record: QueryRecord, needles: tuple[str, ...]) -> bool:
    haystack = (record.query_text + " " + (record.query_tag or "")).lower()
    return any(n in haystack for n in needles)


def _csv_rows(stream: IO[str]) -> Iterator[dict[str, Any]]:
    csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT_CHARS))
    yield from csv.DictReader(stream)


def _json_rows(stream: IO[str], *, lines: bool) -> Iterator[dict[str, Any]]:
    if lines:
        for number, line in enumerate(stream, start=1):
            if line.strip():
                yield _object(_loads(line, f"line {number}"))
        return
    head = stream.read(CHUNK_CHARS)
    start = len(head) - len(head.lstrip())
    if head[start : start + 1] == "[":
        yield from _array_elements(stream, head, start + 1)
        return
    document = _loads(head + stream.read(), "the document")  # an object wrapping the list: small exports only
    lists = (document.get(k) for k in _LIST_KEYS) if isinstance(document, dict) else iter(())
    rows = next((value for value in lists if isinstance(value, list)), None)
    if rows is None:
        raise SourceError('a JSON query-history export must be a list of rows (or {"rows": [...]})')
    for row in rows:
        yield _object(row)


def _array_elements(stream: IO[str], buffer: str, pos: int) -> Iterator[dict[str, Any]]:
    decoder = json.JSONDecoder()
    while True:
        while pos < len(buffer) and buffer[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(buffer):
            buffer, pos = _refill(stream, "", "unterminated JSON array")
            continue
        if buffer[pos] == "]":
            return
        try:
            value, pos = decoder.raw_decode(buffer, pos)
        except json.JSONDecodeError:
            buffer, pos = _refill(stream, buffer[pos:], "truncated or invalid JSON row")
            continue
        yield _object(value)
        if pos > CHUNK_CHARS:
            buffer, pos = buffer[pos:], 0


def _refill(stream: IO[str], rest: str, problem: str) -> tuple[str, int]:
    more = stream.read(CHUNK_CHARS)
    if not more:
        raise SourceError(f"query history export: {problem}")
    return rest + more, 0


def _loads(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceError(f"query history export: invalid JSON in {where}: {exc.msg}") from exc


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SourceError("query history export: every row must be a JSON object of QUERY_HISTORY columns")
    return value
