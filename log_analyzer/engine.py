"""The streaming analysis: feed cleaned pieces line by line, keep bounded state, pick the root failure.

State kept (all bounded): distinct signature matches (first ``MAX_MATCHES``, then only
better-ranked ones), the current dbt node header and the lines that follow it, the skipped
nodes, a template miner for unknown error lines, and a few facts (project name, task id).
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass

from log_analyzer.catalog import Catalog
from log_analyzer.models import Match
from log_analyzer.normalize import Piece
from log_analyzer.templates import TemplateMiner

MAX_MATCHES = 200
MAX_SKIPPED = 500
HEADER_WINDOW_LINES = 8
_SKIP = re.compile(r"^\d+ of \d+ SKIP (?:relation|test|seed|snapshot|model)? ?(?P<name>[\w.\-]+)")
_PROJECT = re.compile(
    r"target/(?:compiled|run)/(?P<project>\w+)/|\b(?:model|seed|snapshot|test|source)\."
    r"(?P<project2>\w+)\.\w+"
)
_SOURCE = re.compile(r"(?:freshness of |\bsource\.\w+\.)(?P<source>\w+)\.(?P<table>\w+)")
_SUCCESS = re.compile(
    r"^Completed successfully$|^Done\. PASS=\d+ WARN=\d+ ERROR=0\b|Marking task as SUCCESS|"
    r"Task instance in success state|^Task exited with return code 0$"
)
_ERRORISH = re.compile(r"\b(?:ERROR|FATAL|CRITICAL|[Ee]rror|[Ee]xception|FAIL(?:ED|URE)?|[Ff]ailed)\b")


@dataclass(frozen=True, slots=True)
class Candidate:
    match: Match
    node: str | None  # dbt node (unique_id or "rtype name") or task id
    header: Match | None
    count: int = 1


class Scanner:
    """Accumulates evidence from a stream of pieces; ``candidates()`` ranks what it found."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._candidates: dict[tuple[str, str], Candidate] = {}
        self._header: Match | None = None
        self._header_node: str | None = None
        self.skipped: list[str] = []
        self.project: str | None = None
        self.task: str | None = None
        self.success_seen = False
        self.miner = TemplateMiner()
        self.recent: deque[tuple[int, str]] = deque(maxlen=4)  # ring buffer of context lines
        self.sources: dict[str, str] = {}  # table -> "source_name.table", to name source nodes fully

    @property
    def header_open(self) -> bool:
        """A dbt node header still applies: a big-file scan must feed every line until it closes."""
        return self._header is not None

    def feed(self, line: int, piece: Piece) -> None:
        text = piece.text
        if piece.task and self.task is None:
            self.task = piece.task
        if self.project is None and ("target/" in text or "." in text):
            m = _PROJECT.search(text)
            if m:
                self.project = m["project"] or m["project2"]
        if ("freshness of" in text or "source." in text) and len(self.sources) < 100:
            m = _SOURCE.search(text)
            if m:
                self.sources.setdefault(m["table"], f"{m['source']}.{m['table']}")
        expired = self._header is not None and line - self._header.line > HEADER_WINDOW_LINES
        if expired and not piece.indented:
            self._header = self._header_node = None
        # the echo of a command line or a traceback's source line is not the error itself
        echo = text.startswith(("Running command:", "raise ", 'File "', "Tmp dir root"))
        match = None if echo else self.catalog.match(text, line)
        if match is None:
            self._no_match(line, piece)
        elif match.header:
            self._on_header(match, piece)
        else:
            node = piece.node or match.get("node") or self._header_node
            self._add(Candidate(match, node, self._header))
        self.recent.append((line, text))

    def _no_match(self, line: int, piece: Piece) -> None:
        text = piece.text
        if " SKIP " in text and len(self.skipped) < MAX_SKIPPED:
            m = _SKIP.match(text)
            if m:
                self.skipped.append(m["name"])
                return
        if _SUCCESS.search(text):
            self.success_seen = True
            return
        if piece.is_error_level or _ERRORISH.search(text):
            self.miner.add(text, line, error_level=piece.is_error_level)

    def _on_header(self, match: Match, piece: Piece) -> None:
        node = piece.node or _node_label(match)
        # "Runtime Error in source raw_orders" after "ERROR freshness of raw.raw_orders": keep the
        # fuller name, and keep a node already learned from a JSON line.
        prev = self._header_node
        if prev and node and prev != node and prev.split(".")[-1] == node.split(" ")[-1].split(".")[-1]:
            node = prev
        self._header, self._header_node = match, node
        self._add(Candidate(match, node, match))

    def _add(self, cand: Candidate) -> None:
        key = (cand.match.signature_id, cand.match.text)
        found = self._candidates.get(key)
        if found is not None:  # the same line again (a repeated traceback): count it, keep the first
            self._candidates[key] = Candidate(found.match, found.node or cand.node, found.header, found.count + 1)
            return
        if len(self._candidates) >= MAX_MATCHES:
            weakest = min(self._candidates, key=lambda k: self._candidates[k].match.rank)
            if self._candidates[weakest].match.rank >= cand.match.rank:
                return
            del self._candidates[weakest]
        self._candidates[key] = cand

    def candidates(self) -> list[Candidate]:
        return list(self._candidates.values())


def _node_label(match: Match) -> str | None:
    rtype, node = match.get("rtype"), match.get("node") or match.get("object")
    if node is None:
        return None
    if match.signature_id == "dbt.freshness_error":
        return f"source {node}"
    if match.signature_id == "dbt.model_error_line":
        return f"model {node.split('.')[-1]}"
    return f"{rtype} {node}" if rtype else node
