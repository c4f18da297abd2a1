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
from log_analyzer.report import build_analysis, fallback_analysis, no_failure
from shared.dbt_artifacts import ManifestIndex, RunResults, load_manifest, package_of, read_results
from shared.errors import SourceError
from shared.paths import PathRefused, inside

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
    manifest = _manifest(dbt_project_dir) if dbt_project_dir else None
    project = (project_name(dbt_project_dir) if dbt_project_dir else None) or scanner.project
    if project is None and manifest is not None and manifest.project_name:
        project = manifest.project_name
    if results is not None and project is None and results.failed:
        project = package_of(results.failed[0].unique_id)
    if task is None and isinstance(lines_or_path, Path | str) and "task_id=" in str(lines_or_path):
        task = str(lines_or_path).split("task_id=", 1)[1].split("/", 1)[0]
    return _decide(scanner, catalog, results, model=model, project=project, task=task, source=source, manifest=manifest)


def _manifest(project_dir: Path) -> ManifestIndex | None:
    """``target/manifest.json`` of the project, when it is a file inside it and can be read; else None.

    It names every node by its unique_id (a test's ends in a hash that no log line carries).
    """
    path = project_dir / "target" / "manifest.json"
    if not os.path.lexists(path):
        return None
    try:
        real = inside(project_dir, path, label="DBT_PROJECT_DIR")
        return load_manifest(real) if real.is_file() else None
    except (PathRefused, SourceError, OSError):
        return None


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
    manifest: ManifestIndex | None = None,
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
    task = task or scanner.failed_task or (best.task if best else None) or scanner.task or scanner.task_hint
    # a log that ends in a failure (Airflow marked the task failed, a traceback, dbt's error summary,
    # a non-zero exit) always gets a class: the most informative line when no signature names a cause
    failed = scanner.failed_marker or target is not None
    if best is not None and scanner.success_seen and best.match.rank < 50 and not failed:
        return no_failure(source, skipped)  # a weak match in a log that says it succeeded
    if best is None or (best.match.wrapper and best.match.error_class is ErrorClass.UNKNOWN):
        unexplained = _unexplained(scanner, catalog, best, cands, failed, source, project, task, skipped)
        if unexplained is not None:
            return unexplained
    assert best is not None  # _unexplained answers every log without a candidate
    best = _refine_node(best, scanner, cands)
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
        manifest=manifest,
    )


def _unexplained(
    scanner: Scanner,
    catalog: Catalog,
    best: Candidate | None,
    cands: list[Candidate],
    failed: bool,
    source: str,
    project: str | None,
    task: str | None,
    skipped: tuple[str, ...],
) -> LogAnalysis | None:
    """The answer for a log no signature explains (``best`` is None or only says that something failed):
    the most informative line of a failed log, else the salient template, else "no failure";
    None when ``best`` (an unknown wrapper) is still the best answer."""
    fallback = _fallback_line(scanner) if failed else None
    if fallback is not None:
        step, (line, text) = fallback
        wrapper = best.match if best is not None else None
        return fallback_analysis(
            catalog, line, text, step=step, source=source, task=task, skipped=skipped, wrapper=wrapper
        )
    if best is not None:
        return None
    template = scanner.miner.most_salient()
    if template is not None and not (scanner.success_seen and not failed):
        return build_analysis(
            catalog, None, cands, source=source, project=project, task=task, skipped=skipped, template=template
        )
    if failed and scanner.last_failure:
        marker = scanner.failure_text
        step = "fallback: failure marker"
        return fallback_analysis(
            catalog, scanner.last_failure, marker, step=step, source=source, task=task, skipped=skipped
        )
    return no_failure(source, skipped)


def _refine_node(best: Candidate, scanner: Scanner, cands: list[Candidate]) -> Candidate:
    """The node a failure belongs to when its own line does not say it (or says a macro, or a bare source)."""
    running = getattr(scanner, "running", {})
    if best.node is None and best.match.error_class in _INTERRUPTING and len(running) == 1:
        # dbt interrupted mid-run (SIGINT from a timeout) names no node: the one still running is it
        best = Candidate(best.match, next(iter(running.values())), best.header, best.count)
    if best.node and best.node.startswith("macro "):
        # a macro failed inside a node's run: the node dbt reported as errored is what failed
        errored = {c.node for c in cands if c.match.signature_id == "dbt.model_error_line" and c.node}
        if len(errored) == 1:
            best = Candidate(best.match, errored.pop(), best.header, best.count)
    if best.node and best.node.startswith("source ") and "." not in best.node:
        table = best.node.split(" ", 1)[1]
        best = Candidate(best.match, f"source {scanner.sources.get(table, table)}", best.header, best.count)
    return best


def _pick(cands: list[Candidate], model: str | None) -> Candidate | None:
    """The root cause: on the preferred model, then a known cause, then any cause over a wrapper
    ("non-zero exit code 1" only says that something failed), then rank, then the earliest line."""
    if not cands:
        return None

    def score(c: Candidate) -> tuple[bool, bool, bool, bool, int, bool, int]:
        on_model = bool(model and c.node and c.node.split(".")[-1].split(" ")[-1] == model)
        known = c.match.error_class is not ErrorClass.UNKNOWN
        cause = not c.match.wrapper
        return (on_model, known and cause, cause, known, c.match.rank, c.node is not None, -c.match.line)

    return max(cands, key=score)


def _fallback_line(scanner: Scanner) -> tuple[str, tuple[int, str]] | None:
    """The most informative line of a failed log no signature explains, and how it was chosen:
    the last exception line, else the command's last output above its exit code, else the last error line."""
    if scanner.last_exception is not None:
        return "fallback: last exception line", scanner.last_exception
    if scanner.error_before_exit is not None:
        return "fallback: last error line above the exit code", scanner.error_before_exit
    if scanner.exit_context is not None:
        return "fallback: output above the exit code", scanner.exit_context
    if scanner.last_error is not None:
        return "fallback: last error line", scanner.last_error
    return None


def _from_message(message: str, catalog: Catalog) -> Candidate | None:
    scanner = Scanner(catalog)
    for number, line in enumerate(message.splitlines(), start=1):
        for piece in pieces(line):
            scanner.feed(number, piece)
    return _pick(scanner.candidates(), None)
