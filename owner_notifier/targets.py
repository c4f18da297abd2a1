"""What failed, found by this specialist on its own (the chord runs the specialists in parallel).

In order: the model named in the trigger; else the failed nodes in ``target/run_results.json``
(status error, fail or runtime error), else stale sources in ``target/sources.json`` (freshness);
else a manifest node whose name matches the Airflow task id. A failing test answers to the owner
of the node it tests (``attached_node``, else its ``depends_on``); a source, to the source's owner.

The artifacts are this try's only when ``shared.provenance`` says so (an invocation id in this
try's log, or written inside its window); a try whose log shows no dbt invocation gets no dbt node
at all, and the task id is matched to a node only when this try's log shows that it ran dbt.
Each artifact not used is one line in ``looked_in``, with why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from owner_notifier.owners import Project
from shared.contracts import FoundBy, Trigger
from shared.dbt_artifacts import OWNED_PREFIXES, ManifestIndex, NodeResult, node_name, read_results, resource_type_of
from shared.errors import SourceError
from shared.paths import PathRefused
from shared.provenance import TaskLogDbt, TryWindow, judge_artifact

_MAX_TARGETS = 20
_DBT_ERROR = re.compile(r"\b((?:Database|Runtime|Compilation|Dependency|Parsing|Binder|Catalog|Conversion) Error)\b")
_PY_ERROR = re.compile(r"\b([A-Z]\w*(?:Error|Exception|Timeout))\b")
_TASK_AFFIXES = re.compile(r"^(?:dbt_)?(?:run_|test_|build_)?(?P<name>.+?)(?:[._](?:run|test|build|seed))?$")


@dataclass(frozen=True, slots=True)
class FailedTarget:
    """One failed dbt node and the node(s) whose owner answers for it."""

    name: str
    unique_id: str | None
    resource_type: str  # model, test, source, ... ("model" when only a name is known)
    owner_of: tuple[str, ...]  # unique ids (or names) to resolve owners for
    failure_class: str | None
    found_by: FoundBy


def find_targets(
    trigger: Trigger, project: Project, *, target_dir: Path | None, task_log: TaskLogDbt
) -> tuple[list[FailedTarget], list[str]]:
    """The failed nodes for ``trigger``, and the places looked in (with why an artifact was not used).

    ``task_log`` is what this try's own log says about dbt (``TaskLogDbt.unread()`` if it was not read).
    """
    manifest = project.manifest
    hint = failure_class(trigger.exception)
    if trigger.model:
        return [_target(manifest, trigger.model, hint, "trigger.model")], ["trigger.model"]
    looked_in = ["trigger.model (not set)"]
    if task_log.read and not task_log.ran_dbt:
        looked_in.append("this try's log shows no dbt invocation: no dbt node is its failure")
        return [], looked_in
    root = project.project_dir or target_dir  # artifacts (and any symlink among them) stay inside the project
    artifacts: tuple[FoundBy, ...] = ("run_results.json", "sources.json")
    window = TryWindow.of(trigger)
    for artifact in artifacts:
        if target_dir is None or root is None:
            break
        failed = _failed_in(target_dir / artifact, looked_in, root, window, task_log)
        if failed:
            targets = [_target(manifest, r.unique_id, _class_of(r) or hint, artifact) for r in failed]
            return targets[:_MAX_TARGETS], looked_in
    if manifest is not None and task_log.ran_dbt:
        looked_in.append(f"manifest node named like task {trigger.task_id}")
        for name in _task_names(trigger.task_id):
            if manifest.lookup(name):
                return [_target(manifest, name, hint, "task_id")], looked_in
    elif manifest is not None:
        looked_in.append(
            f"manifest node named like task {trigger.task_id}: not looked for (this try's log was not read, "
            "so it is not known to have run dbt)"
        )
    return [], looked_in


def owner_nodes(manifest: ManifestIndex | None, name_or_uid: str) -> tuple[str, ...]:
    """Whose owner answers for ``name_or_uid``: itself, or for a test the node(s) it tests."""
    return _target(manifest, name_or_uid, None, "lookup").owner_of


def failure_class(text: str | None) -> str | None:
    """A short failure class from an exception or dbt message: "Database Error", "KeyError", ..."""
    if not text:
        return None
    found = _DBT_ERROR.search(text) or _PY_ERROR.search(text)
    return found.group(1) if found else None


def _class_of(result: NodeResult) -> str | None:
    if result.status == "fail":
        failures = result.failures
        return f"test failed ({failures} failing rows)" if failures is not None else "test failed"
    if result.is_source_freshness:
        return "source freshness: stale"
    return failure_class(result.message) or (f"dbt {result.status}" if result.status else None)


def _failed_in(
    path: Path, looked_in: list[str], root: Path, window: TryWindow, task_log: TaskLogDbt
) -> tuple[NodeResult, ...]:
    try:
        results = read_results(path, root=root)
    except PathRefused as exc:
        looked_in.append(f"target/{path.name} ({exc})")
        return ()
    except FileNotFoundError:
        looked_in.append(f"target/{path.name} (not found)")
        return ()
    except (SourceError, OSError) as exc:
        looked_in.append(f"target/{path.name} (unusable: {exc.__class__.__name__})")
        return ()
    verdict = judge_artifact(
        f"target/{path.name}",
        generated_at=results.generated_at,
        invocation_id=results.invocation_id,
        window=window,
        task_log=task_log,
        failed_nodes=[r.unique_id for r in results.failed],
    )
    if not verdict.used:
        looked_in.append(verdict.reason)
        return ()
    looked_in.append(f"target/{path.name}")
    return results.failed


def _target(manifest: ManifestIndex | None, name_or_uid: str, failure: str | None, found_by: FoundBy) -> FailedTarget:
    nodes = manifest.lookup(name_or_uid) if manifest else []
    node = next((n for n in nodes if n.resource_type == "model"), nodes[0] if nodes else None)
    if node is None:
        kind = resource_type_of(name_or_uid) or "model"  # only a name: taken for a model's
        name = node_name(name_or_uid)
        return FailedTarget(name, None, kind, (name_or_uid,), failure, found_by)
    owner_of: tuple[str, ...] = (node.unique_id,)
    if node.resource_type == "test":
        tested = (
            (node.attached_node,)
            if node.attached_node
            else tuple(d for d in node.depends_on if d.startswith(OWNED_PREFIXES))
        )
        owner_of = tested or owner_of
    return FailedTarget(node.name, node.unique_id, node.resource_type, owner_of, failure, found_by)


def _task_names(task_id: str) -> list[str]:
    """Names a task id may stand for: itself, its dotted parts (last first), without run_/_run affixes."""
    names = [task_id]
    for part in reversed(task_id.split(".")):
        match = _TASK_AFFIXES.match(part)
        for name in (part, match["name"] if match else part):
            if name not in names and name not in ("run", "test", "build", "seed"):
                names.append(name)
    return names
