"""A local spool of triggers the broker could not take, so that nothing is lost.

One JSON file per trigger, written atomically (temp file, then rename), named so that a
directory listing is oldest first. ``flush`` sends them in order and deletes each once sent;
one flusher at a time (an advisory lock), so two Airflow tasks do not send the same file twice.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class FlushResult:
    sent: int
    remaining: int
    error: str | None = None


def write(payload: dict[str, Any], spool_dir: Path) -> Path:
    """Persist ``payload`` in the spool; returns its path."""
    spool_dir.mkdir(parents=True, exist_ok=True)
    name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:12]}.json"
    tmp = spool_dir / f".{name}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(payload, fh)
        fh.flush()
        os.fsync(fh.fileno())
    final = spool_dir / name
    os.replace(tmp, final)
    return final


def pending(spool_dir: Path) -> list[Path]:
    """Spooled triggers, oldest first."""
    if not spool_dir.is_dir():
        return []
    return sorted(p for p in spool_dir.glob("*.json") if not p.name.startswith("."))


def flush(spool_dir: Path, send: Callable[[dict[str, Any]], None], *, limit: int = 1_000) -> FlushResult:
    """Send up to ``limit`` spooled triggers; stop at the first that fails to send."""
    with _exclusive(spool_dir) as locked:
        if not locked:
            return FlushResult(sent=0, remaining=len(pending(spool_dir)), error="another flush is running")
        sent = 0
        for path in pending(spool_dir)[:limit]:
            try:
                payload = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                _quarantine(path)
                return FlushResult(sent=sent, remaining=len(pending(spool_dir)),
                                   error=f"unreadable spool file {path.name} moved aside: {exc}")
            try:
                send(payload)
            except Exception as exc:
                return FlushResult(sent=sent, remaining=len(pending(spool_dir)), error=str(exc))
            path.unlink(missing_ok=True)
            sent += 1
        return FlushResult(sent=sent, remaining=len(pending(spool_dir)))


def _quarantine(path: Path) -> None:
    path.rename(path.with_suffix(".bad"))


@contextmanager
def _exclusive(spool_dir: Path) -> Iterator[bool]:
    spool_dir.mkdir(parents=True, exist_ok=True)
    with open(spool_dir / ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
