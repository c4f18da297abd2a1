"""``analyze_incident``: pick the sources for one incident, analyze, and return a LogFinding.

Nothing a trigger names is opened outside its root: a local ``log_location`` must resolve inside
``AIRFLOW_LOG_FOLDER`` (or ``DBT_PROJECT_DIR/logs``); an http(s) ``log_location`` (Airflow's
log_url) is never fetched as given, the log is read through ``AIRFLOW_API_URL`` instead; any other
URL is refused. dbt's ``target/run_results.json``, ``logs/dbt.log`` and ``dbt_project.yml`` must
resolve inside ``DBT_PROJECT_DIR``, and the first two are used only when ``shared.provenance``
ties them to this try (an invocation id in this try's log, or written inside its window).
Whatever was not used, and why, is one line each in ``details.not_used`` (and in the summary when
nothing could be read).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from log_analyzer.analyzer import analyze_log
from log_analyzer.models import LogAnalysis
from shared.contracts import FindingStatus, Incident, LogDetails, LogFinding, Trigger
from shared.dbt_artifacts import read_results
from shared.errors import IncidentCommanderError, SourceError
from shared.paths import PathRefused, inside
from shared.provenance import TaskLogDbt, TryWindow, dbt_log_invocation, judge_artifact
from shared.redact import clean, one_line
from shared.settings import Settings
from shared.task_log import (
    AirflowApiSource,
    AirflowFolderSource,
    FileSource,
    LogSource,
    TextSource,
    task_log_sources,
)

_WRAPPER_STEPS = frozenset({"airflow.bash_nonzero", "airflow.return_code", "airflow.subprocess_error"})
_NOTE_CHARS = 500


def analyze_incident(incident: Incident, settings: Settings) -> LogFinding:
    """The log analyzer's finding for one incident: OK, EMPTY (no failure in the log) or UNAVAILABLE.

    What it could not read is said in the finding; an unexpected error is raised (the specialist
    task turns it into an unavailable finding and times the whole call: one layer does that).
    """
    analysis, reasons, not_used = _analyze(incident, settings)
    if analysis is None:
        reason = "no log source could be read: " + "; ".join([*not_used, *reasons] or ["none configured"])
        return LogFinding(
            status=FindingStatus.UNAVAILABLE,
            summary=clean(one_line(reason), 1_000) or "",
            details=LogDetails(not_used=_notes(not_used)),
        )
    return to_finding(analysis, not_used=not_used)


def to_finding(analysis: LogAnalysis, *, not_used: Sequence[str] = ()) -> LogFinding:
    """The finding for one analysis; ``not_used`` (locations refused or skipped) goes to ``details.not_used``."""
    details = LogDetails(
        error_class=analysis.error_class.value if analysis.error_class else None,
        failed_node=analysis.failed_node,
        root_cause=analysis.root_cause,
        skipped=analysis.skipped,
        runbook=analysis.runbook,
        step=analysis.step,
        source=analysis.source,
        not_used=_notes(not_used),
        key_object=analysis.key_object,
    )
    return LogFinding(
        status=FindingStatus.OK if analysis.failed else FindingStatus.EMPTY,
        summary=clean(analysis.root_cause, 1_000) or "",
        details=details,
        evidence=analysis.evidence,
    )


def _notes(not_used: Sequence[str]) -> tuple[str, ...]:
    """One redacted, bounded, single line per location not used."""
    return tuple(clean(one_line(line), _NOTE_CHARS) or "" for line in not_used)


def _analyze(incident: Incident, settings: Settings) -> tuple[LogAnalysis | None, list[str], list[str]]:
    """(analysis or None, why each source failed, what was not used and why).

    This try's own task log wins over every other source. dbt's artifacts in DBT_PROJECT_DIR are
    used only when ``shared.provenance`` ties them to this try; otherwise the finding says why not.
    """
    t = incident.trigger
    sources, not_used = task_log_sources(t, settings)
    project_dir = settings.dbt_project_dir
    run_results = _dbt_file(project_dir, "target/run_results.json", not_used)
    dbt_log = _dbt_file(project_dir, "logs/dbt.log", not_used)
    if (
        project_dir
        and os.path.lexists(project_dir / "dbt_project.yml")
        and _dbt_file(project_dir, "dbt_project.yml", not_used) is None
    ):
        project_dir = None  # the project's name would come from a file outside the project
    reasons: list[str] = []
    result: LogAnalysis | None = None
    task_log = TaskLogDbt.stand_in(t)  # until this try's log is read: what the trigger itself names
    dbt = _Dbt(None, None)
    for source in sources:
        try:
            located = source.resolve()
        except PathRefused as exc:
            not_used.append(f"{_what(source)}: {exc}")
            continue
        except IncidentCommanderError as exc:
            reasons.append(str(exc))
            continue
        try:
            task_log = _scan(located, t)
            dbt = _belonging(run_results, dbt_log, TryWindow.of(t), task_log, not_used)
            result = analyze_log(
                located, run_results=dbt.run_results, model=t.model, dbt_project_dir=project_dir, task=t.task_id
            )
        finally:
            if isinstance(source, AirflowApiSource) and isinstance(located, Path):
                located.unlink(missing_ok=True)
        break
    if not task_log.read:
        dbt = _belonging(run_results, dbt_log, TryWindow.of(t), task_log, not_used)
    weak = result is None or not result.failed or result.step in _WRAPPER_STEPS or result.error_class == "unknown"
    if dbt.run_results or dbt.log_lines:
        from_dbt = analyze_log(
            dbt.log_lines, run_results=dbt.run_results, model=t.model, dbt_project_dir=project_dir, task=t.task_id
        )
        if weak and (from_dbt.failed or result is None):
            result = from_dbt
        elif result is not None and from_dbt.failed_node and result.failed_node not in (None, from_dbt.failed_node):
            not_used.append(
                f"dbt artifacts name {from_dbt.failed_node} as the failed node, this try's log names "
                f"{result.failed_node}: the task log is used"
            )
    if result is None and t.exception:
        result = analyze_log(
            TextSource(t.exception).resolve(), model=t.model, dbt_project_dir=project_dir, task=t.task_id
        )
        result = dataclasses.replace(result, source="trigger.exception")
    return result, reasons, not_used


def _scan(located: Path | str, trigger: Trigger) -> TaskLogDbt:
    """What this try's log says about dbt; a log that cannot be read stands in as the trigger."""
    try:
        return TaskLogDbt.of_file(located) if isinstance(located, Path) else TaskLogDbt.of_text(located)
    except OSError as exc:
        return TaskLogDbt.stand_in(trigger, f"{exc.__class__.__name__}: {exc.strerror or exc}")


