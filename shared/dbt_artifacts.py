"""What dbt wrote in ``target/``, read once for every specialist.

    node_name(unique_id)                  the one rule from a dbt unique id to a node's name
    short_name(name_or_unique_id)         a node's name from an id, or the last part of a dotted name
    package_of / resource_type_of         the other parts of a unique id (None when it is not one)
    load_manifest(path) -> ManifestIndex  ``manifest.json``: a compact index, parsed once per file version
    read_results(path, root=...)          ``run_results.json`` or ``sources.json``: each node's status

The manifest of a large project is tens of megabytes; a process parses each file version once
(cache key: path, ``st_mtime_ns``, ``st_size``; one version kept per path) and keeps only what
the specialists read: per node its name, type, file, meta, group, test attachment and
dependencies, plus the groups, the exposures' names, ``parent_map`` and ``child_map``.
``shared.dbt_manifest_decode`` decodes it (msgspec when installed, else the stdlib).

Every artifact over ``bounded_files.MAX_MANIFEST_BYTES`` is refused before it is read (its size
is checked with ``stat()`` first, and the read itself stops at the limit): parsing one takes
memory in proportion to the file. The ``ArtifactTooBig`` error says so, with the caller's
``instead`` sentence; callers note it and carry on without the artifact.
"""

from __future__ import annotations

import gc
import json
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from shared import bounded_files
from shared.dbt_manifest_decode import decode, field_of
from shared.errors import SourceError
from shared.paths import inside

_NAME_THIRD = frozenset({"model", "seed", "snapshot", "analysis", "test", "exposure"})
_RESOURCE_TYPES = _NAME_THIRD | {"source", "metric", "semantic_model", "saved_query", "unit_test", "group"}
_LINEAGE = ("model.", "snapshot.", "seed.")
# The nodes an owner can be declared on: what a failing test or a failed node answers to.
OWNED_PREFIXES = ("model.", "source.", "snapshot.", "seed.")
_MAX_DOWNSTREAM = 200  # names listed per kind; the count says how many there were in total
_LIMIT = "shared/bounded_files.py MAX_MANIFEST_BYTES"
_INSTEAD = "The finding is made without it."
FAILED_STATUSES = ("error", "runtime error", "fail")  # in order of preference


def node_name(unique_id: str) -> str:
    """The node's name in a dbt unique id; an id of another kind is returned unchanged.

    ``model.pkg.name[.v2]`` (seed, snapshot, analysis alike), ``test.pkg.name.hash`` and
    ``exposure.pkg.name`` -> ``name``; ``source.pkg.source_name.table`` -> ``table``.
    """
    parts = unique_id.split(".")
    if parts[0] == "source" and len(parts) >= 4:
        return ".".join(parts[3:])
    if parts[0] in _NAME_THIRD and len(parts) >= 3:
        return parts[2]
    return unique_id


def is_unique_id(text: str) -> bool:
    """``type.package.name…`` with a dbt resource type first."""
    parts = text.split(".")
    return len(parts) >= 3 and parts[0] in _RESOURCE_TYPES


def package_of(unique_id: str) -> str | None:
    """The package (project) of a dbt unique id, or None when ``unique_id`` is not one."""
    return unique_id.split(".")[1] if is_unique_id(unique_id) else None


def resource_type_of(unique_id: str) -> str | None:
    """The resource type of a dbt unique id (model, test, source, ...), or None when it is not one."""
    return unique_id.split(".", 1)[0] if is_unique_id(unique_id) else None


def short_name(name_or_unique_id: str) -> str:
    """A node's name: ``node_name`` of a unique id, else the last part of a dotted name
    (``raw.raw_orders``, a source written ``source_name.table``, is ``raw_orders``)."""
    if is_unique_id(name_or_unique_id):
        return node_name(name_or_unique_id)
    return name_or_unique_id.rsplit(".", 1)[-1]


class NodeInfo(NamedTuple):
    """The part of one manifest node or source the specialists read (a NamedTuple: 10,000 are built cold)."""

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
    """What the specialists need from one manifest version."""

    path: Path
    project_name: str
    nodes: dict[str, NodeInfo]
    by_name: dict[str, list[str]]  # name (and "source_name.table" for sources) -> unique ids
    groups: dict[str, dict[str, Any]]  # group unique id -> {"name", "owner": {"name", "email", ...}}
    exposures: dict[str, str]  # exposure unique id -> name
    child_map: dict[str, list[str]] = field(repr=False)
    parent_map: dict[str, list[str]] = field(repr=False, default_factory=dict)

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
                exposures.append(self.exposures.get(child, node_name(child)))
            elif child.startswith(_LINEAGE):
                models.append(self._name(child))
            queue.extend(self.child_map.get(child, ()))
        return {
            "models": models[:_MAX_DOWNSTREAM],
            "exposures": exposures[:_MAX_DOWNSTREAM],
            "models_total": len(models),
            "exposures_total": len(exposures),
        }

    def lineage_nodes(self, name: str) -> tuple[str, ...]:
        """The unique ids of the models, snapshots and seeds called ``name``."""
        return tuple(uid for uid in self.by_name.get(name, ()) if uid.startswith(_LINEAGE))

    def neighbours(self, name: str) -> frozenset[str]:
        """Names of the models, snapshots and seeds one hop up or down from those called ``name``."""
        around = {
            n for uid in self.lineage_nodes(name) for n in (*self.parent_map.get(uid, ()), *self.child_map.get(uid, ()))
        }
        return frozenset(self._name(n) for n in around if n.startswith(_LINEAGE)) - {name}

    def _name(self, unique_id: str) -> str:
        node = self.nodes.get(unique_id)
        return node.name if node is not None else node_name(unique_id)


