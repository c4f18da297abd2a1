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
    r"Task instance in success state|^Task exited with return code 0$|DagRun Finished: .*\bstate=success\b"
)
# A task failed: the log says so whatever the cause (Airflow's runner, dbt's summary, a traceback, an exit code)
_FAILED = re.compile(
    r"Marking task as (?:FAILED|UP_FOR_RETRY)|Task failed with exception|^Traceback \(most recent call last\)|"
    r"Completed with \d+ errors?|^Done\. PASS=\d+ WARN=\d+ ERROR=[1-9]|^Encountered an error|"
    r"exited with return code (?:[1-9]|-|Negsignal)|non-zero exit (?:code|status)|Process terminated by signal|"
    r"Failed to execute job|DagRun Finished: .*\bstate=failed\b|Marking run <DagRun .*> failed|"
    r"Task instance in failure state|Task failed; ti="
)
_ERRORISH = re.compile(r"\b(?:ERROR|FATAL|CRITICAL|[Ee]rror|[Ee]xception|FAIL(?:ED|URE)?|[Ff]ailed)\b")
# the line an exception ends a traceback with: "pkg.mod.SomeError: message" (Python), "x.y.ZException: ..." (Java)
_EXCEPTION_LINE = re.compile(
    r"^(?:Caused by: )?(?:[A-Za-z_$][\w$]*\.)*[A-Z][\w$]*(?:Error|Exception|Exit|Failure|Interrupt|Timeout)\b(?::|$)"
)
# an exit-code line: what the shell's last output lines (stderr) explain
_EXIT_LINE = re.compile(
    r"exited with return code [1-9-]|non-zero exit (?:code|status)|[Ee]xit(?:ed with)? (?:code|status) [1-9]"
)
# lines around the output that are Airflow's own, not the command's stderr
_NOT_OUTPUT = re.compile(r"^(?:Output:|Running command:|Tmp dir root|Command exited with return code|Task exited)")
# Airflow names the task: `airflow dags test` ("Running task x"), the runner ("Marking task as FAILED. ... task_id=x")
_RUNNING_TASK = re.compile(r"^Running task (?P<task>[\w.\-]+)\s*$")
_FAILED_TASK = re.compile(r"Marking task as (?:FAILED|UP_FOR_RETRY)\. dag_id=[\w.\-]+, task_id=(?P<task>[\w.\-]+)")
# where Airflow names a task in passing: "<TaskInstance: dag.task run [state]>", "task_id=x", "'Task Id': 'x'"
_TASK_HINT = re.compile(
    r"<TaskInstance: [\w\-]+\.(?P<task>[\w.\-]+) |\btask_id=['\"]?(?P<task2>[\w.\-]+)|'Task Id': '(?P<task3>[\w.\-]+)'|"
    r"AIRFLOW_CTX_TASK_ID='(?P<task4>[\w.\-]+)'"
)
# dbt.log's debug lines name the node they run: "On model.pkg.x: ...", "Using trino connection \"model.pkg.x\""
_DBT_NODE = re.compile(
    r"^(?:On |Began running node |Using \w+ connection \")(?P<node>(?:model|seed|snapshot|test|unit_test)\.[\w.\-]+)"
)
JOIN_MIN_CHARS = 20  # a wrapped message: the previous line is at least this long and the next goes on in lower case


