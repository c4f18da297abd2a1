"""What the incident post says: ROOT CAUSE / IMPACT / OWNER / NEXT ACTION, from three findings.

Pure functions: no I/O, no Slack formatting (``shared.slack_format`` renders and escapes), so
every sentence here can be tested directly. A missing or unavailable finding is said plainly;
it never blocks the report.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.contracts import (
    Finding,
    FindingStatus,
    Incident,
    Report,
    ReportStatus,
    Specialist,
    Trigger,
)


def compose(incident: Incident, findings: Mapping[Specialist, Finding]) -> Report:
    """The report for ``incident``; specialists absent from ``findings`` are reported unavailable."""
    complete = {s: findings.get(s) or Finding.unavailable(s, "no result: the specialist never reported")
                for s in Specialist}
    degraded = any(f.status is FindingStatus.UNAVAILABLE for f in complete.values())
    log, queries, owners = (complete[Specialist.LOG_ANALYZER], complete[Specialist.QUERY_PROFILER],
                            complete[Specialist.OWNER_NOTIFIER])
    return Report(
        incident_id=incident.incident_id,
        trigger=incident.trigger,
        status=ReportStatus.DEGRADED if degraded else ReportStatus.COMPLETE,
        root_cause=root_cause(incident.trigger, log),
        impact=impact(log, queries, owners),
        owner=owner_line(owners),
        next_action=next_action(incident.trigger, log, queries),
        rerun_command=rerun_command(incident.trigger),
        findings=tuple(complete[s] for s in Specialist),
    )


def root_cause(trigger: Trigger, log: Finding) -> str:
    if log.status is FindingStatus.OK:
        return log.summary
    fallback = _first_line(trigger.exception)
    reason = ("the log shows no failure" if log.status is FindingStatus.EMPTY
              else f"log analysis unavailable: {log.summary}")
    if fallback:
        return f"Airflow reported: {fallback} ({reason})"
    return f"Unknown: {reason}."


def impact(log: Finding, queries: Finding, owners: Finding) -> str:
    parts = [_downstream_sentence(owners)]
    skipped = _names(log.details.get("skipped"))
    if skipped:
        parts.append(f"dbt skipped {len(skipped)} node{'s' if len(skipped) != 1 else ''} because of it.")
    if queries.status is FindingStatus.OK:
        parts.append(f"Warehouse: {queries.summary}")
    elif queries.status is FindingStatus.UNAVAILABLE:
        parts.append(f"Warehouse activity unavailable: {queries.summary}")
    return " ".join(parts)


def _downstream_sentence(owners: Finding) -> str:
    """What depends on the failed node, from the manifest the owner notifier read (never a guess)."""
    downstream = _as_dict(owners.details.get("downstream"))
    models, exposures = _names(downstream.get("models")), _names(downstream.get("exposures"))
    if models or exposures:
        what = []
        if models:
            what.append(f"{len(models)} downstream model{'s' if len(models) != 1 else ''} ({_list(models)})")
        if exposures:
            what.append(f"{len(exposures)} exposure{'s' if len(exposures) != 1 else ''} ({_list(exposures)})")
        return "Blocks " + " and ".join(what) + "."
    if owners.status is FindingStatus.UNAVAILABLE:
        return f"Downstream impact unknown: {owners.summary}."
    if owners.status is FindingStatus.OK and downstream.get("from_manifest"):
        return "No downstream dependents in the dbt manifest."
    return "Downstream impact unknown (no dbt manifest, or no failed dbt node identified)."


def owner_line(owners: Finding) -> str:
    if owners.status is FindingStatus.UNAVAILABLE:
        return f"Owner lookup unavailable: {owners.summary}"
    return owners.summary


def next_action(trigger: Trigger, log: Finding, queries: Finding) -> str:
    steps: list[str] = []
    runbook = log.details.get("runbook")  # the log analyzer's catalog has one per error class
    if isinstance(runbook, str) and runbook:
        steps.append(runbook)
    elif log.status is not FindingStatus.OK:
        steps.append("Open the task log (link below) and read the first error.")
    top = _first_query(queries)
    if top and isinstance(top.get("diagnosis"), str) and top.get("status") != "failed":
        steps.append(f"Check query {top.get('query_id')}: {top['diagnosis']}.")
    steps.append(rerun_hint(trigger))
    return " ".join(steps)


def rerun_command(trigger: Trigger) -> str | None:
    """The command that re-runs the failed task, when the run's logical date is known."""
    if trigger.logical_date is None:
        return None
    day = trigger.logical_date.isoformat()
    return f"airflow tasks clear {trigger.dag_id} -t '^{trigger.task_id}$' -s {day} -e {day} -y"


def rerun_hint(trigger: Trigger) -> str:
    command = rerun_command(trigger)
    if command is not None:
        return f"Then re-run: `{command}`"
    return f"Then clear {trigger.dag_id}.{trigger.task_id} in run {trigger.run_id} from the Airflow UI to re-run it."


def _first_query(queries: Finding) -> dict[str, Any] | None:
    items = queries.details.get("queries")
    if isinstance(items, list) and items and isinstance(items[0], dict):
        return items[0]
    return None


def _as_dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _names(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def _list(names: list[str], limit: int = 5) -> str:
    shown = [n.rsplit(".", 1)[-1] for n in names[:limit]]
    return ", ".join(shown) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _first_line(text: str | None) -> str:
    if not text:
        return ""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""  # a traceback's last line is the exception itself
