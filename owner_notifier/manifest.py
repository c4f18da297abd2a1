"""A compact, cached index over dbt's ``target/manifest.json`` (schema v12).

The manifest of a large project is tens of megabytes; a worker parses each file version once
(cache key: path, ``st_mtime_ns``, ``st_size``) and keeps only what owner resolution needs:
per node its name, type, file, meta, group and test attachment, plus the groups, the exposures'
names and ``child_map``. Lookups by name or unique id are dict look-ups.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.errors import SourceError

_MAX_DOWNSTREAM = 200  # names listed per kind; the count says how many there were in total


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """The owner-relevant part of one manifest node or source."""

    unique_id: str
    name: str
    resource_type: str  # model, test, seed, snapshot, source, ...
    original_file_path: str
    config_meta: dict[str, Any]
    meta: dict[str, Any]
    source_meta: dict[str, Any]  # sources only: the source-level meta (tables inherit it)
    group: str | None
    attached_node: str | None  # tests: the node a generic test is attached to
    depends_on: tuple[str, ...]


@dataclass(slots=True)
class ManifestIndex:
    """What owner resolution needs from one manifest version."""

    path: Path
    project_name: str
    nodes: dict[str, NodeInfo]
    by_name: dict[str, list[str]]
    groups: dict[str, dict[str, Any]]  # group unique id -> {"name", "owner": {"name", "email", ...}}
    exposures: dict[str, str]  # exposure unique id -> name
    child_map: dict[str, list[str]] = field(repr=False)

    def lookup(self, name_or_unique_id: str) -> list[NodeInfo]:
        """The nodes with this unique id or name (a name can exist in several packages)."""
        node = self.nodes.get(name_or_unique_id)
        if node is not None:
            return [node]
        return [self.nodes[uid] for uid in self.by_name.get(name_or_unique_id, ())]

    def group(self, name: str, package: str | None = None) -> dict[str, Any] | None:
        """The group ``name`` (dbt stores it as ``group.<package>.<name>``)."""
        if package and (found := self.groups.get(f"group.{package}.{name}")):
            return found
        return next((g for g in self.groups.values() if g.get("name") == name), None)

    def downstream(self, unique_id: str) -> dict[str, Any]:
        """Models and exposures downstream of ``unique_id`` (transitively), by name."""
        seen: set[str] = {unique_id}
        models: list[str] = []
        exposures: list[str] = []
        queue = deque(self.child_map.get(unique_id, ()))
        while queue:
            child = queue.popleft()
            if child in seen:
                continue
            seen.add(child)
            if child.startswith("exposure."):
                exposures.append(self.exposures.get(child, child.rsplit(".", 1)[-1]))
            elif child.startswith(("model.", "snapshot.", "seed.")):
                models.append(self.nodes[child].name if child in self.nodes else child.rsplit(".", 1)[-1])
            queue.extend(self.child_map.get(child, ()))
        return {
            "models": models[:_MAX_DOWNSTREAM],
            "exposures": exposures[:_MAX_DOWNSTREAM],
            "models_total": len(models),
            "exposures_total": len(exposures),
        }


_cache: dict[Path, tuple[tuple[int, int], ManifestIndex]] = {}
_lock = threading.Lock()


def load_manifest(path: Path) -> ManifestIndex:
    """The index of ``path``, parsed at most once per file version in this process.

    Raises FileNotFoundError when there is no manifest, SourceError when it is not one.
    """
    path = path.resolve()
    stat = path.stat()
    version = (stat.st_mtime_ns, stat.st_size)
    with _lock:
        hit = _cache.get(path)
        if hit is not None and hit[0] == version:
            return hit[1]
    index = _build(path, path.read_bytes())
    with _lock:
        _cache[path] = (version, index)  # one version per path: an old one is dropped, not kept
    return index


def clear_cache() -> None:
    """Forget every parsed manifest (tests and benchmarks use this to measure a cold start)."""
    with _lock:
        _cache.clear()


def _build(path: Path, raw: bytes) -> ManifestIndex:
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SourceError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("nodes"), dict):
        raise SourceError(f"{path} is not a dbt manifest (no 'nodes')")
    nodes: dict[str, NodeInfo] = {}
    by_name: dict[str, list[str]] = {}
    for section in ("nodes", "sources"):
        for uid, raw_node in (doc.get(section) or {}).items():
            if isinstance(raw_node, dict):
                node = _node(uid, raw_node)
                nodes[uid] = node
                by_name.setdefault(node.name, []).append(uid)
                if section == "sources" and isinstance(raw_node.get("source_name"), str):
                    by_name.setdefault(f"{raw_node['source_name']}.{node.name}", []).append(uid)
    groups = {uid: g for uid, g in (doc.get("groups") or {}).items() if isinstance(g, dict)}
    exposures = {
        uid: str(e.get("name", uid)) for uid, e in (doc.get("exposures") or {}).items() if isinstance(e, dict)
    }
    metadata = doc.get("metadata") or {}
    return ManifestIndex(
        path=path,
        project_name=str(metadata.get("project_name") or ""),
        nodes=nodes,
        by_name=by_name,
        groups=groups,
        exposures=exposures,
        child_map=doc.get("child_map") or {},
    )


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _node(uid: str, raw: dict[str, Any]) -> NodeInfo:
    config = _dict(raw.get("config"))
    depends = _dict(raw.get("depends_on")).get("nodes") or ()
    group = raw.get("group") or config.get("group")
    return NodeInfo(
        unique_id=uid,
        name=str(raw.get("name") or uid.rsplit(".", 1)[-1]),
        resource_type=str(raw.get("resource_type") or uid.split(".", 1)[0]),
        original_file_path=str(raw.get("original_file_path") or ""),
        config_meta=_dict(config.get("meta")),
        meta=_dict(raw.get("meta")),
        source_meta=_dict(raw.get("source_meta")),
        group=group if isinstance(group, str) else None,
        attached_node=raw.get("attached_node") if isinstance(raw.get("attached_node"), str) else None,
        depends_on=tuple(d for d in depends if isinstance(d, str)),
    )
