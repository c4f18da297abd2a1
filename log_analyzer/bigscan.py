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

from collections.abc import Callable
from typing import BinaryIO

from log_analyzer.reader import CHUNK_BYTES, MAX_LINE_BYTES

SAMPLE_BYTES = 16 * 1024
REPLAN_REGIONS = 8  # the sampled byte frequencies are reused for this many chunks
CHECK_COST = 400  # one anchor occurrence checked in Python costs about this many bytes of find()

Feed = Callable[[int, bytes], None]


class _Plan:
    """How to search one region: memchr anchors (byte -> checks) and literals for plain find()."""

    def __init__(self, buf: bytearray, start: int, end: int, literals: tuple[bytes, ...]) -> None:
        size = end - start
        sample = bytes(buf[start:start + SAMPLE_BYTES]) if size > SAMPLE_BYTES else bytes(buf[start:end])
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
                by_pair.setdefault(lit[k:k + 2], []).append((lit, k))
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
                for lit, k in by_pair.get(bytes(buf[p:p + 2]), ()):
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


def scan(stream: BinaryIO, feed: Feed, literals: tuple[bytes, ...], *, after: int,  # noqa: C901
         follow: Callable[[], bool] = lambda: False, chunk_bytes: int = CHUNK_BYTES) -> None:
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
            feed(lineno, bytes(buf[ls:min(nl, ls + MAX_LINE_BYTES)]))
            pos = nl + 1
        lineno += buf.count(b"\n", counted, end)
        return lineno, owed

    while True:
        n = stream.readinto(view[carry:carry + chunk_bytes])
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
        tail = end - start
        if tail > MAX_LINE_BYTES:  # an over-long unfinished line: keep its head, drop the rest
            long_head = bytes(buf[start:start + MAX_LINE_BYTES])
            carry = 0
        else:
            buf[:tail] = buf[start:end]
            carry = tail


def _has_any(data: bytes, literals: tuple[bytes, ...]) -> bool:
    return any(lit in data for lit in literals)
