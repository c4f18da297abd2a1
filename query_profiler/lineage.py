"""The suspect model's direct upstream and downstream models, from dbt's ``target/manifest.json``."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

from query_profiler.attribution import name_from_node_id

MANIFEST_RELATIVE_PATH = Path("target") / "manifest.json"
_LINEAGE_RESOURCES = ("model.", "snapshot.", "seed.")


@dataclass(frozen=True)
class _Lineage:
    nodes_by_name: dict[str, tuple[str, ...]]
    parent_map: dict[str, list[str]]
    child_map: dict[str, list[str]]


def related_models(dbt_project_dir: Path | None, model: str | None) -> frozenset[str] | None:
    """Names of the models one hop up and down from ``model``; None when there is no usable manifest.

    A parse-time dbt failure writes no manifest: then the profiler falls back to the time window.
    """
    if dbt_project_dir is None or not model:
        return None
    path = dbt_project_dir / MANIFEST_RELATIVE_PATH
    try:
        stat = path.stat()
        lineage = _load(str(path), stat.st_mtime_ns, stat.st_size)
    except (OSError, ValueError, AttributeError):
        return None
    nodes = lineage.nodes_by_name.get(model, ())
    if not nodes:
        return None
    neighbours = {n for node in nodes for n in (*lineage.parent_map.get(node, ()), *lineage.child_map.get(node, ()))}
    return frozenset(name_from_node_id(n) for n in neighbours if n.startswith(_LINEAGE_RESOURCES)) - {model}


@functools.lru_cache(maxsize=4)
def _load(path: str, mtime_ns: int, size: int) -> _Lineage:
    """Parse a manifest once per file version (path, mtime, size) in this process."""
    manifest = json.loads(Path(path).read_text(encoding="utf-8"))
    by_name: dict[str, list[str]] = {}
    for node_id, node in manifest.get("nodes", {}).items():
        if node_id.startswith(_LINEAGE_RESOURCES):
            by_name.setdefault(node.get("name"), []).append(node_id)
    return _Lineage(nodes_by_name={k: tuple(v) for k, v in by_name.items()},
                    parent_map=manifest.get("parent_map", {}), child_map=manifest.get("child_map", {}))
