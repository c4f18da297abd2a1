"""The log analyzer's public functions: ``analyze_log`` (pure, on one log) and ``analyze_incident``."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO, cast

from log_analyzer import bigscan
from log_analyzer.catalog import Catalog, load_catalog
from log_analyzer.dbt_project import project_name
from log_analyzer.engine import Candidate, Scanner
from log_analyzer.models import ErrorClass, LogAnalysis
from log_analyzer.normalize import Piece, pieces
from log_analyzer.prefilter import gate_literals
from log_analyzer.reader import AFTER_LINES, CHUNK_BYTES, Readable, iter_lines
from log_analyzer.report import build_analysis, no_failure
from shared.dbt_artifacts import RunResults, package_of, read_results

GATE_MIN_BYTES = 4 * 1024 * 1024  # smaller files: every line is examined
BIG_CHUNK_BYTES = CHUNK_BYTES  # read size of the big-file scan (tests make it tiny)


def analyze_log(
    lines_or_path: Path | str | Iterable[str | bytes] | None,
    *,
    run_results: Path | None = None,
    model: str | None = None,
    dbt_project_dir: Path | None = None,
    task: str | None = None,
) -> LogAnalysis:
    """Find the root failure in one log (a path, log text or lines) and, if given, run_results.json.

    ``model`` prefers that dbt model's failure; ``dbt_project_dir`` names the project so that
    node names become unique_ids; ``task`` is the Airflow task to name when no dbt node failed.
    """
    catalog = load_catalog()
    scanner = _NodeScanner(catalog)
    source = _scan(lines_or_path, scanner)
    # read as given: the caller chose the path (analyze_incident keeps it inside DBT_PROJECT_DIR)
    results = read_results(run_results, root=None) if run_results is not None else None
    project = (project_name(dbt_project_dir) if dbt_project_dir else None) or scanner.project
    if results is not None and project is None and results.failed:
        project = package_of(results.failed[0].unique_id)
    if task is None and isinstance(lines_or_path, Path | str) and "task_id=" in str(lines_or_path):
        task = str(lines_or_path).split("task_id=", 1)[1].split("/", 1)[0]
    return _decide(scanner, catalog, results, model=model, project=project, task=task or scanner.task, source=source)


def _scan(lines_or_path: Path | str | Iterable[str | bytes] | None, scanner: Scanner) -> str:
    if lines_or_path is None:
        return "run_results.json"
    if isinstance(lines_or_path, str) and ("\n" in lines_or_path or not Path(lines_or_path).is_file()):
        lines_or_path = lines_or_path.splitlines()
    if isinstance(lines_or_path, str | Path):
        path = Path(lines_or_path)
        with path.open("rb") as stream:
            scan_path(stream, scanner, big=path.stat().st_size > GATE_MIN_BYTES, chunk_bytes=BIG_CHUNK_BYTES)
        return str(path)
    for number, raw in enumerate(lines_or_path, start=1):
        for piece in pieces(raw):
            scanner.feed(number, piece)
    return "text"


def scan_path(stream: BinaryIO, scanner: Scanner, *, big: bool, chunk_bytes: int = CHUNK_BYTES) -> None:
    """Feed a log stream to ``scanner``: every line, or (``big``) the gated lines of ``bigscan``."""

    def feed(number: int, raw: bytes) -> None:
        for piece in pieces(raw):
            scanner.feed(number, piece)

    if big:
        literals = gate_literals(scanner.catalog) + NODE_GATE
        follow = lambda: scanner.header_open  # noqa: E731
        fd = _regular_fd(stream) if bigscan.accelerated() else None
        if fd is not None:  # hyperscan + worker threads on the file itself
            bigscan.scan_file(
                fd, feed, literals, after=AFTER_LINES, follow=follow, start=stream.tell(), chunk_bytes=chunk_bytes
            )
        else:
            bigscan.scan(
                cast(Readable, stream), feed, literals, after=AFTER_LINES, follow=follow, chunk_bytes=chunk_bytes
            )
    else:
        for number, raw in iter_lines(cast(Readable, stream)):  # typeshed's BinaryIO lacks readinto
            feed(number, raw)


def _regular_fd(stream: BinaryIO) -> int | None:
    """The descriptor of a stream on a regular file (pread-able), else None."""
    try:
        fd = stream.fileno()
        return fd if stat.S_ISREG(os.fstat(fd).st_mode) else None
    except (AttributeError, OSError, ValueError):
        return None


# dbt progress lines: "1 of 12 START sql table model main.order_pairs ... [RUN]" and its result line
_PROGRESS = re.compile(r"^(?P<index>\d+) of \d+ (?P<what>START|OK|ERROR|PASS|FAIL|WARN|SKIP|NO-OP|CANCEL)\b")
_START = re.compile(
    r"^\d+ of \d+ START (?:[\w ]*?(?P<rtype>model|seed|snapshot|test|unit_test)(?: file)?) "
    r"(?P<name>[\w.\-]+)"
)
# failures that stop whatever was running (an interrupt, a kill): they name no node themselves
_INTERRUPTING = (ErrorClass.TIMEOUT, ErrorClass.RESOURCE_EXHAUSTED)
MAX_RUNNING = 64
NODE_GATE = (b" START ",)  # a big-file scan must see the START lines too, to know what was running


class _NodeScanner(Scanner):
    """A Scanner that also knows which dbt nodes had started and not finished (``running``)."""

    def __init__(self, catalog: Catalog) -> None:
        super().__init__(catalog)
        self.running: dict[str, str] = {}  # progress index -> node (unique_id or "rtype name")

    def feed(self, line: int, piece: Piece) -> None:
        text = piece.text
        if " of " in text and text[:1].isdigit():
            m = _PROGRESS.match(text)
            if m and m["what"] == "START":
                start = _START.match(text)
                node = piece.node or (f"{start['rtype']} {start['name']}" if start else None)
                if node and len(self.running) < MAX_RUNNING:
                    self.running[m["index"]] = node
            elif m:
                self.running.pop(m["index"], None)
        super().feed(line, piece)


def _decide(
    scanner: Scanner,
    catalog: Catalog,
    results: RunResults | None,
    *,
    model: str | None,
    project: str | None,
    task: str | None,
    source: str,
) -> LogAnalysis:
    from_results = tuple(r.unique_id for r in results.skipped) if results else ()
    skipped = tuple(dict.fromkeys(from_results or scanner.skipped))
    cands = scanner.candidates()
    target = None
    if results is not None and results.failed:
        target = next((n for n in results.failed if model and n.name == model), results.failed[0])
        model = target.name
    best = _pick(cands, model)
    if best is None and target is not None:
        best = _from_message(target.message, catalog)
    if best is None or (scanner.success_seen and best.match.rank < 50 and target is None):
        template = scanner.miner.most_salient()
        if template is None or best is not None or scanner.success_seen:
            return no_failure(source, skipped)
        return build_analysis(
            catalog, None, cands, source=source, project=project, task=task, skipped=skipped, template=template
        )
    running = getattr(scanner, "running", {})
    if best.node is None and best.match.error_class in _INTERRUPTING and len(running) == 1:
        # dbt interrupted mid-run (SIGINT from a timeout) names no node: the one still running is it
        best = Candidate(best.match, next(iter(running.values())), best.header, best.count)
    if best.node and best.node.startswith("source ") and "." not in best.node:
        table = best.node.split(" ", 1)[1]
        best = Candidate(best.match, f"source {scanner.sources.get(table, table)}", best.header, best.count)
    return build_analysis(
        catalog,
        best,
        cands,
        source=source,
        project=project,
        task=task,
        skipped=skipped,
        unique_id=target.unique_id if target else None,
        run_results_message=target.message if target else None,
    )


def _pick(cands: list[Candidate], model: str | None) -> Candidate | None:
    if not cands:
        return None

    def score(c: Candidate) -> tuple[bool, bool, int, bool, int]:
        on_model = bool(model and c.node and c.node.split(".")[-1].split(" ")[-1] == model)
        known = c.match.error_class is not ErrorClass.UNKNOWN
        return (on_model, known, c.match.rank, c.node is not None, -c.match.line)

    return max(cands, key=score)


def _from_message(message: str, catalog: Catalog) -> Candidate | None:
    scanner = Scanner(catalog)
    for number, line in enumerate(message.splitlines(), start=1):
        for piece in pieces(line):
            scanner.feed(number, piece)
    return _pick(scanner.candidates(), None)
