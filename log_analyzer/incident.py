"""``analyze_incident``: pick the sources for one incident, analyze, and return a LogFinding.

Nothing a trigger names is opened outside its root: a local ``log_location`` must resolve inside
``AIRFLOW_LOG_FOLDER`` (or ``DBT_PROJECT_DIR/logs``); an http(s) ``log_location`` (Airflow's
log_url) is never fetched as given, the log is read through ``AIRFLOW_API_URL`` instead; any other
URL is refused. dbt's ``target/run_results.json``, ``logs/dbt.log`` and ``dbt_project.yml`` must
resolve inside ``DBT_PROJECT_DIR``. Whatever was not used, and why, is one line each in
``details.not_used`` (and in the summary when nothing could be read).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

from log_analyzer.analyzer import analyze_log
from log_analyzer.models import LogAnalysis
from log_analyzer.sources import (
    AirflowApiSource,
    AirflowFolderSource,
    FileSource,
    LogSource,
    TextSource,
    log_location_url_scheme,
    shorten,
    trigger_log_path,
)
from shared.contracts import FindingStatus, Incident, LogDetails, LogFinding
from shared.errors import IncidentCommanderError
from shared.paths import PathRefused, inside
from shared.redact import clean, one_line
from shared.settings import Settings

_WRAPPER_STEPS = frozenset({"airflow.bash_nonzero", "airflow.return_code", "airflow.subprocess_error"})
_NOTE_CHARS = 500


def plan_sources(incident: Incident, settings: Settings) -> tuple[list[LogSource], list[str]]:
    """The task-log sources worth trying, best first, and one line per location that will not be used."""
    t = incident.trigger
    out: list[LogSource] = []
    not_used: list[str] = []
    loc = t.log_location
    api = _api(settings, t) if settings.airflow_api_url else None
    if loc:
        if log_location_url_scheme(loc) in ("http", "https"):
            if api is None:  # never fetched as given (SSRF): only the configured API is asked
                not_used.append(
                    f"log_location: {shorten(loc)} not fetched: a URL is never fetched as given, and "
                    "AIRFLOW_API_URL is not set to read the log through the Airflow API"
                )
        else:
            try:
                out.append(trigger_log_path(loc, _log_roots(settings)))
            except PathRefused as exc:
                not_used.append(f"log_location: {exc}")
    if settings.airflow_log_folder:
        out.append(AirflowFolderSource(settings.airflow_log_folder, t))
    if api is not None:
        out.append(api)
    return out, not_used


def _log_roots(settings: Settings) -> list[tuple[Path, str]]:
    """The folders a trigger's log_location may point into."""
    roots: list[tuple[Path, str]] = []
    if settings.airflow_log_folder:
        roots.append((settings.airflow_log_folder, "AIRFLOW_LOG_FOLDER"))
    if settings.dbt_project_dir:
        roots.append((settings.dbt_project_dir / "logs", "DBT_PROJECT_DIR/logs"))
    return roots


def _api(settings: Settings, trigger) -> AirflowApiSource:  # type: ignore[no-untyped-def]
    token = settings.airflow_api_token.get_secret_value() if settings.airflow_api_token else None
    password = settings.airflow_api_password.get_secret_value() if settings.airflow_api_password else None
    return AirflowApiSource(
        str(settings.airflow_api_url), trigger, token=token, user=settings.airflow_api_user, password=password
    )


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
    """(analysis or None, why each source failed, what was not used and why)."""
    t = incident.trigger
    sources, not_used = plan_sources(incident, settings)
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
            result = analyze_log(
                located, run_results=run_results, model=t.model, dbt_project_dir=project_dir, task=t.task_id
            )
        finally:
            if isinstance(source, AirflowApiSource) and isinstance(located, Path):
                located.unlink(missing_ok=True)
        break
    weak = result is None or not result.failed or result.step in _WRAPPER_STEPS or result.error_class == "unknown"
    if weak and (run_results or dbt_log):
        dbt = analyze_log(dbt_log, run_results=run_results, model=t.model, dbt_project_dir=project_dir, task=t.task_id)
        if dbt.failed or result is None:
            result = dbt
    if result is None and t.exception:
        result = analyze_log(
            TextSource(t.exception).resolve(), model=t.model, dbt_project_dir=project_dir, task=t.task_id
        )
        result = dataclasses.replace(result, source="trigger.exception")
    return result, reasons, not_used


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
