"""Reading a dbt artifact without letting its size decide our memory.

``json.loads`` of a manifest takes several times the file's size in memory, so an artifact over
its limit is refused by ``stat()`` before it is read, and the read itself stops at the limit in
case the file grew meanwhile. One policy for every service that reads a dbt artifact.
"""

from __future__ import annotations

import os
from pathlib import Path

from shared.errors import SourceError

# A 10,000-model project's manifest is ~20-100 MB; run_results.json and sources.json are far smaller.
MAX_MANIFEST_BYTES = 256 * 1024 * 1024
_MB = 1024 * 1024


class ArtifactTooBig(SourceError):
    """Raised when a dbt artifact is over its size limit (it is not read, or not read further)."""


def refuse_oversized(
    path: Path, size: int, *, limit: int, setting: str, instead: str, artifact: str = "manifest.json"
) -> None:
    """Raise ArtifactTooBig when an artifact of ``size`` bytes is over ``limit``, saying what to do.

    ``setting`` names where the limit lives; ``instead`` says what the caller does without it;
    ``artifact`` is the file dbt writes (``manifest.json``, ``run_results.json``, ...).
    """
    if size > limit:
        which = (
            "the manifest dbt wrote for this project (dbt parse regenerates it)"
            if artifact == "manifest.json"
            else f"the {artifact} dbt wrote for this project"
        )
        raise ArtifactTooBig(
            f"dbt's {artifact} over {limit // _MB} MB: not read; {path} is {size / _MB:,.0f} MB "
            f"(limit {limit // _MB} MB, {setting}). {instead} Check that it is {which}; "
            "if the project really is this large, raise the limit"
        )


def read_at_most(path: Path, *, limit: int, setting: str, instead: str, artifact: str = "manifest.json") -> bytes:
    """The file's bytes, reading no more than ``limit`` allows even if it grew since ``stat()``.

    The buffer is sized by the file, not by the limit: ``read(limit + 1)`` would allocate 256 MB
    for every small artifact.
    """
    with path.open("rb") as stream:
        want = min(os.fstat(stream.fileno()).st_size, limit) + 1
        raw = stream.read(want)
        if len(raw) == want:  # it grew since fstat (or is over the limit): read on, still bounded
            raw += stream.read(limit + 1 - len(raw))
    refuse_oversized(path, len(raw), limit=limit, setting=setting, instead=instead, artifact=artifact)
    return raw
