"""A query-history export on disk (JSON array, JSON Lines or CSV; Snowflake's UPPERCASE columns).

For offline analysis and the demo. Every format is streamed in bounded memory, whatever the file's
size: a JSON array (bare or wrapped as ``{"rows": [...]}``) is decoded one element at a time, JSON
Lines line by line and CSV row by row, each through reads of at most ``CHUNK_CHARS`` or one record.
A single record over ``MAX_RECORD_CHARS`` is refused with a SourceError naming its line (JSON
Lines, CSV) or character offset (JSON) rather than read: no QUERY_HISTORY row is that big, and
reading one would take memory in proportion to the file (measured: bench/bounded_reads_bench.py).
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
# One row of an export: Snowflake keeps at most 100K characters of query text, so 1 Mi characters is
# ten times any real row. Memory per record stays under a few times this.
MAX_RECORD_CHARS = 1 << 20
CSV_FIELD_LIMIT_CHARS = MAX_RECORD_CHARS  # fields are bounded by the record limit as well
_LIST_KEYS = ("rows", "data", "queries", "query_history", "QUERY_HISTORY")
_DECODER = json.JSONDecoder()
_WHITESPACE = " \t\r\n"
# A decode error this close to the end of the buffer may be a value cut by the chunk boundary
# (``tru``, ``-``, half a ``\\uXXXX`` escape): read more before calling it invalid JSON.
_CUT_MARGIN_CHARS = 16


class FileSource:
    """Reads a query-history export; ``kind`` is ``"file"``."""

    kind = "file"

    def __init__(self, path: Path) -> None:
        self.path = path

    def queries(self, *, start: datetime, end: datetime, text_filters: Sequence[str] = ()) -> Iterator[QueryRecord]:
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


class _Lines:
    """``stream``'s lines, each read with a bounded ``readline``; counts the characters of a record.

    A record may span lines (a quoted CSV field with newlines): the reader calls ``next_record``
    after each one, and a record over ``MAX_RECORD_CHARS`` is an error naming its first line.
    """

    def __init__(self, stream: IO[str], what: str) -> None:
        self._stream = stream
        self._what = what
        self.number = 0  # lines read so far
        self._record_chars = 0
        self._record_line = 1

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = self._stream.readline(MAX_RECORD_CHARS + 1)
        if not line:
            raise StopIteration
        self.number += 1
        self._record_chars += len(line)
        if self._record_chars > MAX_RECORD_CHARS:
            raise SourceError(
                f"query history export: the {self._what} starting on line {self._record_line:,} is over "
                f"{MAX_RECORD_CHARS:,} characters; no query-history row is that big, so it was not read "
                "(is this a query-history export?)"
            )
        return line

    def next_record(self) -> None:
        self._record_chars = 0
        self._record_line = self.number + 1


def _csv_rows(stream: IO[str]) -> Iterator[dict[str, Any]]:
    csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT_CHARS))
    lines = _Lines(stream, "CSV record")
    reader = csv.DictReader(lines)
    if reader.fieldnames is None:  # reads the header line
        return
    lines.next_record()
    for row in reader:
        lines.next_record()
        yield row


def _json_rows(stream: IO[str], *, lines: bool) -> Iterator[dict[str, Any]]:
    if lines:
        bounded = _Lines(stream, "JSON line")
        for line in bounded:
            bounded.next_record()
            if line.strip():
                yield _object(_loads(line, f"line {bounded.number:,}"))
        return
    reader = _JsonReader(stream)
    first = reader.peek()
    if first == "[":
        reader.advance()
        yield from reader.elements()
        return
    if first == "{":  # an object wrapping the list: {"rows": [...]} (or data, queries, ...)
        reader.advance()
        if reader.find_list(_LIST_KEYS):
            yield from reader.elements()
            return
    raise SourceError('a JSON query-history export must be a list of rows (or {"rows": [...]})')


class _JsonReader:
    """A window of at most ``CHUNK_CHARS`` plus one value over a JSON text, decoded value by value."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._buffer = ""
        self._pos = 0
        self._offset = 0  # characters of the file before ``_buffer``
        self._eof = False

    def peek(self, skip: str = _WHITESPACE) -> str:
        """The next character not in ``skip`` (not consumed); "" at the end of the file."""
        while True:
            while self._pos < len(self._buffer) and self._buffer[self._pos] in skip:
                self._pos += 1
            if self._pos < len(self._buffer):
                return self._buffer[self._pos]
            if not self._fill():
                return ""

    def advance(self) -> None:
        self._pos += 1

    def elements(self) -> Iterator[dict[str, Any]]:
        """The objects of an array whose ``[`` was just consumed, up to and including its ``]``."""
        while True:
            char = self.peek(_WHITESPACE + ",")
            if char == "]":
                self.advance()
                return
            if not char:
                raise SourceError("query history export: unterminated JSON array")
            yield _object(self.value("row"))

    def find_list(self, keys: tuple[str, ...]) -> bool:
        """In an object whose ``{`` was just consumed: move to the first ``[`` under one of ``keys``
        (consumed); the other members' values are decoded and dropped, each bounded like a row."""
        while True:
            char = self.peek(_WHITESPACE + ",")
            if char in ("}", ""):
                return False
            key = self.value("member name")
            if self.peek() != ":":
                raise SourceError(f"query history export: invalid JSON at character {self._at():,}: expected ':'")
            self.advance()
            if key in keys and self.peek() == "[":
                self.advance()
                return True
            self.value(f"member {str(key)[:80]!r}")

    def value(self, what: str) -> Any:
        """Decode the next value (after any whitespace), reading more as needed, up to MAX_RECORD_CHARS."""
        self.peek()
        start = self._at()
        while True:
            try:
                value, end = _DECODER.raw_decode(self._buffer, self._pos)
            except json.JSONDecodeError as exc:
                cut = exc.pos >= len(self._buffer) - _CUT_MARGIN_CHARS or exc.msg.startswith("Unterminated string")
                if not cut or not self._more(start, what):
                    raise SourceError(
                        f"query history export: truncated or invalid JSON in the {what} at character {start:,}: "
                        f"{exc.msg}"
                    ) from exc
                continue
            if end >= len(self._buffer) and self._more(start, what):  # a number may go on in the next chunk
                continue
            self._pos = end
            return value

    def _at(self) -> int:
        return self._offset + self._pos

    def _more(self, start: int, what: str) -> bool:
        """Read another chunk into a value that began at character ``start``; False at the end of the file."""
        so_far = self._offset + len(self._buffer) - start
        if so_far > MAX_RECORD_CHARS:
            raise SourceError(
                f"query history export: the JSON {what} at character {start:,} is over {MAX_RECORD_CHARS:,} "
                "characters; no query-history row is that big, so it was not read "
                "(is this a query-history export?)"
            )
        # Each retry decodes the value from its start: read as much again as there is (geometric
        # growth, linear time), never more than the limit allows.
        return self._fill(min(max(CHUNK_CHARS, so_far), MAX_RECORD_CHARS + 1 - so_far + CHUNK_CHARS))

    def _fill(self, size: int | None = None) -> bool:
        """Append ``size`` characters (a chunk), first dropping what was consumed; False at the end of the file."""
        if self._eof:
            return False
        more = self._stream.read(size or CHUNK_CHARS)
        if not more:
            self._eof = True
            return False
        self._offset += self._pos
        self._buffer = self._buffer[self._pos :] + more
        self._pos = 0
        return True


def _loads(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceError(f"query history export: invalid JSON in {where}: {exc.msg}") from exc


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SourceError("query history export: every row must be a JSON object of QUERY_HISTORY columns")
    return value
