"""The suspect model's direct upstream and downstream models, from dbt's ``target/manifest.json``."""

from __future__ import annotations

import json
from pathlib import Path

from query_profiler.attribution import name_from_node_id

MANIFEST_RELATIVE_PATH = Path("target") / "manifest.json"
_LINEAGE_RESOURCES = ("model.", "snapshot.", "seed.")


def related_models(dbt_project_dir: Path | None, model: str | None) -> frozenset[str] | None:
    """Names of the models one hop up and down from ``model``; None when there is no usable manifest.

    A parse-time dbt failure writes no manifest: then the profiler falls back to the time window.
    """
    if dbt_project_dir is None or not model:
        return None
    path = dbt_project_dir / MANIFEST_RELATIVE_PATH
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        nodes = [
            node_id
            for node_id, node in manifest.get("nodes", {}).items()
            if node_id.startswith(_LINEAGE_RESOURCES) and node.get("name") == model
        ]
        if not nodes:
            return None
        parent_map, child_map = manifest.get("parent_map", {}), manifest.get("child_map", {})
    except (OSError, ValueError, AttributeError):
        return None
    neighbours = {n for node in nodes for n in (*parent_map.get(node, ()), *child_map.get(node, ()))}
    return frozenset(name_from_node_id(n) for n in neighbours if n.startswith(_LINEAGE_RESOURCES)) - {model}
