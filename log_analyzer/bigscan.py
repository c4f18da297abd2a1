"""The big-file path: find the few interesting lines of a huge log with C-level byte searches.

CPython's ``bytes.find`` of a multi-byte needle runs at ~1 GB/s, but of a single byte it is
glibc ``memchr`` (tens of GB/s). So each gate literal is searched by its *rarest* byte in the
data at hand (estimated per chunk from a small sample); only the occurrences of that byte are
checked in Python (a dict lookup on the two bytes at the anchor, then ``startswith``). A literal
whose bytes are all common in this log falls back to ``bytes.find``. Line numbers are counted
lazily (``bytes.count`` up to each hit), lines are decoded only when fed to the engine.

What is fed: every line holding a gate literal, the ``after`` lines that follow it, and every
line while the engine has an open dbt header (``follow()``), so header windows close exactly
as in a full scan. Lines are cut at ``MAX_LINE_BYTES`` like ``reader.iter_lines``.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from typing import Any, NamedTuple

from log_analyzer.reader import CHUNK_BYTES, MAX_LINE_BYTES, Readable

SAMPLE_BYTES = 16 * 1024
REPLAN_REGIONS = 8  # the sampled byte frequencies are reused for this many chunks
CHECK_COST = 400  # one anchor occurrence checked in Python costs about this many bytes of find()

Feed = Callable[[int, bytes], None]


class _Plan:
    """How to search one region: memchr anchors (byte -> checks) and literals for plain find()."""

    def __init__(self, buf: bytearray, start: int, end: int, literals: tuple[bytes, ...]) -> None:
        size = end - start
        sample = bytes(buf[start : start + SAMPLE_BYTES]) if size > SAMPLE_BYTES else bytes(buf[start:end])
        scale = size / max(1, len(sample))
        freq: dict[int, int] = {}
        self.anchors: dict[int, tuple[dict[bytes, list[tuple[bytes, int]]], list[tuple[bytes, int]]]] = {}
        self.finds: list[bytes] = []
        for lit in literals:
            for b in set(lit):
                if b not in freq:
                    freq[b] = sample.count(b)
        # A byte is "free" when checking its occurrences costs under ~1% of one find() pass;
        # cover the literals with as few free bytes as possible (each is one memchr pass).
        free = {b for b, f in freq.items() if f * scale * CHECK_COST * 100 <= size}
        todo = [lit for lit in literals if free & set(lit)]
        chosen: set[int] = set()
        while todo:
            best = max(free - chosen, key=lambda b: sum(b in lit for lit in todo))
            chosen.add(best)
            todo = [lit for lit in todo if best not in lit]
        for lit in literals:
            mine = chosen & set(lit)
            k = lit.index(min(mine, key=freq.__getitem__)) if mine else min(range(len(lit)), key=lambda i: freq[lit[i]])
            if freq[lit[k]] * scale * CHECK_COST > size:
                self.finds.append(lit)
                continue
            by_pair, tails = self.anchors.setdefault(lit[k], ({}, []))
            if k + 1 < len(lit):
                by_pair.setdefault(lit[k : k + 2], []).append((lit, k))
            else:
                tails.append((lit, k))

    def hits(self, buf: bytearray, start: int, end: int) -> set[int]:
        """Start offsets of the lines in buf[start:end] (complete lines) holding a literal."""
        out: set[int] = set()
        find, rfind, startswith = buf.find, buf.rfind, buf.startswith
        for anchor, (by_pair, tails) in self.anchors.items():
            needle = bytes((anchor,))
            p = find(needle, start, end)
            while p >= 0:
                hit = False
                for lit, k in by_pair.get(bytes(buf[p : p + 2]), ()):
                    if p - k >= start and startswith(lit, p - k, end):
                        hit = True
                        break
                else:
                    for lit, k in tails:
                        if p - k >= start and startswith(lit, p - k, end):
                            hit = True
                            break
                if hit:
                    out.add(rfind(b"\n", start, p) + 1 or start)
                    nl = find(b"\n", p, end)
                    if nl < 0:
                        break
                    p = find(needle, nl + 1, end)
                else:
                    p = find(needle, p + 1, end)
        for lit in self.finds:
            p = find(lit, start, end)
            while p >= 0:
                out.add(rfind(b"\n", start, p) + 1 or start)
                nl = find(b"\n", p, end)
                if nl < 0:
                    break
                p = find(lit, nl + 1, end)
        return out


def scan(  # noqa: C901
    stream: Readable,
    feed: Feed,
    literals: tuple[bytes, ...],
    *,
    after: int,
    follow: Callable[[], bool] = lambda: False,
    chunk_bytes: int = CHUNK_BYTES,
) -> None:
    """Feed ``(line_number, line_bytes)`` of the interesting lines of ``stream`` to ``feed``, in order."""
    buf = bytearray(chunk_bytes + MAX_LINE_BYTES)
    view = memoryview(buf)
    carry = 0  # bytes of an unfinished line kept at the front of buf
    lineno = 1  # number of the line starting at buf[0]
    owed = 0  # lines still owed as after-context
    long_head: bytes | None = None  # head of an over-long line whose end is not read yet

    plan: list[_Plan | int] = [0, 0]  # [plan, regions left before it is made again]

    def region(start: int, end: int, lineno: int, owed: int) -> tuple[int, int]:
        """Feed the lines of buf[start:end] (complete lines); return (next lineno, owed)."""
        if plan[1] <= 0:  # type: ignore[operator]
            plan[0], plan[1] = _Plan(buf, start, end, literals), REPLAN_REGIONS
        plan[1] -= 1  # type: ignore[operator]
        hits = sorted(plan[0].hits(buf, start, end)) if end > start else []  # type: ignore[union-attr]
        counted, pos, i = start, start, 0
        while pos < end:
            while i < len(hits) and hits[i] < pos:
                i += 1
            if owed or follow():
                ls = pos
            elif i < len(hits):
                ls = hits[i]
            else:
                break
            nl = buf.find(b"\n", ls, end)
            lineno += buf.count(b"\n", counted, ls)
            counted = ls
            owed = after if i < len(hits) and hits[i] == ls else max(0, owed - 1)
            feed(lineno, bytes(buf[ls : min(nl, ls + MAX_LINE_BYTES)]))
            pos = nl + 1
        lineno += buf.count(b"\n", counted, end)
        return lineno, owed

    while True:
        n = stream.readinto(view[carry : carry + chunk_bytes])
        end = carry + (n or 0)
        start = 0
        if long_head is not None:
            nl = buf.find(b"\n", 0, end)
            if nl < 0 and n:
                carry = 0
                continue
            if _has_any(long_head, literals) or owed or follow():
                owed = after if _has_any(long_head, literals) else max(0, owed - 1)
                feed(lineno, long_head)
            lineno += 1
            long_head = None
            start = nl + 1 if nl >= 0 else end
        if not n:
            if end > start:  # a last line without a newline
                tail = bytes(buf[start:end])
                if _has_any(tail, literals) or owed or follow():
                    feed(lineno, tail[:MAX_LINE_BYTES])
            return
        last_nl = buf.rfind(b"\n", start, end)
        if last_nl >= 0:
            lineno, owed = region(start, last_nl + 1, lineno, owed)
            start = last_nl + 1
        tail_len = end - start
        if tail_len > MAX_LINE_BYTES:  # an over-long unfinished line: keep its head, drop the rest
            long_head = bytes(buf[start : start + MAX_LINE_BYTES])
            carry = 0
        else:
            buf[:tail_len] = buf[start:end]
            carry = tail_len


def _has_any(data: bytes, literals: tuple[bytes, ...]) -> bool:
    return any(lit in data for lit in literals)


# ---------------------------------------------------------------------------------------------
# The accelerated path for a regular file: Hyperscan finds every literal in one pass (~4 GB/s a
# core, in C, the GIL released) and numpy counts newlines (~13 GB/s); worker threads each take a
# chunk of the file (pread, scan, count), so both cores work. The main thread only walks the hit
# lines in order, reading each (and its after-context, and the lines of an open dbt header) with
# pread. Without hyperscan the pure-Python ``scan`` above runs; without numpy, bytes.count.
# ---------------------------------------------------------------------------------------------

try:  # optional accelerators (pyproject says why); the pure-Python scan is the fallback
    import hyperscan
except ImportError:  # pragma: no cover - depends on the platform's wheels
    hyperscan = None  # type: ignore[assignment]
try:
    import numpy
except ImportError:  # pragma: no cover
    numpy = None  # type: ignore[assignment]

ACCEL_CHUNK_BYTES = 4 * 1024 * 1024  # one worker task
PIECE_BYTES = 128 * 1024  # read and scanned at once: stays in L2 (a 4 MiB read buffer makes reads ~4x slower)
NUMPY_MIN_BYTES = 64 * 1024  # shorter ranges: bytes.count beats numpy's call overhead
READ_BYTES = 64 * 1024  # the main thread's pread size for the lines it feeds
_DATABASES: dict[tuple[bytes, ...], Any] = {}


def accelerated() -> bool:
    """Hyperscan is importable here (numpy makes it faster still)."""
    return hyperscan is not None


def default_workers() -> int:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(4, cpus))


def _database(literals: tuple[bytes, ...]) -> Any:
    db = _DATABASES.get(literals)
    if db is None:
        db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        ids, flags = list(range(len(literals))), [0] * len(literals)
        try:
            db.compile(expressions=list(literals), ids=ids, elements=len(literals), flags=flags, literal=True)
        except TypeError:  # an older binding without literal mode: the same literals as escaped regexes
            escaped = [b"".join(b"\\x%02x" % c for c in lit) for lit in literals]
            db.compile(expressions=escaped, ids=ids, elements=len(literals), flags=flags)
        _DATABASES[literals] = db
    return db


class _Chunk(NamedTuple):
    newlines: int  # in the chunk's own bytes
    last_nl: int  # absolute offset of its last newline, -1 if none
    # (start of a line holding a literal, or -1: the line began before the chunk; newlines between
    #  the chunk's start and that line; end offset of the line's first-ending literal in the chunk)
    hits: list[tuple[int, int, int]]


class _Worker:
    """Scan one chunk ``[off, off + chunk)`` of the file (plus the bytes a literal may straddle into)."""

    def __init__(self, fd: int, size: int, literals: tuple[bytes, ...], chunk: int) -> None:
        self.fd, self.size, self.chunk = fd, size, chunk
        self.db = _database(literals)
        self.lengths = [len(lit) for lit in literals]
        self.overlap = max(self.lengths) - 1
        self.local = threading.local()

    def __call__(self, off: int) -> _Chunk:
        tl = self.local
        piece = min(self.chunk, PIECE_BYTES)
        if not hasattr(tl, "buf"):
            tl.scratch = hyperscan.Scratch(self.db)
            tl.buf = bytearray(piece + self.overlap)
            tl.flags = numpy.empty(piece, dtype=bool) if numpy is not None else None
        buf: bytearray = tl.buf
        view = memoryview(buf)
        lengths, flags, scan, scratch = self.lengths, tl.flags, self.db.scan, tl.scratch
        stop = min(off + self.chunk, self.size)
        lines, last_nl, prev = 0, -1, -2  # newlines in [off, p); the last one's offset; the last hit line
        hits: list[tuple[int, int, int]] = []
        for p in range(off, stop, piece):
            own = min(piece, stop - p)  # this piece's bytes; the rest only completes a straddling literal
            n = _pread_into(self.fd, view[: min(own + self.overlap, self.size - p)], p)
            own = min(own, n)
            found: list[tuple[int, int]] = []  # (start, end) of each literal found

            def on_match(
                ident: int,
                _from: int,
                to: int,
                _flags: int,
                _ctx: object,
                found: list[tuple[int, int]] = found,
                own: int = own,
            ) -> None:
                if to - lengths[ident] < own:
                    found.append((to - lengths[ident], to))

            scan(view[:n], match_event_handler=on_match, scratch=scratch)
            counted = 0
            for s, e in sorted(found):
                r = buf.rfind(b"\n", 0, s)
                ls = p + r + 1 if r >= 0 else (last_nl + 1 if last_nl >= 0 else -1)
                if ls == prev:
                    if p + e < hits[-1][2]:
                        hits[-1] = (ls, hits[-1][1], p + e)
                    continue
                prev = ls
                if r >= 0:
                    lines += _count(buf, counted, r + 1, flags)
                    counted = r + 1
                hits.append((ls, lines, p + e))
            lines += _count(buf, counted, own, flags)
            r = buf.rfind(b"\n", 0, own)
            if r >= 0:
                last_nl = p + r
            if n < own:
                break
        return _Chunk(lines, last_nl, hits)


def _pread_into(fd: int, view: memoryview, off: int) -> int:
    n = 0
    while n < len(view):
        got = os.preadv(fd, [view[n:]], off + n)
        if got <= 0:
            break
        n += got
    return n


def _count(buf: bytearray, start: int, end: int, flags: Any) -> int:
    if flags is not None and end - start >= NUMPY_MIN_BYTES:
        data = numpy.frombuffer(buf, dtype=numpy.uint8, count=end - start, offset=start)
        return int(numpy.count_nonzero(numpy.equal(data, 10, out=flags[: end - start])))
    return buf.count(b"\n", start, end)


class _Lines:
    """Lines read with pread from any offset: ``line(pos)`` -> (head up to MAX_LINE_BYTES, next line's offset)."""

    def __init__(self, fd: int, size: int) -> None:
        self.fd, self.size = fd, size
        self.off, self.data = 0, b""

    def line(self, pos: int) -> tuple[bytes, int]:
        rel = pos - self.off
        if rel < 0 or (rel + MAX_LINE_BYTES + 1 > len(self.data) and self.off + len(self.data) < self.size):
            self.data = os.pread(self.fd, min(max(READ_BYTES, MAX_LINE_BYTES + 1), self.size - pos), pos)
            self.off, rel = pos, 0
        nl = self.data.find(b"\n", rel, rel + MAX_LINE_BYTES + 1)
        if nl >= 0:
            return self.data[rel:nl], self.off + nl + 1
        head = self.data[rel : rel + MAX_LINE_BYTES]
        p = pos + len(head)
        while p < self.size:  # an over-long line: its head is fed, the rest skipped
            block = os.pread(self.fd, min(READ_BYTES, self.size - p), p)
            if not block:
                break
            i = block.find(b"\n")
            if i >= 0:
                return head, p + i + 1
            p += len(block)
        return head, self.size


def scan_file(
    fd: int,
    feed: Feed,
    literals: tuple[bytes, ...],
    *,
    after: int,
    follow: Callable[[], bool] = lambda: False,
    chunk_bytes: int = ACCEL_CHUNK_BYTES,
    workers: int | None = None,
    start: int = 0,
) -> None:
    """``scan`` for a regular file (from offset ``start``, up to its size now), with hyperscan."""
    size = os.fstat(fd).st_size
    if size <= start:
        return
    worker = _Worker(fd, size, literals, chunk_bytes)
    threads = workers or default_workers()
    with ThreadPoolExecutor(threads, thread_name_prefix="bigscan") as pool:
        try:
            _walk(
                _hit_lines(_chunks(pool, worker, range(start, size, chunk_bytes), 2 * threads), start),
                _Lines(fd, size),
                start,
                feed,
                after,
                follow,
            )
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _chunks(pool: ThreadPoolExecutor, worker: _Worker, offsets: range, ahead: int) -> Iterator[_Chunk]:
    """The chunks' results in file order, at most ``ahead`` chunks in flight (memory stays flat)."""
    todo = iter(offsets)
    pending = deque(pool.submit(worker, off) for off in islice(todo, ahead))
    while pending:
        result = pending.popleft().result()
        off = next(todo, None)
        if off is not None:
            pending.append(pool.submit(worker, off))
        yield result


def _hit_lines(chunks: Iterator[_Chunk], start: int) -> Iterator[tuple[int, int]]:
    """(line start offset, 1-based line number) of every line whose head holds a literal, in order, once each.

    Only the head (``MAX_LINE_BYTES``) of a line is fed, so only a literal there makes a hit: the same
    lines whatever the chunking (the pure-Python scan may also take a literal past the head).
    """
    base, base_start, prev = 1, start, -1  # the line holding the chunk's first byte: number and start
    for chunk in chunks:
        for ls, lines, end in chunk.hits:
            if ls < 0:
                ls, number = base_start, base
            else:
                number = base + lines
            if end - ls <= MAX_LINE_BYTES and ls != prev:  # the literal is in the line's head, the text fed
                prev = ls
                yield ls, number
        base += chunk.newlines
        if chunk.last_nl >= 0:
            base_start = chunk.last_nl + 1


def _walk(
    hits: Iterator[tuple[int, int]], lines: _Lines, start: int, feed: Feed, after: int, follow: Callable[[], bool]
) -> None:
    """Feed the hit lines, the ``after`` lines following each, and every line while ``follow()``."""
    nxt = next(hits, None)
    pos, number, owed = start, 1, 0
    while True:
        if not (owed or follow()):
            while nxt is not None and nxt[0] < pos:
                nxt = next(hits, None)
            if nxt is None:
                return
            pos, number = nxt
        if pos >= lines.size:
            return
        while nxt is not None and nxt[0] < pos:
            nxt = next(hits, None)
        text, end = lines.line(pos)
        feed(number, text)
        owed = after if nxt is not None and nxt[0] == pos else max(0, owed - 1)
        pos, number = end, number + 1
