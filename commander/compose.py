"""What the incident post says: ROOT CAUSE / IMPACT / OWNER / NEXT ACTION, from the findings.

Pure functions: no I/O, no Slack formatting (``shared.slack_format`` renders and escapes), so
every sentence here can be tested directly. A missing or unavailable finding is said plainly;
it never blocks the report.
"""

from __future__ import annotations

from collections.abc import Mapping

from shared.contracts import (
    AnyFinding,
    FindingStatus,
    Incident,
    LogFinding,
    OwnerFinding,
    QueryDetail,
    QueryFinding,
    Report,
    ReportStatus,
    Trigger,
    pick,
    unavailable,
)
from shared.dbt_artifacts import node_name
from shared.specialists import SPECIALISTS

NEVER_REPORTED = "no result: the specialist never reported"


def compose(incident: Incident, findings: Mapping[str, AnyFinding]) -> Report:
    """The report for ``incident``; registered specialists absent from ``findings`` are reported unavailable.

    Findings come out in the registry's order (their place in the post). A finding filed under
    another specialist's name is not taken for theirs: that specialist is reported unavailable.
    """
    complete = {s.name: _filed(findings, s.name) or unavailable(s.name, NEVER_REPORTED) for s in SPECIALISTS}
    degraded = any(f.status is FindingStatus.UNAVAILABLE for f in complete.values())
    log, queries, owners = (
        pick(complete, LogFinding, missing=NEVER_REPORTED),
        pick(complete, QueryFinding, missing=NEVER_REPORTED),
        pick(complete, OwnerFinding, missing=NEVER_REPORTED),
    )
    found_owners = owners.status is FindingStatus.OK
    return Report(
        incident_id=incident.incident_id,
        trigger=incident.trigger,
        status=ReportStatus.DEGRADED if degraded else ReportStatus.COMPLETE,
        root_cause=root_cause(incident.trigger, log),
        impact=impact(log, queries, owners),
        owner=owner_line(owners),
        owner_lines=owners.details.lines() if found_owners else (),
        owner_notes=owners.details.no_owner if found_owners else (),
        next_action=next_action(incident.trigger, log, queries),
        rerun_command=rerun_command(incident.trigger),
        findings=tuple(complete.values()),
    )


def _filed(findings: Mapping[str, AnyFinding], name: str) -> AnyFinding | None:
    found = findings.get(name)
    return found if found is not None and str(found.specialist) == name else None


def root_cause(trigger: Trigger, log: LogFinding) -> str:
    if log.status is FindingStatus.OK:
        return log.summary
    fallback = _exception_line(trigger.exception)
    reason = (
        "the log shows no failure" if log.status is FindingStatus.EMPTY else f"log analysis unavailable: {log.summary}"
    )
    if fallback:
        return f"Airflow reported: {fallback} ({reason})"
    return f"Unknown: {reason}."


def impact(log: LogFinding, queries: QueryFinding, owners: OwnerFinding) -> str:
    parts = [_downstream_sentence(owners)]
    skipped = log.details.skipped
    if skipped:
        parts.append(f"dbt skipped {len(skipped)} node{'s' if len(skipped) != 1 else ''} because of it.")
    if queries.status is FindingStatus.OK:
        parts.append(f"Warehouse: {queries.summary}")
    elif queries.status is FindingStatus.UNAVAILABLE:
        parts.append(f"Warehouse activity unavailable: {queries.summary}")
    return " ".join(parts)


def _downstream_sentence(owners: OwnerFinding) -> str:
    """What depends on the failed node, from the manifest the owner notifier read (never a guess)."""
    downstream = owners.details.downstream
    models, exposures = downstream.models, downstream.exposures
    if models or exposures:
        what = []
        if models:
            what.append(f"{len(models)} downstream model{'s' if len(models) != 1 else ''} ({_list(models)})")
        if exposures:
            what.append(f"{len(exposures)} exposure{'s' if len(exposures) != 1 else ''} ({_list(exposures)})")
        return "Blocks " + " and ".join(what) + "."
    if owners.status is FindingStatus.UNAVAILABLE:
        return f"Downstream impact unknown: {owners.summary}."
    if owners.status is FindingStatus.OK and downstream.from_manifest:
        return "No downstream dependents in the dbt manifest."
    return "Downstream impact unknown (no dbt manifest, or no failed dbt node identified)."


def owner_line(owners: OwnerFinding) -> str:
    if owners.status is FindingStatus.UNAVAILABLE:
        return f"Owner lookup unavailable: {owners.summary}"
    return owners.summary


def next_action(trigger: Trigger, log: LogFinding, queries: QueryFinding) -> str:
    steps: list[str] = []
    runbook = log.details.runbook  # the log analyzer's catalog has one per error class
    if runbook:
        steps.append(runbook)
    elif log.status is not FindingStatus.OK:
        steps.append("Open the task log (link below) and read the first error.")
    top = _first_query(queries)
    if top is not None and top.diagnosis and top.status != "failed":
        steps.append(f"Check query {top.query_id}: {top.diagnosis}.")
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


def _first_query(queries: QueryFinding) -> QueryDetail | None:
    return queries.details.queries[0] if queries.details.queries else None


def _list(names: tuple[str, ...], limit: int = 5) -> str:
    shown = [node_name(n) for n in names[:limit]]
    return ", ".join(shown) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _exception_line(text: str | None) -> str:
    """The line of an exception text that names the error: a traceback's last non-blank line."""
    if not text:
        return ""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""
