"""Chaos testing: make a service misbehave on purpose (``INCIDENT_FAULT_INJECTION``). Never set in production.

The setting is a comma-separated list of ``service:mode``:

- ``log_analyzer:raise`` (any specialist): raise inside the specialist;
- ``log_analyzer:kill``: SIGKILL its own process on every attempt; ``kill-once``: on the first;
- ``query_profiler:sleep=30``: sleep that many seconds (to hit the soft time limit);
- ``commander:kill-after-post``: SIGKILL the commander right after Slack accepted the top-level
  post and before the message's ts is stored (once per incident).
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any


def inject(service: str, point: str, *, spec: str | None, key: str = "", store: Any = None, attempt: int = 0) -> None:
    """Misbehave as ``spec`` says for ``service`` at ``point``; a no-op unless it is named."""
    if not spec:
        return
    for item in spec.split(","):
        name, _, mode = item.strip().partition(":")
        if name != service:
            continue
        if point == "run":
            _specialist_fault(name, mode, attempt)
        elif mode == point == "kill-after-post" and store is not None and store.once(f"fault:{point}:{key}"):
            os.kill(os.getpid(), signal.SIGKILL)


def _specialist_fault(name: str, mode: str, attempt: int) -> None:
    if mode == "raise":
        raise RuntimeError(f"fault injected into {name}")
    if mode == "kill" or (mode == "kill-once" and attempt == 0):
        os.kill(os.getpid(), signal.SIGKILL)
    if mode.startswith("sleep="):
        time.sleep(float(mode.split("=", 1)[1]))
