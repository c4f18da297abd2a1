"""A compact, cached index over dbt's ``target/manifest.json`` (schema v12).

The manifest of a large project is tens of megabytes; a worker parses each file version once
(cache key: path, ``st_mtime_ns``, ``st_size``) and keeps only what owner resolution needs:
per node its name, type, file, meta, group and test attachment, plus the groups, the exposures'
names and ``child_map``. Lookups by name or unique id are dict look-ups.

A manifest over ``MAX_MANIFEST_BYTES`` is not read at all (its size is checked with ``stat()``
first, and the read itself stops at the limit): parsing one takes memory in proportion to the file,
several times its size. The SourceError says so, and callers note it and carry on without it.
"""

from __future__ import annotations

import gc
import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from owner_notifier.manifest_decode import decode
from shared import bounded_files
from shared.errors import SourceError

_MAX_DOWNSTREAM = 200  # names listed per kind; the count says how many there were in total
MAX_MANIFEST_BYTES = bounded_files.MAX_MANIFEST_BYTES  # read at call time, so it can be lowered
_LIMIT = "owner_notifier/manifest.py MAX_MANIFEST_BYTES"
_INSTEAD = "Owners are looked up in the project's files instead."


class NodeInfo(NamedTuple):
    """The owner-relevant part of one manifest node or source (a NamedTuple: 10,000 are built cold)."""

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

    Raises FileNotFoundError when there is no manifest, SourceError when it is not one or when it
    is over ``MAX_MANIFEST_BYTES`` (then it is not read).
    """
    path = path.resolve()
    stat = path.stat()
    too_big(path, stat.st_size)
    version = (stat.st_mtime_ns, stat.st_size)
    with _lock:
        hit = _cache.get(path)
        if hit is not None and hit[0] == version:
            return hit[1]
    index = _build(path, _read_bounded(path))
    with _lock:
        _cache[path] = (version, index)  # one version per path: an old one is dropped, not kept
    return index


def too_big(path: Path, size: int) -> None:
    """Raise SourceError when a manifest of ``size`` bytes is over the limit, saying what to do."""
    bounded_files.refuse_oversized(path, size, limit=MAX_MANIFEST_BYTES, setting=_LIMIT, instead=_INSTEAD)


def _read_bounded(path: Path) -> bytes:
    """The file's bytes, reading no more than the limit allows even if it grew since ``stat()``."""
    return bounded_files.read_at_most(path, limit=MAX_MANIFEST_BYTES, setting=_LIMIT, instead=_INSTEAD)


def clear_cache() -> None:
    """Forget every parsed manifest (tests and benchmarks use this to measure a cold start)."""
    with _lock:
        _cache.clear()


def _build(path: Path, raw: bytes) -> ManifestIndex:
    # Parsing allocates millions of objects and none of them are cyclic garbage: the cyclic GC
    # would only rescan them again and again (measured: json.loads 1.5 s with it, 0.34 s without).
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _index(path, _decode(path, raw))
    finally:
        if gc_was_enabled:
            gc.enable()


def _decode(path: Path, raw: bytes) -> Any:
    try:
        doc = decode(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SourceError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(_get(doc, "nodes"), dict):
        raise SourceError(f"{path} is not a dbt manifest (no 'nodes')")
    return doc


def _index(path: Path, doc: Any) -> ManifestIndex:
    nodes: dict[str, NodeInfo] = {}
    by_name: dict[str, list[str]] = {}
    for section in ("nodes", "sources"):
        for uid, raw_node in (_get(doc, section) or {}).items():
            if raw_node is None or isinstance(raw_node, (str, int, float, list)):
                continue
            node = _node(uid, raw_node) if isinstance(raw_node, dict) else _node_from_struct(uid, raw_node)
            nodes[uid] = node
            by_name.setdefault(node.name, []).append(uid)
            source_name = _get(raw_node, "source_name")
            if section == "sources" and isinstance(source_name, str):
                by_name.setdefault(f"{source_name}.{node.name}", []).append(uid)
    groups = {uid: g for uid, g in (_get(doc, "groups") or {}).items() if isinstance(g, dict)}
    exposures = {uid: str(_get(e, "name") or uid) for uid, e in (_get(doc, "exposures") or {}).items()}
    child_map = _get(doc, "child_map")
    return ManifestIndex(
        path=path,
        project_name=str(_get(_get(doc, "metadata"), "project_name") or ""),
        nodes=nodes,
        by_name=by_name,
        groups=groups,
        exposures=exposures,
        child_map=child_map if isinstance(child_map, dict) else {},
    )


def _get(obj: Any, key: str) -> Any:
    """A field of a decoded object: a dict (stdlib json) or a msgspec Struct (the fast path)."""
    if isinstance(obj, dict):
        return obj.get(key)
    return getattr(obj, key, None)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _node(uid: str, raw: Any) -> NodeInfo:
    config = _get(raw, "config")
    depends = _get(_get(raw, "depends_on"), "nodes") or ()
    group = _get(raw, "group") or _get(config, "group")
    attached = _get(raw, "attached_node")
    return NodeInfo(
        unique_id=uid,
        name=str(_get(raw, "name") or uid.rsplit(".", 1)[-1]),
        resource_type=str(_get(raw, "resource_type") or uid.split(".", 1)[0]),
        original_file_path=str(_get(raw, "original_file_path") or ""),
        config_meta=_dict(_get(config, "meta")),
        meta=_dict(_get(raw, "meta")),
        source_meta=_dict(_get(raw, "source_meta")),
        group=group if isinstance(group, str) else None,
        attached_node=attached if isinstance(attached, str) else None,
        depends_on=tuple(d for d in depends if isinstance(d, str)) if isinstance(depends, list) else (),
    )


def _node_from_struct(uid: str, raw: Any) -> NodeInfo:
    """``_node`` for the msgspec path: attribute access, a third of the time of ``_get``."""
    config, depends_on, name, kind = raw.config, raw.depends_on, raw.name, raw.resource_type
    depends = depends_on.nodes if depends_on is not None else None
    group = raw.group or (config.group if config is not None else None)
    return NodeInfo(
        unique_id=uid,
        name=name if isinstance(name, str) and name else uid.rsplit(".", 1)[-1],
        resource_type=kind if isinstance(kind, str) and kind else uid.split(".", 1)[0],
        original_file_path=str(raw.original_file_path or ""),
        config_meta=_dict(config.meta if config is not None else None),
        meta=_dict(raw.meta),
        source_meta=_dict(raw.source_meta),
        group=group if isinstance(group, str) else None,
        attached_node=raw.attached_node if isinstance(raw.attached_node, str) else None,
        depends_on=tuple(d for d in depends if isinstance(d, str)) if isinstance(depends, list) else (),
    )