@dataclass(frozen=True, slots=True)
class Candidate:
    match: Match
    node: str | None  # dbt node (unique_id or "rtype name") or task id
    header: Match | None
    count: int = 1
    task: str | None = None  # the Airflow task `airflow dags test` was running at that line


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
        self.last_success = 0  # line of the last success marker (0: none)
        self.last_failure = 0  # line of the last failure marker ("Marking task as FAILED", a traceback, ...)
        self.failure_text = ""  # and its text
        self.error_before_exit: tuple[int, str] | None = None  # the last error line above the first exit-code line
        self.last_exception: tuple[int, str] | None = None  # the last exception line no signature knew
        self.last_error: tuple[int, str] | None = None  # the last error-level or error-worded line no signature knew
        self.exit_context: tuple[int, str] | None = None  # the last output line above the first exit-code line
        self.failed_task: str | None = None  # the task the runner marked as failed
        self.running_task: str | None = None  # the task `airflow dags test` was running last
        self._unmatched: tuple[int, str] | None = None  # the previous line, when no signature matched it
        self.task_hint: str | None = None  # the first task a line names in passing
        self.dbt_node: str | None = None  # the node dbt.log's debug lines say is running

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
        if match is None and not echo:
            match = self._joined(line, text)
        if match is None:
            self._no_match(line, piece)
            self._unmatched = None if echo else (line, text)
        else:
            self._unmatched = None
            if match.header:
                self._on_header(match, piece)
            else:
                node = piece.node or (_node_label(match) if match.get("node") else None) or self._header_node
                self._add(Candidate(match, node or self.dbt_node, self._header, task=self.running_task))
        self._markers(line, text)
        self.recent.append((line, text))

    @property
    def failed_marker(self) -> bool:
        """The log says a task (or dbt) failed, after the last thing that said it succeeded."""
        return self.last_failure > self.last_success or (self.last_failure > 0 and self.last_success == 0)

    def _joined(self, line: int, text: str) -> Match | None:
        """A message wrapped over two lines ("Resources exceeded during" / "query execution: ..."): try both."""
        prev = self._unmatched
        if prev is None or not text[:1].islower() or text.startswith("at ") or prev[0] != line - 1:
            return None
        before = prev[1]
        if len(before) < JOIN_MIN_CHARS or not (before[-1:].isalpha() or before.endswith(",")):
            return None
        return self.catalog.match(f"{before} {text}", prev[0])

    def _markers(self, line: int, text: str) -> None:
        """Failure and success markers, the task being run, the lines a fallback may cite."""
        if _FAILED.search(text):
            self.last_failure, self.failure_text = line, text
            m = _FAILED_TASK.search(text)
            if m:
                self.failed_task = m["task"]
            if self.exit_context is None and _EXIT_LINE.search(text):
                self.exit_context = self._output_above(line)
                self.error_before_exit = self.last_error
        if text.startswith("Running task "):
            m = _RUNNING_TASK.match(text)
            if m:
                self.running_task = m["task"]
        if self.task_hint is None and ("ask" in text or "ASK" in text):
            m = _TASK_HINT.search(text)
            if m:
                self.task_hint = m["task"] or m["task2"] or m["task3"] or m["task4"]
        if text[:1] in "OBU" and " " in text:
            m = _DBT_NODE.match(text)
            if m:
                self.dbt_node = m["node"]
        elif text.startswith("Finished running node "):
            self.dbt_node = None

    def _output_above(self, line: int) -> tuple[int, str] | None:
        """The line the command printed just above its exit-code line (its stderr, most often)."""
        n, t = self.recent[-1] if self.recent else (0, "")
        if n == line - 1 and not _NOT_OUTPUT.match(t) and not _FAILED.search(t):
            return n, t
        return None

    def _no_match(self, line: int, piece: Piece) -> None:
        text = piece.text
        if " SKIP " in text and len(self.skipped) < MAX_SKIPPED:
            m = _SKIP.match(text)
            if m:
                self.skipped.append(m["name"])
                return
        if _SUCCESS.search(text):
            self.success_seen = True
            self.last_success = line
            return
        if _EXCEPTION_LINE.match(text):
            self.last_exception = (line, text)
        errorish = piece.is_error_level or _ERRORISH.search(text) is not None
        if errorish:
            self.miner.add(text, line, error_level=piece.is_error_level)
            if not _FAILED.search(text):
                self.last_error = (line, text)

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
            self._candidates[key] = Candidate(
                found.match, found.node or cand.node, found.header, found.count + 1, found.task or cand.task
            )
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
    node = node.rstrip(".")  # "model main.ingest......... [ERROR in 0.08s]": the dots lead to the status
    if match.signature_id == "dbt.model_error_line":
        return f"model {node.split('.')[-1]}"
    return f"{rtype} {node}" if rtype else node
