"""Turn the chosen candidate into a ``LogAnalysis``: node id, one-line root cause, evidence, runbook."""

from __future__ import annotations

from log_analyzer.catalog import Catalog
from log_analyzer.engine import Candidate
from log_analyzer.models import ErrorClass, LogAnalysis, Match
from log_analyzer.templates import Template
from shared.contracts import Evidence
from shared.dbt_artifacts import ManifestIndex
from shared.redact import clean

ROOT_CAUSE_CHARS = 400
EVIDENCE_CHARS = 1_000
MAX_EVIDENCE = 5
# exit codes that mean "killed by a signal" (Python's -N, a shell's 128+N)
_SIGNALS = {"-9": "SIGKILL", "137": "SIGKILL", "-15": "SIGTERM", "143": "SIGTERM", "-6": "SIGABRT"}
NEARBY_LINES = 8  # how far below the root line a detail line may name its object
_RTYPES = ("model", "test", "seed", "snapshot", "source", "unit_test", "sql_operation", "macro")


def no_failure(source: str, skipped: tuple[str, ...]) -> LogAnalysis:
    return LogAnalysis(
        error_class=None, failed_node=None, root_cause="no failure found in the log", skipped=skipped, source=source
    )


def fallback_analysis(
    catalog: Catalog,
    line: int,
    text: str,
    *,
    step: str,
    source: str,
    task: str | None,
    skipped: tuple[str, ...],
    wrapper: Match | None = None,
) -> LogAnalysis:
    """A failed log that no signature explains: class unknown, the most informative line as the cause.

    ``wrapper`` is the line that only said that something failed (an exit code), cited too.
    """
    where = f" in task {task}" if task else ""
    lines = {line: text}
    if wrapper is not None:
        lines.setdefault(wrapper.line, wrapper.text)
    return LogAnalysis(
        error_class=ErrorClass.UNKNOWN,
        failed_node=task,
        root_cause=_clean(f"unknown{where}: {text}", ROOT_CAUSE_CHARS),
        evidence=_cite(lines, source),
        skipped=skipped,
        runbook=catalog.runbook_for(ErrorClass.UNKNOWN),
        step=step,
        source=source,
    )


def build_analysis(
    catalog: Catalog,
    best: Candidate | None,
    cands: list[Candidate],
    *,
    source: str,
    project: str | None,
    task: str | None,
    skipped: tuple[str, ...],
    template: Template | None = None,
    unique_id: str | None = None,
    run_results_message: str | None = None,
    manifest: ManifestIndex | None = None,
) -> LogAnalysis:
    if best is None:
        assert template is not None
        where = f" in task {task}" if task else ""
        text = f"unknown{where}: {template.example} (seen {template.count}x)"
        return LogAnalysis(
            error_class=ErrorClass.UNKNOWN,
            failed_node=task,
            root_cause=_clean(text, ROOT_CAUSE_CHARS),
            evidence=(Evidence(source=source, line=template.first_line, text=_clean(template.example)),),
            skipped=skipped,
            runbook=catalog.runbook_for(ErrorClass.UNKNOWN),
            step=f"template: {template.pattern}",
            source=source,
        )
    match = best.match
    error_class = match.error_class
    if error_class is ErrorClass.UNKNOWN and best.header is not None:
        error_class = _class_from_header(best.header.text)
    node = best.node or (f"source {match.get('source')}" if match.get("source") else None)
    node_id = unique_id or _from_manifest(node, project, manifest) or _unique_id(node, project)
    label = _label(node) or (f"task {task}" if task else None)
    detail = match.text
    key = match.key_object
    if key and key not in detail:
        detail = f"{detail} ({key})"
    signal = _SIGNALS.get(match.get("code") or "")
    if signal and signal not in detail:
        detail = f"{detail} ({signal})"
    extra, extra_cand = _nearby_key(best, cands)
    if extra and extra not in detail:
        detail = f"{detail} ({extra})"
    root = f"{error_class.value} in {label}: {detail}" if label else f"{error_class.value}: {detail}"
    evidence = _evidence(best, cands, source, extra_cand)
    if run_results_message and not evidence:
        evidence = (Evidence(source="run_results.json", text=_clean(run_results_message)),)
    return LogAnalysis(
        error_class=error_class,
        failed_node=node_id or task,
        root_cause=_clean(root, ROOT_CAUSE_CHARS),
        evidence=evidence,
        skipped=skipped,
        runbook=catalog.runbook_for(error_class, match.signature_id),
        step=match.signature_id,
        source=source,
        key_object=key or extra,
    )


