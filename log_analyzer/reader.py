"""Stream a log file as numbered byte lines, in bounded memory.

The file is read in fixed-size chunks into one reused buffer. A line longer than
``MAX_LINE_BYTES`` is cut (the rest is dropped up to the next newline). Line numbers stay
exact. Big files are not read line by line at all: ``bigscan.py`` searches them for the
catalog's literals first and reads only the lines around hits.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

CHUNK_BYTES = 4 * 1024 * 1024
MAX_LINE_BYTES = 8 * 1024
AFTER_LINES = 6  # lines after a hit that a gated scan (bigscan.py) still reads


class Readable(Protocol):
    """A binary file opened for reading (``open(path, "rb")``)."""

    def readinto(self, buffer: memoryview, /) -> int | None: ...


def iter_lines(stream: Readable) -> Iterator[tuple[int, bytes]]:
    """Yield ``(line_number, line_bytes)`` for every line, over-long lines cut to MAX_LINE_BYTES."""
    buf = bytearray(CHUNK_BYTES + MAX_LINE_BYTES)
    view = memoryview(buf)
    carry = 0  # bytes of an unfinished line kept at the front of buf
    lineno = 1  # number of the line that starts at buf[0]
    skipping_long = False  # inside the dropped tail of an over-long line
    while True:
        n = stream.readinto(view[carry : carry + CHUNK_BYTES])
        end = carry + (n or 0)
        if not n:
            if carry and not skipping_long:
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
            for line in bytes(buf[start:last_nl]).split(b"\n"):
                yield lineno, line[:MAX_LINE_BYTES]
                lineno += 1
            start = last_nl + 1
        tail = end - start
        if tail > MAX_LINE_BYTES:  # an over-long unfinished line: keep its head, drop the rest
            yield lineno, bytes(buf[start : start + MAX_LINE_BYTES])
            lineno += 1
            skipping_long, carry = True, 0
        else:
            buf[:tail] = buf[start:end]
            carry = tail
