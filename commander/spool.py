"""A local spool of triggers the broker could not take, so that nothing is lost.

One JSON file per trigger, written atomically (temp file, then rename), named so that a
directory listing is oldest first. ``flush`` sends them in order and deletes each once sent;
one flusher at a time (an advisory lock), so two Airflow tasks do not send the same file twice.

A trigger holds the failure's exception text and log location: the directory is created 0700 and
every file 0600, whatever the process umask (the mode is set on the open descriptor).
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
from typing import Any, TextIO

DIR_MODE = 0o700
FILE_MODE = 0o600


@dataclass(frozen=True)
class FlushResult:
    sent: int
    remaining: int
    error: str | None = None
    send_failed: bool = False  # the error is the broker's (not the lock or an unreadable file)


def write(payload: dict[str, Any], spool_dir: Path) -> Path:
    """Persist ``payload`` in the spool (a 0600 file); returns its path."""
    _ensure_dir(spool_dir)
    name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:12]}.json"
    tmp = spool_dir / f".{name}.tmp"
    with _open_private(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL) as fh:
        json.dump(payload, fh)
        fh.flush()
        os.fsync(fh.fileno())
    final = spool_dir / name
    os.replace(tmp, final)
    return final


def _ensure_dir(spool_dir: Path) -> None:
    """Create ``spool_dir`` 0700 if missing. An existing directory keeps the mode its owner gave it
    (it may be shared on purpose, e.g. by Airflow and the operator); the files in it are 0600 anyway."""
    try:
        spool_dir.mkdir(mode=DIR_MODE, parents=True)
    except FileExistsError:
        return
    os.chmod(spool_dir, DIR_MODE)  # mkdir's mode is filtered by the umask


def _open_private(path: Path, flags: int) -> TextIO:
    """``path`` opened for text writing, created 0600 (O_NOFOLLOW: never through a planted symlink)."""
    fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE)
    try:
        st = os.fstat(fd)
        if st.st_mode & 0o777 != FILE_MODE and st.st_uid == os.geteuid():
            os.fchmod(fd, FILE_MODE)  # os.open's mode is filtered by the umask
        return os.fdopen(fd, "w", encoding="utf-8")
    except BaseException:
        os.close(fd)
        raise


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
                return FlushResult(
                    sent=sent,
                    remaining=len(pending(spool_dir)),
                    error=f"unreadable spool file {path.name} moved aside: {exc}",
                )
            try:
                send(payload)
            except Exception as exc:
                return FlushResult(sent=sent, remaining=len(pending(spool_dir)), error=str(exc), send_failed=True)
            path.unlink(missing_ok=True)
            sent += 1
        return FlushResult(sent=sent, remaining=len(pending(spool_dir)))


def _quarantine(path: Path) -> None:
    path.rename(path.with_suffix(".bad"))


@contextmanager
def _exclusive(spool_dir: Path) -> Iterator[bool]:
    _ensure_dir(spool_dir)
    with _open_private(spool_dir / ".lock", os.O_WRONLY | os.O_CREAT) as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