def _clean(text: str, limit: int = EVIDENCE_CHARS) -> str:
    return clean(text, limit) or ""


def _class_from_header(text: str) -> ErrorClass:
    if text.startswith("Compilation Error") or text.startswith("Parsing Error"):
        return ErrorClass.COMPILATION_ERROR
    return ErrorClass.UNKNOWN


def _nearby_key(best: Candidate, cands: list[Candidate]) -> tuple[str | None, Candidate | None]:
    """The object or column that a detail line just below the root names when the root line does not.

    Postgres puts the relation in ``CONTEXT: ... in relation "x"`` under ``deadlock detected``;
    Redshift puts the column in the DETAIL block's ``context:`` line under ``Invalid digit``.
    """
    match = best.match
    if match.get("column"):
        return None, None
    near = sorted(
        (
            c
            for c in cands
            if c.match.error_class is match.error_class
            and 0 < c.match.line - match.line <= NEARBY_LINES
            and c is not best
        ),
        key=lambda c: c.match.line,
    )
    for c in near:
        column = c.match.get("column")
        if column:
            return f"column {column}", c
        if match.key_object is None and c.match.get("object"):
            return c.match.get("object"), c
    return None, None


def _evidence(
    best: Candidate,
    cands: list[Candidate],
    source: str,
    detail: Candidate | None = None,
) -> tuple[Evidence, ...]:
    lines = {best.match.line: best.match.text}
    if best.header is not None:
        lines.setdefault(best.header.line, best.header.text)
    if detail is not None:
        lines.setdefault(detail.match.line, detail.match.text)
    if not best.match.wrapper:
        # a cause above an exit-code line: cite the wrapper too (the step that failed because of it)
        below = [c for c in cands if c.match.wrapper and c.match.line > best.match.line]
        if below:
            wrapper = min(below, key=lambda c: c.match.line).match
            lines.setdefault(wrapper.line, wrapper.text)
    near = sorted((c for c in cands if abs(c.match.line - best.match.line) <= 3), key=lambda c: c.match.line)
    for c in near:
        if len(lines) >= MAX_EVIDENCE:
            break
        lines.setdefault(c.match.line, c.match.text)
    return _cite(lines, source)


def _cite(lines: dict[int, str], source: str) -> tuple[Evidence, ...]:
    return tuple(
        Evidence(source=source if source != "text" else "log", line=n, text=_clean(t)) for n, t in sorted(lines.items())
    )


def _label(node: str | None) -> str | None:
    if not node:
        return None
    if " " in node:
        return node
    parts = node.split(".")
    if len(parts) >= 3 and parts[0] in _RTYPES:
        return f"{parts[0]} {'.'.join(parts[2:4] if parts[0] == 'source' else parts[2:3])}"
    return node


def _from_manifest(node: str | None, project: str | None, manifest: ManifestIndex | None) -> str | None:
    """The node's unique_id in the manifest (a test's ends in its hash), when exactly one node fits."""
    if not node or manifest is None:
        return None
    if " " in node:
        rtype, name = node.split(" ", 1)
    else:
        parts = node.split(".")
        if len(parts) < 3 or parts[0] not in _RTYPES:
            return None
        rtype, name = parts[0], ".".join(parts[3:4] if parts[0] == "source" else parts[2:3])
    if rtype == "model" and "." in name:
        name = name.split(".")[-1]
    found = [n.unique_id for n in manifest.lookup(name) if n.resource_type == rtype]
    if len(found) > 1 and project:
        found = [uid for uid in found if uid.split(".")[1] == project]
    return found[0] if len(found) == 1 else None


def _unique_id(node: str | None, project: str | None) -> str | None:
    if not node:
        return None
    if " " not in node:
        parts = node.split(".")
        return node if len(parts) >= 3 and parts[0] in _RTYPES else None
    rtype, name = node.split(" ", 1)
    if rtype not in _RTYPES:
        return None
    if rtype == "model" and "." in name:  # "main.stg_orders" from "ERROR creating ... model main.stg_orders"
        name = name.split(".")[-1]
    return f"{rtype}.{project}.{name}" if project else f"{rtype}.{name}"
