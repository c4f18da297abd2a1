"""The signature catalog: ``signatures.yaml`` loaded, validated and compiled once."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from log_analyzer.models import ErrorClass, Match

CATALOG_PATH = Path(__file__).with_name("signatures.yaml")


@dataclass(frozen=True, slots=True)
class Signature:
    id: str
    origin: str
    error_class: ErrorClass
    when: tuple[str, ...]  # lower-case literals; one must be in the lower-cased line
    pattern: re.Pattern[str]
    rank: int
    header: bool
    runbook: str | None
    example: str | None


@dataclass(frozen=True, slots=True)
class Catalog:
    signatures: tuple[Signature, ...]
    runbooks: dict[str, str]
    # One alternation of every signature's literals: most log lines contain none of them, and
    # one C-level search rejects such a line instead of ~100 substring tests in Python.
    gate: re.Pattern[str] | None = None
    # literal -> indexes of the signatures that need it, so only those patterns are tried
    by_literal: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def runbook_for(self, error_class: ErrorClass, signature_id: str | None = None) -> str:
        for sig in self.signatures:
            if sig.id == signature_id and sig.runbook:
                return sig.runbook
        return self.runbooks.get(error_class.value, self.runbooks["unknown"])

    def match(self, text: str, line: int) -> Match | None:
        """The best-ranked signature matching ``text`` (a cleaned line), or None."""
        lowered = text.lower()
        if self.gate is None:
            candidates: Iterable[int] = range(len(self.signatures))
        else:
            if self.gate.search(lowered) is None:
                return None
            candidates = sorted({i for w, idx in self.by_literal.items() if w in lowered for i in idx})
        for i in candidates:  # highest rank first: the first hit is the best
            sig = self.signatures[i]
            m = sig.pattern.search(text)
            if m is not None:
                extracted = tuple((k, v) for k, v in m.groupdict().items() if v)
                return Match(sig.id, sig.origin, sig.error_class, sig.rank, line, text, extracted, sig.header)
        return None


@functools.cache
def load_catalog(path: Path = CATALOG_PATH) -> Catalog:
    """Read and compile the catalog; a bad entry fails loudly naming its id."""
    # libyaml's safe loader when PyYAML has it: ~10x faster than the pure-Python one (0.07 -> 0.006 s)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    raw = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506 - a safe loader
    sigs = []
    for entry in raw["signatures"]:
        try:
            sigs.append(
                Signature(
                    id=entry["id"],
                    origin=entry["origin"],
                    error_class=ErrorClass(entry["class"]),
                    when=tuple(w.lower() for w in str(entry.get("when", "")).split("|")),
                    pattern=re.compile(entry["pattern"]),
                    rank=int(entry["rank"]),
                    header=bool(entry.get("header", False)),
                    runbook=entry.get("runbook"),
                    example=entry.get("example"),
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
    gate = None if "" in by_literal else re.compile("|".join(map(re.escape, sorted(by_literal, key=len, reverse=True))))
    return Catalog(
        signatures=tuple(sigs),
        runbooks=dict(raw["classes"]),
        gate=gate,
        by_literal={w: tuple(idx) for w, idx in by_literal.items()},
    )