_cache: dict[Path, tuple[tuple[int, int], ManifestIndex]] = {}
_lock = threading.Lock()


def load_manifest(path: Path, *, instead: str = _INSTEAD) -> ManifestIndex:
    """The index of ``path``, parsed at most once per file version in this process.

    Raises FileNotFoundError when there is no manifest, ArtifactTooBig (a SourceError) when it is
    over ``MAX_MANIFEST_BYTES`` (then it is not read; ``instead`` says what the caller does without
    it), SourceError when it is not a manifest.
    """
    path = path.resolve()
    stat = path.stat()
    too_big(path, stat.st_size, instead=instead)
    version = (stat.st_mtime_ns, stat.st_size)
    with _lock:
        hit = _cache.get(path)
        if hit is not None and hit[0] == version:
            return hit[1]
    index = _build(path, _read(path, instead=instead))
    with _lock:
        _cache[path] = (version, index)  # one version per path: an old one is dropped, not kept
    return index


def too_big(path: Path, size: int, *, instead: str = _INSTEAD, artifact: str = "manifest.json") -> None:
    """Raise ArtifactTooBig when an artifact of ``size`` bytes is over the limit, saying what to do."""
    bounded_files.refuse_oversized(
        path, size, limit=bounded_files.MAX_MANIFEST_BYTES, setting=_LIMIT, instead=instead, artifact=artifact
    )


def clear_cache() -> None:
    """Forget every parsed manifest (tests and benchmarks use this to measure a cold start)."""
    with _lock:
        _cache.clear()


def _read(path: Path, *, instead: str = _INSTEAD, artifact: str = "manifest.json") -> bytes:
    """The file's bytes, reading no more than the limit (read now: tests lower it) even if it grew."""
    return bounded_files.read_at_most(
        path, limit=bounded_files.MAX_MANIFEST_BYTES, setting=_LIMIT, instead=instead, artifact=artifact
    )


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
    if not isinstance(field_of(doc, "nodes"), dict):
        raise SourceError(f"{path} is not a dbt manifest (no 'nodes')")
    return doc


def _index(path: Path, doc: Any) -> ManifestIndex:
    nodes: dict[str, NodeInfo] = {}
    by_name: dict[str, list[str]] = {}
    for section in ("nodes", "sources"):
        for uid, raw_node in _dict(field_of(doc, section)).items():
            if raw_node is None or isinstance(raw_node, (str, int, float, list)):
                continue
            node = _node(uid, raw_node) if isinstance(raw_node, dict) else _node_from_struct(uid, raw_node)
            nodes[uid] = node
            by_name.setdefault(node.name, []).append(uid)
            source_name = field_of(raw_node, "source_name")
            if section == "sources" and isinstance(source_name, str):
                by_name.setdefault(f"{source_name}.{node.name}", []).append(uid)
    # A section of the wrong shape (a list where dbt writes an object) is read as empty, never raised.
    groups = {uid: g for uid, g in _dict(field_of(doc, "groups")).items() if isinstance(g, dict)}
    exposures = {uid: str(field_of(e, "name") or uid) for uid, e in _dict(field_of(doc, "exposures")).items()}
    return ManifestIndex(
        path=path,
        project_name=str(field_of(field_of(doc, "metadata"), "project_name") or ""),
        nodes=nodes,
        by_name=by_name,
        groups=groups,
        exposures=exposures,
        child_map=_dict(field_of(doc, "child_map")),
        parent_map=_dict(field_of(doc, "parent_map")),
    )


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _node(uid: str, raw: Any) -> NodeInfo:
    config = field_of(raw, "config")
    depends = field_of(field_of(raw, "depends_on"), "nodes") or ()
    group = field_of(raw, "group") or field_of(config, "group")
    attached = field_of(raw, "attached_node")
    return NodeInfo(
        unique_id=uid,
        name=str(field_of(raw, "name") or node_name(uid)),
        resource_type=str(field_of(raw, "resource_type") or uid.split(".", 1)[0]),
        original_file_path=str(field_of(raw, "original_file_path") or ""),
        config_meta=_dict(field_of(config, "meta")),
        meta=_dict(field_of(raw, "meta")),
        source_meta=_dict(field_of(raw, "source_meta")),
        group=group if isinstance(group, str) else None,
        attached_node=attached if isinstance(attached, str) else None,
        depends_on=tuple(d for d in depends if isinstance(d, str)) if isinstance(depends, list) else (),
    )


