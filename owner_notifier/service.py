"""``notify_owners``: the owner_notifier specialist's whole job, as a plain function.

Find what failed, resolve each failed node's owners, ping each resolved owner once in the
incident thread, and return an OwnerFinding (``OwnerDetails`` in ``shared.contracts``). What it
cannot read is said in the finding; an unexpected error is raised to the specialist task, the
one layer that turns it into an ``unavailable`` finding and times the call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from owner_notifier.mentions import Mention, resolve_mention
from owner_notifier.owners import Declared, Project, Resolution, open_project, resolve_owner
from owner_notifier.targets import FailedTarget, failure_class, find_targets
from owner_notifier.task_owners import task_owners, task_rules
from shared.contracts import (
    Downstream,
    Evidence,
    FailedNode,
    FindingStatus,
    Incident,
    OwnerDetails,
    OwnerEntry,
    OwnerFinding,
    Trigger,
)
from shared.errors import IncidentCommanderError
from shared.ports import IncidentSink, UserDirectory
from shared.provenance import TaskLogDbt
from shared.settings import Settings
from shared.slack_format import untrusted_prose
from shared.task_log import dbt_in_task_log

log = logging.getLogger(__name__)


@dataclass
class _Ping:
    """Everything one mention is pinged about (an owner of several failed models gets one message)."""

    models: list[str] = field(default_factory=list)
    failure: str | None = None
    entries: list[dict[str, Any]] = field(default_factory=list)


def notify_owners(
    incident: Incident,
    settings: Settings,
    *,
    sink: IncidentSink,
    directory: UserDirectory,
    once: Callable[[str], bool],
) -> OwnerFinding:
    """Resolve and ping the owners of what failed in ``incident``.

    ``once(key)`` must return True only the first time it sees ``key`` (Redis ``SET NX`` in production).
    """
    trigger = incident.trigger
    task_log, log_problems = dbt_in_task_log(trigger, settings)
    try:
        project, targets, targets_looked_in = _dbt_targets(trigger, settings, task_log)
    except _Unavailable as exc:
        return OwnerFinding(status=FindingStatus.UNAVAILABLE, summary=str(exc)[:1_000])
    targets_looked_in += log_problems
    if not targets:  # not a dbt failure of this try: the task's own owner, or nobody
        return _task_owner_finding(incident, project, targets_looked_in, sink=sink, directory=directory, once=once)
    owners: list[dict[str, Any]] = []
    evidence: list[Evidence] = []
    pings: dict[str, _Ping] = {}
    for target in targets:
        for owner_of in target.owner_of:
            resolution = resolve_owner(project, owner_of)
            if not resolution.declared:
                owners.append(_entry(target, resolution, None, None))
            for declared in resolution.declared:
                mention = resolve_mention(
                    declared.owner, directory=directory, teams=project.teams, team_keys=declared.team_keys
                )
                entry = _entry(target, resolution, declared, mention)
                owners.append(entry)
                evidence.append(
                    Evidence(
                        source=declared.evidence[:500],
                        text=f"{resolution.model}: owner {declared.owner!r}"[:2_000],
                    )
                )
                if mention.slack:
                    ping = pings.setdefault(mention.slack, _Ping())
                    if resolution.model not in ping.models:
                        ping.models.append(resolution.model)
                    ping.failure = ping.failure or target.failure_class
                    ping.entries.append(entry)
    for slack, ping in pings.items():
        _ping(incident, sink, once, slack, ping)
    return _finding(targets, owners, evidence, project, targets_looked_in)


class _Unavailable(Exception):
    """The dbt project cannot be read although this failure needs it (a broken DBT_PROJECT_DIR, or the
    trigger names a model and no project is configured): the finding is ``unavailable``, never a guess."""


def _dbt_targets(
    trigger: Trigger, settings: Settings, task_log: TaskLogDbt
) -> tuple[Project, list[FailedTarget], list[str]]:
    """The dbt project (possibly none), this try's failed dbt nodes, and where they were looked for."""
    project_dir = settings.dbt_project_dir
    if project_dir is None:
        if trigger.model:
            raise _Unavailable("no dbt project configured (DBT_PROJECT_DIR is not set)")
        return open_project(None, owners_file=settings.owners_file), [], ["DBT_PROJECT_DIR (not set)"]
    if not project_dir.is_dir():
        raise _Unavailable(f"DBT_PROJECT_DIR {project_dir} is not a readable directory")
    project = open_project(project_dir, owners_file=settings.owners_file)
    if (nothing_to_read := _nothing_to_read(project_dir, project)) is not None:
        raise _Unavailable(nothing_to_read)
    targets, looked_in = find_targets(trigger, project, target_dir=project_dir / "target", task_log=task_log)
    return project, targets, looked_in