@dataclass(frozen=True, slots=True)
class _Dbt:
    """The dbt artifacts that belong to this try (None: not there, or not this try's)."""

    run_results: Path | None
    log_lines: list[str] | None


def _belonging(
    run_results: Path | None, dbt_log: Path | None, window: TryWindow, task_log: TaskLogDbt, not_used: list[str]
) -> _Dbt:
    """The artifacts ``shared.provenance`` ties to this try; one line in ``not_used`` for each that is not."""
    used_results: Path | None = None
    ids = set(task_log.invocation_ids)
    if run_results is not None:
        try:
            meta = read_results(run_results, root=None)  # already resolved inside DBT_PROJECT_DIR
        except (SourceError, OSError) as exc:
            not_used.append(f"target/run_results.json: unusable ({exc.__class__.__name__}: {exc})")
        else:
            verdict = judge_artifact(
                "target/run_results.json",
                generated_at=meta.generated_at,
                invocation_id=meta.invocation_id,
                window=window,
                task_log=task_log,
                failed_nodes=[r.unique_id for r in meta.failed],
            )
            if verdict.used:
                used_results = run_results
                ids.update([meta.invocation_id.lower()] if meta.invocation_id else [])
            else:
                not_used.append(verdict.reason)
    lines: list[str] | None = None
    if dbt_log is not None:
        if task_log.read and not task_log.ran_dbt:
            not_used.append("logs/dbt.log: this try's log shows no dbt invocation: not used")
        elif ids:
            with dbt_log.open(encoding="utf-8", errors="replace") as handle:
                kept, found = dbt_log_invocation(handle, invocation_ids=frozenset(ids))
            if found:
                lines = kept
            else:
                not_used.append(f"logs/dbt.log: holds no invocation {', '.join(sorted(ids)[:3])} of this try: not used")
        else:
            not_used.append(
                "logs/dbt.log: no dbt invocation id ties any of its runs to this try (since dbt 1.5 its headers "
                "give a time of day without a date): not used"
            )
    return _Dbt(used_results, lines)


def _dbt_file(project_dir: Path | None, relative: str, not_used: list[str]) -> Path | None:
    """``DBT_PROJECT_DIR/relative`` resolved, when it is a file inside the project; a refusal is noted."""
    if project_dir is None or not os.path.lexists(project_dir / relative):
        return None
    try:
        real = inside(project_dir, project_dir / relative, label="DBT_PROJECT_DIR")
    except PathRefused as exc:
        not_used.append(f"{relative}: {exc}")
        return None
    return real if real.is_file() else None


def _what(source: LogSource) -> str:
    if isinstance(source, AirflowFolderSource):
        return "task log path"
    return "log_location" if isinstance(source, FileSource) else source.description
