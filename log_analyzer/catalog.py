"""The signature catalog: ``signatures.yaml`` loaded, validated and compiled once.

A signature maps a line to a class in one of two ways: its own ``class``, or ``class_from: <table>``,
where the class is looked up in one of the catalog's ``codes:`` tables (a vendor's list of error
codes or names: SQLSTATE classes, Snowflake codes, Trino and Spark error names, botocore error
codes, ...) by the code the pattern extracted (group ``code``). A code the table does not list is
no match for that signature, so a weaker one can still take the line.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from log_analyzer.models import ErrorClass, Match

CATALOG_PATH = Path(__file__).with_name("signatures.yaml")
# a table whose codes are SQLSTATEs: a code it does not list is looked up by its two-character class
PREFIX_TABLES = frozenset({"sqlstate"})


@dataclass(frozen=True)
class Signature:
    id: str
    origin: str
    error_class: ErrorClass
    when: tuple[str, ...]  # lower-case literals; one must be in the lower-cased line
    source: str  # the regex; compiled on first use (most signatures never meet a line holding their literals)
    rank: int
    header: bool
    runbook: str | None
    example: str | None
    class_from: str | None = None  # a ``codes:`` table: the class comes from the extracted code
    wrapper: bool = False  # a line that only says something failed ("non-zero exit code 1")
    ref: str | None = None  # the vendor reference the signature was written from

    @functools.cached_property
    def pattern(self) -> re.Pattern[str]:
        try:
            return re.compile(self.source)
        except re.error as exc:  # the catalog tests compile every pattern: this is for an edited catalog
            raise ValueError(f"bad pattern in signature {self.id!r}: {exc}") from exc


@dataclass(frozen=True, slots=True)
class Catalog:
    signatures: tuple[Signature, ...]
    runbooks: dict[str, str]
    # Every signature's literals as one trie-shaped regex: most log lines contain none of them, and
    # one C-level search rejects such a line; where it matches, it names the longest literal there.
    gate: re.Pattern[str] | None = None
    # literal -> indexes of the signatures that need it, so only those patterns are tried
    by_literal: dict[str, tuple[int, ...]] = field(default_factory=dict)
    # literal -> indexes of the signatures needing it or any literal that is a prefix of it: the gate
    # finds the longest literal at each position, and the shorter ones there are its prefixes
    by_prefix: dict[str, frozenset[int]] = field(default_factory=dict)
    # table -> code -> class (``class_from`` signatures)
    codes: Mapping[str, Mapping[str, ErrorClass]] = field(default_factory=dict)
    # table -> (source, reference URL): where each table's codes come from
    code_refs: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    # table -> suffixes a code may carry beyond its listed name (asyncpg's UniqueViolationError)
    code_suffixes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def runbook_for(self, error_class: ErrorClass, signature_id: str | None = None) -> str:
        for sig in self.signatures:
            if sig.id == signature_id and sig.runbook:
                return sig.runbook
        return self.runbooks.get(error_class.value, self.runbooks["unknown"])

    def code_class(self, table: str, code: str | None) -> ErrorClass | None:
        """The class a vendor table gives ``code`` (a SQLSTATE falls back to its class), or None."""
        if not code:
            return None
        codes = self.codes.get(table, {})
        found = codes.get(code)
        if found is None and table in PREFIX_TABLES:
            found = codes.get(code[:2])
        for suffix in self.code_suffixes.get(table, ()) if found is None else ():
            if code.endswith(suffix) and (found := codes.get(code[: -len(suffix)])) is not None:
                break
        return found

    def match(self, text: str, line: int) -> Match | None:
        """The best-ranked signature matching ``text`` (a cleaned line), or None."""
        if self.gate is None:
            candidates: Iterable[int] = range(len(self.signatures))
        else:
            lowered = text.lower()
            hit = self.gate.search(lowered)
            if hit is None:
                return None
            wanted: set[int] = set()
            while hit is not None:  # every position where a literal starts: its longest literal
                wanted |= self.by_prefix[hit.group()]
                hit = self.gate.search(lowered, hit.start() + 1)
            candidates = sorted(wanted)
        for i in candidates:  # highest rank first: the first hit is the best
            sig = self.signatures[i]
            m = sig.pattern.search(text)
            if m is None:
                continue
            error_class = sig.error_class
            if sig.class_from is not None:
                groups = m.groupdict()
                code = next((groups[k] for k in groups if k.startswith("code") and groups[k]), None)
                found = self.code_class(sig.class_from, code)
                if found is None:
                    continue
                error_class = found
            extracted = tuple((k, v) for k, v in m.groupdict().items() if v)
            return Match(sig.id, sig.origin, error_class, sig.rank, line, text, extracted, sig.header, sig.wrapper)
        return None


@functools.cache
def load_catalog(path: Path = CATALOG_PATH) -> Catalog:
    """Read and compile the catalog; a bad entry fails loudly naming its id."""
    # libyaml's safe loader when PyYAML has it: ~10x faster than the pure-Python one (0.07 -> 0.006 s)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    raw = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506 - a safe loader
    codes, code_refs, suffixes = _code_tables(raw.get("codes") or {}, path)
    sigs = []
    for entry in raw["signatures"]:
        try:
            class_from = entry.get("class_from")
            if class_from is not None and class_from not in codes:
                raise ValueError(f"class_from names no table in codes: {class_from!r}")
            sigs.append(
                Signature(
                    id=entry["id"],
                    origin=entry["origin"],
                    error_class=ErrorClass(entry["class"]),
                    when=tuple(w.lower() for w in str(entry.get("when", "")).split("|")),
                    source=str(entry["pattern"]),
                    rank=int(entry["rank"]),
                    header=bool(entry.get("header", False)),
                    runbook=entry.get("runbook"),
                    example=entry.get("example"),
                    class_from=class_from,
                    wrapper=bool(entry.get("wrapper", False)),
                    ref=entry.get("ref"),
                )
            )
        except (KeyError, ValueError, re.error) as exc:
            raise ValueError(f"bad signature {entry.get('id', '?')!r} in {path}: {exc}") from exc
    # Highest rank first, so ``match`` can stop trying weaker signatures early.
    sigs.sort(key=lambda s: -s.rank)
    by_literal: dict[str, list[int]] = {}
    for i, sig in enumerate(sigs):
        for w in sig.when:
            by_literal.setdefault(w, []).append(i)
    gate = None if "" in by_literal else re.compile(trie_pattern(by_literal))
    by_prefix = {w: frozenset(i for k in range(1, len(w) + 1) for i in by_literal.get(w[:k], ())) for w in by_literal}
    return Catalog(
        signatures=tuple(sigs),
        runbooks=dict(raw["classes"]),
        gate=gate,
        by_literal={w: tuple(idx) for w, idx in by_literal.items()},
        by_prefix=by_prefix,
        codes=codes,
        code_refs=code_refs,
        code_suffixes=suffixes,
    )


def trie_pattern(words: Iterable[str]) -> str:
    """A regex matching any of ``words``, shaped as their trie: at each position the engine follows
    one branch per character instead of trying every word (an alternation of ~500 literals is ~10x
    slower in ``re``), and it matches the longest word starting there."""
    trie: dict[str, dict] = {}  # type: ignore[type-arg]
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict) -> str:  # type: ignore[type-arg]
        end = "" in node
        branches = [re.escape(ch) + emit(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if end else body

    return emit(trie)


def _code_tables(
    raw: dict[str, dict[str, object]], path: Path
) -> tuple[dict[str, dict[str, ErrorClass]], dict[str, tuple[str, str]], dict[str, tuple[str, ...]]]:
    """``codes:`` -> (table -> code -> class, table -> (source, ref), table -> suffixes); a bad entry fails."""
    tables: dict[str, dict[str, ErrorClass]] = {}
    refs: dict[str, tuple[str, str]] = {}
    suffixes: dict[str, tuple[str, ...]] = {}
    for name, table in raw.items():
        try:
            refs[name] = (str(table["source"]), str(table["ref"]))
            suffixes[name] = tuple(str(s) for s in table.get("suffixes") or ())  # type: ignore[attr-defined]
            entries = table["classes"]
            assert isinstance(entries, dict)
            tables[name] = {}
            for cls, codes in entries.items():
                for code in codes:
                    if str(code) in tables[name]:
                        raise ValueError(f"code {code!r} is listed twice")
                    tables[name][str(code)] = ErrorClass(cls)
        except (KeyError, ValueError, AssertionError, TypeError) as exc:
            raise ValueError(f"bad code table {name!r} in {path}: {exc}") from exc
    return tables, refs, suffixes
