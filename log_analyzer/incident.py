"""``analyze_incident``: pick the sources for one incident, analyze, and return a Finding (never raise)."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from pydantic import JsonValue

from log_analyzer.analyzer import analyze_log
from log_analyzer.models import LogAnalysis
from log_analyzer.sources import AirflowApiSource, AirflowFolderSource, FileSource, LogSource, TextSource
from shared.contracts import Finding, FindingStatus, Incident, Specialist
from shared.errors import IncidentCommanderError
from shared.redact import clean
from shared.settings import Settings

_WRAPPER_STEPS = frozenset({"airflow.bash_nonzero", "airflow.return_code", "airflow.subprocess_error"})


def log_sources(incident: Incident, settings: Settings) -> list[LogSource]:
    """The task-log sources worth trying, best first (the trigger's exception text is not one)."""
    t = incident.trigger
    out: list[LogSource] = []
    loc = t.log_location
    api = _api(settings, t) if settings.airflow_api_url else None
    if loc and not loc.startswith(("http://", "https://")):
        out.append(FileSource(Path(loc)))
    if settings.airflow_log_folder:
        out.append(AirflowFolderSource(settings.airflow_log_folder, t))
    if api is not None:
        out.append(api)
    return out


def _api(settings: Settings, trigger) -> AirflowApiSource:  # type: ignore[no-untyped-def]
    token = settings.airflow_api_token.get_secret_value() if settings.airflow_api_token else None
    password = settings.airflow_api_password.get_secret_value() if settings.airflow_api_password else None
    return AirflowApiSource(str(settings.airflow_api_url), trigger, token=token,
                            user=settings.airflow_api_user, password=password)


def analyze_incident(incident: Incident, settings: Settings) -> Finding:
    """The log analyzer's finding for one incident: OK, EMPTY (no failure in the log) or UNAVAILABLE."""
    started = time.perf_counter()
    try:
        analysis, reasons = _analyze(incident, settings)
    except Exception as exc:  # noqa: BLE001 - a specialist degrades, it never raises into the chord
        return Finding.unavailable(Specialist.LOG_ANALYZER, clean(f"log analysis failed: {exc}", 1_000) or "",
                                   elapsed_ms=_ms(started))
    if analysis is None:
        reason = "no log source could be read: " + "; ".join(reasons or ["none configured"])
        return Finding.unavailable(Specialist.LOG_ANALYZER, clean(reason, 1_000) or "",
                                   elapsed_ms=_ms(started))
    return to_finding(analysis, elapsed_ms=_ms(started))


def to_finding(analysis: LogAnalysis, *, elapsed_ms: float = 0.0) -> Finding:
    status = FindingStatus.OK if analysis.failed else FindingStatus.EMPTY
    details: dict[str, JsonValue] = {
        "error_class": analysis.error_class.value if analysis.error_class else None,
        "failed_node": analysis.failed_node, "root_cause": analysis.root_cause,
        "skipped": list[JsonValue](analysis.skipped), "runbook": analysis.runbook, "step": analysis.step,
        "source": analysis.source,
    }
    return Finding(specialist=Specialist.LOG_ANALYZER, status=status,
                   summary=clean(analysis.root_cause, 1_000) or "", details=details,
                   evidence=analysis.evidence, elapsed_ms=elapsed_ms)


def _analyze(incident: Incident, settings: Settings) -> tuple[LogAnalysis | None, list[str]]:
    t = incident.trigger
    project_dir = settings.dbt_project_dir
    run_results = project_dir / "target" / "run_results.json" if project_dir else None
    run_results = run_results if run_results and run_results.is_file() else None
    dbt_log = project_dir / "logs" / "dbt.log" if project_dir else None
    reasons: list[str] = []
    result: LogAnalysis | None = None
    for source in log_sources(incident, settings):
        try:
            located = source.resolve()
        except IncidentCommanderError as exc:
            reasons.append(str(exc))
            continue
        try:
            result = analyze_log(located, run_results=run_results, model=t.model, dbt_project_dir=project_dir,
                                 task=t.task_id)
        finally:
            if isinstance(source, AirflowApiSource) and isinstance(located, Path):
                located.unlink(missing_ok=True)
        break
    weak = (result is None or not result.failed or result.step in _WRAPPER_STEPS
            or result.error_class == "unknown")
    if weak and (run_results or (dbt_log and dbt_log.is_file())):
        dbt = analyze_log(dbt_log if dbt_log and dbt_log.is_file() else None, run_results=run_results,
                          model=t.model, dbt_project_dir=project_dir, task=t.task_id)
        if dbt.failed or result is None:
            result = dbt
    if result is None and t.exception:
        result = analyze_log(TextSource(t.exception).resolve(), model=t.model, dbt_project_dir=project_dir,
                             task=t.task_id)
        result = dataclasses.replace(result, source="trigger.exception")
    return result, reasons


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