def _node_from_struct(uid: str, raw: Any) -> NodeInfo:
    """``_node`` for the msgspec path: attribute access, a third of the time of ``field_of``."""
    config, depends_on, name, kind = raw.config, raw.depends_on, raw.name, raw.resource_type
    depends = depends_on.nodes if depends_on is not None else None
    group = raw.group or (config.group if config is not None else None)
    return NodeInfo(
        unique_id=uid,
        name=name if isinstance(name, str) and name else node_name(uid),
        resource_type=kind if isinstance(kind, str) and kind else uid.split(".", 1)[0],
        original_file_path=str(raw.original_file_path or ""),
        config_meta=_dict(config.meta if config is not None else None),
        meta=_dict(raw.meta),
        source_meta=_dict(raw.source_meta),
        group=group if isinstance(group, str) else None,
        attached_node=raw.attached_node if isinstance(raw.attached_node, str) else None,
        depends_on=tuple(d for d in depends if isinstance(d, str)) if isinstance(depends, list) else (),
    )


# --- run_results.json and sources.json ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NodeResult:
    """One node's entry in ``run_results.json`` (or a source's in ``sources.json``)."""

    unique_id: str
    status: str  # success, error, fail, runtime error, skipped, pass, warn, ...
    message: str
    failures: int | None  # a test's failing rows
    is_source_freshness: bool  # a ``dbt source freshness`` result (it has ``max_loaded_at``)

    @property
    def name(self) -> str:
        """The node's name (``node_name`` of its unique id)."""
        return node_name(self.unique_id)


@dataclass(frozen=True, slots=True)
class RunResults:
    """The node results of one dbt invocation, in the file's order."""

    path: Path
    results: tuple[NodeResult, ...]
    generated_at: datetime | None  # metadata.generated_at, timezone-aware
    invocation_id: str | None

    @property
    def failed(self) -> tuple[NodeResult, ...]:
        """The failed nodes: errors first, then runtime errors, then failed tests (file order within)."""
        failed = [r for r in self.results if r.status in FAILED_STATUSES]
        return tuple(sorted(failed, key=lambda r: FAILED_STATUSES.index(r.status)))

    @property
    def skipped(self) -> tuple[NodeResult, ...]:
        """The nodes dbt skipped (downstream of a failure), in the file's order."""
        return tuple(r for r in self.results if r.status == "skipped")


def read_results(path: Path, *, root: Path | None, root_label: str = "DBT_PROJECT_DIR") -> RunResults:
    """``run_results.json`` or ``sources.json`` at ``path``, which must resolve inside ``root``.

    ``root=None`` reads ``path`` as given (a file the user named). Raises PathRefused outside the
    root, FileNotFoundError when it is not there, ArtifactTooBig over the size limit, SourceError
    when it is not a dbt results file.
    """
    real = inside(root, path, label=root_label) if root is not None else path
    instead = "Failed nodes are looked for without it."
    too_big(real, real.stat().st_size, instead=instead, artifact=path.name)
    try:
        doc = json.loads(_read(real, instead=instead, artifact=path.name))
        entries = doc["results"]
        metadata = doc.get("metadata") or {}
        if not isinstance(entries, list) or not isinstance(metadata, dict):
            raise TypeError("'results' is not a list or 'metadata' not an object")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SourceError(f"{path} is not a dbt {path.name}: {exc}") from exc
    invocation = metadata.get("invocation_id")
    return RunResults(
        path=real,
        results=tuple(_result(r) for r in entries if isinstance(r, dict) and isinstance(r.get("unique_id"), str)),
        generated_at=_aware(metadata.get("generated_at")),
        invocation_id=invocation if isinstance(invocation, str) else None,
    )


def _result(raw: dict[str, Any]) -> NodeResult:
    failures = raw.get("failures")
    return NodeResult(
        unique_id=raw["unique_id"],
        status=str(raw.get("status") or ""),
        message=str(raw.get("message") or ""),
        failures=failures if isinstance(failures, int) and not isinstance(failures, bool) else None,
        is_source_freshness="max_loaded_at" in raw,
    )


def _aware(text: object) -> datetime | None:
    """An ISO timestamp as an aware datetime (dbt writes UTC; a naive one is taken as UTC)."""
    if not isinstance(text, str):
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
