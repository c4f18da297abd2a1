"""Reading a dbt artifact without letting its size decide our memory.

``json.loads`` of a manifest takes several times the file's size in memory, so an artifact over
its limit is refused by ``stat()`` before it is read, and the read itself stops at the limit in
case the file grew meanwhile. One policy for every service that reads a manifest.
"""

from __future__ import annotations

from pathlib import Path

from shared.errors import SourceError

# A 10,000-model project's manifest is ~20-100 MB.
MAX_MANIFEST_BYTES = 256 * 1024 * 1024
_MB = 1024 * 1024


def refuse_oversized(path: Path, size: int, *, limit: int, setting: str, instead: str) -> None:
    """Raise SourceError when a manifest of ``size`` bytes is over ``limit``, saying what to do.

    ``setting`` names where the limit lives; ``instead`` says what the caller does without it.
    """
    if size > limit:
        raise SourceError(
            f"dbt's manifest.json over {limit // _MB} MB: not read; {path} is {size / _MB:,.0f} MB "
            f"(limit {limit // _MB} MB, {setting}). {instead} Check that it is the manifest dbt wrote for "
            "this project (dbt parse regenerates it); if the project really is this large, raise the limit"
        )


def read_at_most(path: Path, *, limit: int, setting: str, instead: str) -> bytes:
    """The file's bytes, reading no more than ``limit`` allows even if it grew since ``stat()``."""
    with path.open("rb") as stream:
        raw = stream.read(limit + 1)
    refuse_oversized(path, len(raw), limit=limit, setting=setting, instead=instead)
    return raw
