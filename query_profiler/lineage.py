"""The suspect model's direct upstream and downstream models, from dbt's ``target/manifest.json``.

The manifest is read through ``shared.dbt_artifacts`` (parsed once per file version per process,
refused unread over ``bounded_files.MAX_MANIFEST_BYTES``). A refused manifest, and one that is
there but unusable, is reported through ``notes`` so the finding can say why the profiler fell
back to the time window; no manifest at all (a parse-time dbt failure) is not a note.
"""

from __future__ import annotations

from pathlib import Path

from shared.bounded_files import ArtifactTooBig
from shared.dbt_artifacts import load_manifest
from shared.errors import SourceError

MANIFEST_RELATIVE_PATH = Path("target") / "manifest.json"
_INSTEAD = "Queries were matched by the time window, not the model's lineage."


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
        index = load_manifest(path, instead=_INSTEAD)
    except FileNotFoundError:
        return None
    except ArtifactTooBig as exc:
        _note(notes, str(exc))
        return None
    except SourceError as exc:
        _note(notes, f"dbt's manifest.json not used: {str(exc)[:300]}")
        return None
    except OSError as exc:
        _note(notes, f"dbt's manifest.json not read: {path}: {exc.strerror or type(exc).__name__}")
        return None
    except (ValueError, AttributeError, TypeError) as exc:  # there, but not shaped like a manifest
        _note(notes, f"dbt's manifest.json not used: {path}: {type(exc).__name__}: {str(exc)[:200]}")
        return None
    if not index.lineage_nodes(model):
        return None
    return index.neighbours(model)


def _note(notes: list[str] | None, text: str) -> None:
    if notes is not None:
        notes.append(text)