def _task_owner_finding(
    incident: Incident,
    project: Project,
    targets_looked_in: list[str],
    *,
    sink: IncidentSink,
    directory: UserDirectory,
    once: Callable[[str], bool],
) -> OwnerFinding:
    """No dbt node of this try failed: the Airflow task's owner (OWNERS_FILE rules, then its ``owner``)."""
    trigger = incident.trigger
    rules, problems = task_rules(project.task_rules)
    file_problems = [project.owners_file_problem] if project.owners_file_problem else []
    declared, looked_in = task_owners(trigger, rules, problems=[*file_problems, *problems])
    task = f"{trigger.dag_id}.{trigger.task_id}"
    target = FailedTarget(task, None, "task", (), failure_class(trigger.exception), "task_id")
    resolution = Resolution(
        model=task,
        unique_id=None,
        declared=tuple(declared),
        looked_in=tuple(dict.fromkeys([*project.looked_in, *problems, *looked_in])),
        kind="task",
    )
    owners: list[dict[str, Any]] = []
    evidence: list[Evidence] = []
    pings: dict[str, _Ping] = {}
    if not declared:
        owners.append(_entry(target, resolution, None, None))
    for one in declared:
        mention = resolve_mention(one.owner, directory=directory, teams=project.teams, team_keys=one.team_keys)
        entry = _entry(target, resolution, one, mention)
        owners.append(entry)
        evidence.append(Evidence(source=one.evidence[:500], text=f"{task}: owner {one.owner!r}"[:2_000]))
        if mention.slack:
            ping = pings.setdefault(mention.slack, _Ping(models=[task], failure=target.failure_class))
            ping.entries.append(entry)
    for slack, ping in pings.items():
        _ping(incident, sink, once, slack, ping)
    details = OwnerDetails(owners=tuple(OwnerEntry(**o) for o in owners), targets_looked_in=tuple(targets_looked_in))
    no_node = f"no failed dbt node found for task {trigger.task_id} (looked in: {', '.join(targets_looked_in)})"
    return OwnerFinding(
        status=FindingStatus.OK if declared else FindingStatus.EMPTY,
        summary=_summary([line.plain() for line in details.lines()] + list(details.no_owner) + [no_node]),
        details=details,
        evidence=tuple(evidence[:50]),
    )


def _nothing_to_read(project_dir: Path, project: Project) -> str | None:
    """Why owners cannot be looked up at all: no usable manifest and no dbt_project.yml; else None."""
    if project.manifest is not None or (project_dir / "dbt_project.yml").is_file():
        return None
    if (project_dir / "target" / "manifest.json").exists():  # there but not read (too big, corrupt): say why
        return f"{project_dir} has no dbt_project.yml and no usable manifest: {'; '.join(project.looked_in)}"
    return f"{project_dir} has neither target/manifest.json nor dbt_project.yml"


def _entry(
    target: FailedTarget, resolution: Resolution, declared: Declared | None, mention: Mention | None
) -> dict[str, Any]:
    return {
        "model": resolution.model,
        "unique_id": resolution.unique_id,
        "failed_node": target.name,
        "owner": declared.owner if declared else None,
        "source": declared.source if declared else None,
        "slack": mention.slack if mention else None,
        "resolved_by": mention.via if mention else None,
        "note": mention.note if mention else (None if declared else resolution.no_owner_sentence),
        "looked_in": list(resolution.looked_in),
        "pinged": False,
    }


