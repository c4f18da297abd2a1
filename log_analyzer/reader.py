"""Stream a log file as numbered byte lines, in bounded memory, skipping what cannot matter.

The file is read in fixed-size chunks into one reused buffer. A line longer than
``MAX_LINE_BYTES`` is cut (the rest is dropped up to the next newline). With a ``gate``
(literal byte strings), only lines containing one of them, plus the ``after`` lines that
follow each such line, are yielded: the per-chunk search runs in C (``bytearray.find``),
so the Python loop runs only for the few interesting lines. Line numbers stay exact.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Protocol

CHUNK_BYTES = 4 * 1024 * 1024
MAX_LINE_BYTES = 8 * 1024

# Lines worth a look in a big log. Each literal costs one C pass over every chunk, so the list is
# short: error-level lines carry "rror"/"RROR" (JSON "level":"error", dbt [error], Airflow 2
# "ERROR -"), exception lines "rror"/"xception", dbt test results "FAIL", Airflow 2 SIGKILL
# "return code -9". Message lines without them (a Snowflake message under "Database Error in
# model …") are caught as after-context of the line above.
GATE: tuple[bytes, ...] = (b"rror", b"RROR", b"xception", b"FAIL", b"return code")
AFTER_LINES = 6


class Readable(Protocol):
    """A binary file opened for reading (``open(path, "rb")``)."""

    def readinto(self, buffer: memoryview, /) -> int | None: ...


def iter_lines(stream: Readable, *, gate: tuple[bytes, ...] | None = None,
               after: int = AFTER_LINES) -> Iterator[tuple[int, bytes]]:
    """Yield ``(line_number, line_bytes)``; all lines without a gate, else the gated ones."""
    buf = bytearray(CHUNK_BYTES + MAX_LINE_BYTES)
    view = memoryview(buf)
    carry = 0  # bytes of an unfinished line kept at the front of buf
    lineno = 1  # number of the line that starts at buf[0]
    pending_after = 0
    skipping_long = False  # inside the dropped tail of an over-long line
    while True:
        n = stream.readinto(view[carry:carry + CHUNK_BYTES])
        end = carry + (n or 0)
        if not n:
            wanted = gate is None or pending_after or _has_any(buf, 0, carry, gate)
            if carry and not skipping_long and wanted:
                yield lineno, bytes(buf[:carry])
            return
        start = 0
        if skipping_long:
            nl = buf.find(b"\n", 0, end)
            if nl < 0:
                carry = 0
                continue
            start, skipping_long = nl + 1, False
        last_nl = buf.rfind(b"\n", start, end)
        if last_nl >= 0:
            chunk_end = last_nl + 1
            if gate is None:
                for line in bytes(buf[start:last_nl]).split(b"\n"):
                    yield lineno, line[:MAX_LINE_BYTES]
                    lineno += 1
            else:
                lineno, pending_after = yield from _gated(buf, start, chunk_end, lineno, gate, after,
                                                          pending_after)
            start = chunk_end
        tail = end - start
        if tail > MAX_LINE_BYTES:  # an over-long unfinished line: keep its head, drop the rest
            if gate is None or pending_after or _has_any(buf, start, start + MAX_LINE_BYTES, gate):
                pending_after = max(0, pending_after - 1)
                yield lineno, bytes(buf[start:start + MAX_LINE_BYTES])
            lineno += 1
            skipping_long, carry = True, 0
        else:
            buf[:tail] = buf[start:end]
            carry = tail


def _has_any(buf: bytearray, start: int, end: int, gate: tuple[bytes, ...]) -> bool:
    return any(buf.find(g, start, end) >= 0 for g in gate)


def _gated(buf: bytearray, start: int, end: int, lineno: int, gate: tuple[bytes, ...], after: int,
           pending_after: int) -> Generator[tuple[int, bytes], None, tuple[int, int]]:
    """Yield the gated lines of complete lines buf[start:end]; return (next lineno, pending)."""
    hits: set[int] = set()  # start offsets of lines holding a gate literal
    for g in gate:
        pos = buf.find(g, start, end)
        while pos >= 0:
            line_start = buf.rfind(b"\n", start, pos) + 1 or start
            hits.add(max(line_start, start))
            nl = buf.find(b"\n", pos, end)
            pos = buf.find(g, nl + 1, end) if nl >= 0 else -1
    pos = start
    counted = start
    for line_start in sorted(hits):
        # lines still owed as after-context of a previous hit, before this one
        while pending_after and pos < line_start:
            nl = buf.find(b"\n", pos, end)
            lineno += buf.count(b"\n", counted, pos)
            counted = pos
            yield lineno, bytes(buf[pos:min(nl, pos + MAX_LINE_BYTES)])
            pending_after -= 1
            pos = nl + 1
        if line_start < pos:
            continue
        lineno += buf.count(b"\n", counted, line_start)
        counted = line_start
        nl = buf.find(b"\n", line_start, end)
        yield lineno, bytes(buf[line_start:min(nl, line_start + MAX_LINE_BYTES)])
        pending_after = after
        pos = nl + 1
    while pending_after and pos < end:
        nl = buf.find(b"\n", pos, end)
        lineno += buf.count(b"\n", counted, pos)
        counted = pos
        yield lineno, bytes(buf[pos:min(nl, pos + MAX_LINE_BYTES)])
        pending_after -= 1
        pos = nl + 1
    lineno += buf.count(b"\n", counted, end)
    return lineno, pending_after
