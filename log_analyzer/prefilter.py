# mypy: disable-error-code="has-type, misc, arg-type"
# (this module walks re._parser's untyped parse tree; the rest of the package is checked)
"""Literals a line must hold for a regex to match it, derived from the regex itself.

``required_literals(pattern)`` walks the parsed regex and returns a set of case-sensitive
strings such that every match contains at least one of them (or None when it finds none
long enough). The big-file scan (``bigscan.py``) searches raw bytes for these: sound by
construction, so a new signature in ``signatures.yaml`` is gated by its own pattern.

Only printable ASCII other than ``"``, ``\\`` and ``/`` goes into a literal: those are the
characters a JSON encoder never escapes, so a literal in the decoded event text is also in
the raw line bytes.
"""

from __future__ import annotations

import re
from re import _constants as C  # type: ignore[attr-defined]
from re import _parser as P  # type: ignore[attr-defined]
from typing import TYPE_CHECKING

from log_analyzer.engine import _SKIP, _SUCCESS

if TYPE_CHECKING:
    from log_analyzer.catalog import Catalog

MAX_SET = 16  # most alternatives kept for one literal set
MIN_LEN = 3  # shorter literals are not selective enough to gate on
_SAFE = frozenset(chr(c) for c in range(0x20, 0x7F)) - {'"', "\\", "/"}

Info = tuple[set[str] | None, list[set[str]]]  # (exact strings matched, or None; required sets)


def required_literals(pattern: re.Pattern[str] | str) -> frozenset[str] | None:
    """A set of strings, one of which is in every match of ``pattern``; None if none is known."""
    options = literal_options(pattern)
    return options[0] if options else None


def literal_options(pattern: re.Pattern[str] | str) -> list[frozenset[str]]:
    """Every such set found (each alone suffices), the most selective first."""
    source, flags = (pattern, 0) if isinstance(pattern, str) else (pattern.pattern, pattern.flags)
    parsed = P.parse(source, flags)
    if parsed.state.flags & re.IGNORECASE:
        return []
    exact, factors = _seq(parsed)
    sets = [s for s in factors + ([exact] if exact is not None else []) if s and min(map(len, s)) >= MIN_LEN]
    sets.sort(key=lambda s: (min(map(len, s)), -len(s)), reverse=True)
    return [frozenset(s) for s in sets]


def _best(sets: list[set[str]]) -> set[str] | None:
    usable = [s for s in sets if s and min(map(len, s)) >= MIN_LEN]
    if not usable:
        return None
    return max(usable, key=lambda s: (min(map(len, s)), -len(s)))


def _seq(items: list[tuple[object, object]] | P.SubPattern) -> Info:
    cur: set[str] | None = {""}
    exact_all = True
    factors: list[set[str]] = []
    for op, av in items:
        e, f = _node(op, av)
        factors += f
        if e is None:
            if cur is not None:
                factors.append(cur)
            cur, exact_all = None, False
        elif cur is None:
            cur = e
        elif len(cur) * len(e) <= MAX_SET:
            cur = {a + b for a in cur for b in e}
        else:
            factors.append(cur)
            cur, exact_all = e, False
    if exact_all:
        return cur, factors
    if cur is not None:
        factors.append(cur)
    return None, factors


def _node(op: object, av: object) -> Info:  # noqa: C901, PLR0911, PLR0912 - one branch per regex node kind
    if op is C.LITERAL:
        ch = chr(av)  # type: ignore[arg-type]
        return ({ch} if ch in _SAFE else None), []
    if op is C.IN:
        chars = [chr(v) for o, v in av if o is C.LITERAL]  # type: ignore[attr-defined]
        if len(chars) == len(av) and len(chars) <= 4 and all(c in _SAFE for c in chars):  # type: ignore[arg-type]
            return set(chars), []
        return None, []
    if op is C.SUBPATTERN:
        _group, add_flags, _del_flags, sub = av  # type: ignore[misc]
        if add_flags & re.IGNORECASE:
            return None, []
        return _seq(sub)
    if op is C.ATOMIC_GROUP:
        return _seq(av)  # type: ignore[arg-type]
    if op is C.BRANCH:
        branches = [_seq(b) for b in av[1]]  # type: ignore[index]
        if all(e is not None for e, _ in branches):
            union = set().union(*(e for e, _ in branches))  # type: ignore[misc]
            if len(union) <= MAX_SET:
                return union, []
        required = set()
        for e, f in branches:
            best = _best(f + ([e] if e is not None else []))
            if best is None:
                return None, []
            required |= best
        return None, ([required] if len(required) <= 4 * MAX_SET else [])
    if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
        lo, hi, sub = av  # type: ignore[misc]
        e, f = _seq(sub)
        if lo == 0:
            if hi == 1 and e is not None and len(e) < MAX_SET:
                return e | {""}, []
            return None, []
        if lo == hi == 1:
            return e, f
        return None, f + ([e] if e is not None else [])
    if op in (C.AT, C.ASSERT, C.ASSERT_NOT):
        return {""}, []  # zero-width: neighbours stay adjacent
    return None, []  # ANY, NOT_LITERAL, GROUPREF, ...: some unknown text


# Error markers searched in big files whatever the catalog says: message lines without a
# catalog literal a byte search can afford (lower-case PostgreSQL text under "Database Error in
# model …", a Snowflake message under its code line) are read as after-context of these.
MARKERS: tuple[str, ...] = ("rror", "RROR", "xception", "FAIL", "exc_type", "Killed")
# Letters in every line of common log formats (ISO timestamps ...T10:00:00Z): no help as an anchor.
_COMMON = frozenset("TZ")
# A signature needing more literals than this (a vendor's list of error names) is read as context: each
# literal costs the big-file scan (Hyperscan slows down past a few hundred short ones, the pure-Python
# scan takes one memchr pass per anchor byte), and such lines carry an error marker anyway.
MAX_GATED = 10


def _cheap(literal: str) -> bool:
    """A literal with an upper-case letter or a quote/bracket: rare bytes in log bodies, so memchr."""
    return any((c.isupper() and c not in _COMMON) or c in "'()xqzj" for c in literal)


_GATES: dict[int, tuple[object, tuple[bytes, ...]]] = {}


def gate_literals(catalog: Catalog) -> tuple[bytes, ...]:
    """The big-file gate: the markers, every signature's literals when all are cheap, dbt SKIP/success."""
    cached = _GATES.get(id(catalog))
    if cached is not None and cached[0] is catalog:
        return cached[1]
    gate = _gate(catalog)
    _GATES[id(catalog)] = (catalog, gate)
    return gate


def _gate(catalog: Catalog) -> tuple[bytes, ...]:
    wanted = set(MARKERS)
    for sig in catalog.signatures:
        cheap = next(
            (lits for lits in literal_options(sig.source) if len(lits) <= MAX_GATED and all(map(_cheap, lits))), None
        )
        if cheap:
            wanted |= cheap
    for rx in (_SKIP, _SUCCESS):
        wanted |= required_literals(rx) or set()
    kept = sorted(w for w in wanted if not any(o != w and o in w for o in wanted))
    return tuple(w.encode("ascii") for w in kept)


def context_only_signatures(catalog: Catalog) -> list[str]:
    """Signatures whose lines a big-file scan sees only near a marker (their literals are not cheap)."""
    gate = gate_literals(catalog)
    out = []
    for sig in catalog.signatures:
        if not any(all(any(g.decode() in lit for g in gate) for lit in lits) for lits in literal_options(sig.source)):
            out.append(sig.id)
    return out