def _ping(incident: Incident, sink: IncidentSink, once: Callable[[str], bool], slack: str, ping: _Ping) -> None:
    context = {"incident_id": incident.incident_id, "owner": slack}
    if incident.thread_ts is None:  # the opening post failed: a ping would be a second top-level post
        for entry in ping.entries:
            entry["note"] = "no incident thread (the opening post failed): mentioned in the report instead"
        return
    if not once(f"{incident.incident_id}:ping:{slack}"):
        log.info("owner already pinged for this incident", extra=context)
        for entry in ping.entries:
            entry.update(pinged=True, note=entry["note"] or "already pinged by an earlier run of this incident")
        return
    # Everything but the validated mention is untrusted prose: redacted, unable to format or mention.
    failure = f" failed ({untrusted_prose(ping.failure)})" if ping.failure else " failed"
    where = untrusted_prose(f"{incident.trigger.dag_id}.{incident.trigger.task_id}")
    text = (
        f"{slack} you are the declared owner of {untrusted_prose(', '.join(ping.models))}, which{failure} "
        f"in incident {incident.incident_id} ({where}). Triage is in this thread."
    )
    try:
        sink.post(
            channel=incident.channel,
            thread_ts=incident.thread_ts,
            text=text,
            tag=f"{incident.incident_id}:ping:{slack}",
        )
    except IncidentCommanderError as exc:  # the claim stays taken: better one missed ping than a ping storm
        log.warning("owner ping failed: %s", exc, extra=context)
        for entry in ping.entries:
            entry["note"] = f"ping failed: {exc}"
        return
    for entry in ping.entries:
        entry["pinged"] = True


def _finding(
    targets: list[FailedTarget],
    owners: list[dict[str, Any]],
    evidence: list[Evidence],
    project: Project,
    targets_looked_in: list[str],
) -> OwnerFinding:
    declared = [o for o in owners if o["owner"] is not None]
    details = OwnerDetails(
        owners=tuple(OwnerEntry(**o) for o in owners),
        downstream=_downstream(targets, project),
        failed_nodes=tuple(
            FailedNode(
                name=t.name,
                unique_id=t.unique_id,
                resource_type=t.resource_type,
                failure_class=t.failure_class,
                found_by=t.found_by,
            )
            for t in targets
        ),
        targets_looked_in=tuple(targets_looked_in),
    )
    return OwnerFinding(
        status=FindingStatus.OK if declared else FindingStatus.EMPTY,
        summary=_summary([line.plain() for line in details.lines()] + list(details.no_owner)),
        details=details,
        evidence=tuple(evidence[:50]),
    )


def _summary(parts: list[str], limit: int = 1_000) -> str:
    """The parts, ``; ``-separated, cut between parts (never inside one: a mention stays whole)."""
    for shown in range(len(parts), 0, -1):
        text = "; ".join(parts[:shown]) + (f"; and {len(parts) - shown} more" if shown < len(parts) else "")
        if len(text) <= limit:
            return text
    return parts[0][: limit - 1] + "…" if parts else ""


def _downstream(targets: list[FailedTarget], project: Project) -> Downstream:
    models: list[str] = []
    exposures: list[str] = []
    if project.manifest is not None:
        for target in targets:
            for uid in target.owner_of if target.resource_type == "test" else (target.unique_id or "",):
                impact = project.manifest.downstream(uid)
                models += [m for m in impact["models"] if m not in models]
                exposures += [e for e in impact["exposures"] if e not in exposures]
    # from_manifest: whether empty lists mean "no dependents" or "could not tell" (no manifest)
    return Downstream(models=tuple(models), exposures=tuple(exposures), from_manifest=project.manifest is not None)
