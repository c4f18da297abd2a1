"""Keep a file path built from untrusted text (a trigger's fields, a dbt project's files) inside its root.

``inside(root, candidate)`` resolves both (following symlinks, collapsing ``..``) and returns the
resolved candidate only when it lies inside the resolved root; otherwise it raises ``PathRefused``
(a ``SourceError``) with a one-line reason ("refused: /etc/passwd is outside AIRFLOW_LOG_FOLDER
(/opt/airflow/logs)"). Callers open the path it returns, never the text they were given.
"""

from __future__ import annotations

import os
from pathlib import Path

from shared.errors import SourceError


class PathRefused(SourceError):
    """Raised when a path built from untrusted text would leave its root (so it is not opened)."""


def inside(root: Path, candidate: Path, *, label: str | None = None) -> Path:
    """``candidate`` resolved, if it stays inside ``root``; else PathRefused saying why.

    A relative ``candidate`` is taken relative to ``root`` (never to the working directory).
    ``label`` names the root in the reason, e.g. ``"AIRFLOW_LOG_FOLDER"``.
    """
    where = f"{label} ({root})" if label else str(root)
    full = candidate if candidate.is_absolute() else root / candidate
    try:
        real_root = root.resolve()
        real = full.resolve()
    except (OSError, RuntimeError, ValueError) as exc:  # a symlink loop, a NUL byte, ...
        raise PathRefused(f"refused: {candidate} cannot be resolved inside {where}: {exc}") from exc
    if real.is_relative_to(real_root):
        return real
    lexical = Path(os.path.normpath(full.absolute()))
    if lexical.is_relative_to(Path(os.path.normpath(root.absolute()))):
        raise PathRefused(f"refused: {candidate} is a symlink (or under one) that points outside {where}")
    raise PathRefused(f"refused: {candidate} is outside {where}")
