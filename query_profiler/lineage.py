"""The suspect model's direct upstream and downstream models, from dbt's ``target/manifest.json``.

A manifest over ``MAX_MANIFEST_BYTES`` is not read (size checked with ``stat()`` first, the read
stopped at the limit): ``json.loads`` of it would take several times its size in memory. That, and a
manifest that is there but unusable, is reported through ``notes`` so the finding can say why the
profiler fell back to the time window; no manifest at all (a parse-time dbt failure) is not a note.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

from query_profiler.attribution import name_from_node_id
from shared import bounded_files
from shared.errors import SourceError

MANIFEST_RELATIVE_PATH = Path("target") / "manifest.json"
MAX_MANIFEST_BYTES = bounded_files.MAX_MANIFEST_BYTES  # read at call time, so it can be lowered
_LIMIT = "query_profiler/lineage.py MAX_MANIFEST_BYTES"
_INSTEAD = "Queries were matched by the time window, not the model's lineage."
_LINEAGE_RESOURCES = ("model.", "snapshot.", "seed.")


@dataclass(frozen=True)
class _Lineage:
    nodes_by_name: dict[str, tuple[str, ...]]
    parent_map: dict[str, list[str]]
    child_map: dict[str, list[str]]


def related_models(
    dbt_project_dir: Path | None, model: str | None, *, notes: list[str] | None = None
) -> frozenset[str] | None:
    """Names of the models one hop up and down from ``model``; None when there is no usable manifest.

    A parse-time dbt failure writes no manifest: then the profiler falls back to the time window.
    When a manifest is there but not used (over the size limit, not JSON), why is appended to ``notes``.
    """
    if dbt_project_dir is None or not model:
        return None
    path = dbt_project_dir / MANIFEST_RELATIVE_PATH
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        _note(notes, f"dbt's manifest.json not read: {path}: {exc.strerror or type(exc).__name__}")
        return None
    try:
        too_big(path, stat.st_size)
        lineage = _load(str(path), stat.st_mtime_ns, stat.st_size)
    except SourceError as exc:
        _note(notes, str(exc))
        return None
    except (OSError, ValueError, AttributeError, TypeError) as exc:  # there, but not a manifest
        _note(notes, f"dbt's manifest.json not used: {path}: {type(exc).__name__}: {str(exc)[:200]}")
        return None
    nodes = lineage.nodes_by_name.get(model, ())
    if not nodes:
        return None
    neighbours = {n for node in nodes for n in (*lineage.parent_map.get(node, ()), *lineage.child_map.get(node, ()))}
    return frozenset(name_from_node_id(n) for n in neighbours if n.startswith(_LINEAGE_RESOURCES)) - {model}


def too_big(path: Path, size: int) -> None:
    """Raise SourceError when a manifest of ``size`` bytes is over the limit, saying what to do."""
    bounded_files.refuse_oversized(path, size, limit=MAX_MANIFEST_BYTES, setting=_LIMIT, instead=_INSTEAD)


def _note(notes: list[str] | None, text: str) -> None:
    if notes is not None:
        notes.append(text)


@functools.lru_cache(maxsize=4)
def _load(path: str, mtime_ns: int, size: int) -> _Lineage:
    """Parse a manifest once per file version (path, mtime, size) in this process."""
    raw = bounded_files.read_at_most(Path(path), limit=MAX_MANIFEST_BYTES, setting=_LIMIT, instead=_INSTEAD)
    manifest = json.loads(raw)
    by_name: dict[str, list[str]] = {}
    for node_id, node in manifest.get("nodes", {}).items():
        if node_id.startswith(_LINEAGE_RESOURCES):
            by_name.setdefault(node.get("name"), []).append(node_id)
    return _Lineage(nodes_by_name={k: tuple(v) for k, v in by_name.items()},
                    parent_map=manifest.get("parent_map", {}), child_map=manifest.get("child_map", {}))
