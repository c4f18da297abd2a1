"""Run a blocking read with a wall-clock deadline, so a stuck warehouse never holds the chord.

Driver time-outs (connect, statement) should fire first; this is the backstop for what they miss
(DNS, a TLS handshake that stalls, a driver retry loop). The worker thread is a daemon: if it is
still stuck it is abandoned, and the connection dies with the process or its own time-out.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from shared.errors import SourceUnavailable

T = TypeVar("T")


def call_with_deadline(fn: Callable[[], T], *, timeout_s: float, what: str = "warehouse") -> T:
    """``fn()``, or SourceUnavailable when it has not returned within ``timeout_s``."""
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["value"] = fn()
        except BaseException as exc:  # handed to the caller's thread below
            outcome["error"] = exc

    worker = threading.Thread(target=run, name="query-profiler-read", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        raise SourceUnavailable(f"{what} did not answer within {timeout_s:.0f} s")
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]
