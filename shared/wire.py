"""Bounded decoding of every message a worker takes off the broker, and what happens to one that breaks it.

A valid-JSON message nested a few hundred levels deep decodes fine, then kills the worker's
*main* process: Celery pickles the decoded arguments to hand them to a pool process, pickle
recurses once per level and raises RecursionError outside any task. ``acks_late`` then puts the
message back, and every restart dies on it again (seen with a trigger whose ``context`` was
nested 500 deep). So the limits are applied in the decoder, before anything recursive touches
the message:

- ``MAX_MESSAGE_BYTES``: a body larger than this is not decoded at all;
- ``MAX_DEPTH``: arrays and objects nested deeper than this are refused (a linear scan of the
  text, strings skipped, before ``json.loads``).

Breaking either raises ``MessageRejected`` from the decoder. kombu wraps it in ``DecodeError``;
Celery's consumer then calls ``on_decode_error``, which acknowledges the message (it is never
redelivered). ``RecordingConsumer`` adds what an operator needs: one log line without the body,
and a trimmed entry in ``incident-commander failures``.

``install()`` replaces kombu's ``json`` codec in this process (encoding is unchanged), so the
same limits guard task messages and the results a chord callback reads back.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from celery.worker.consumer import Consumer
from kombu.serialization import registry
from kombu.utils import json as kombu_json

from shared.errors import MessageRejected

log = logging.getLogger(__name__)

# A trigger is a few KB; a chord callback carries one finding per specialist, each at most a few tens
# of KB (summary 1,000 characters, 50 evidence lines of 2,000): room for dozens of specialists.
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
# Celery's own envelope (chord callbacks, errbacks, options) nests about 12 levels; findings add a few.
MAX_DEPTH = 64

# A string, or an unclosed one up to the end: without the \Z fallback every unclosed quote made
# the scan run to the end again (quadratic: 60 KB of 'x\"' took 23 s).
_STRING = re.compile(r'"(?:[^"\\]|\\.)*(?:"|\Z)', re.S)
_BRACKET = re.compile(r"[\[\]{}]")


def check_shape(text: str | bytes, *, max_bytes: int = MAX_MESSAGE_BYTES, max_depth: int = MAX_DEPTH) -> None:
    """Raise MessageRejected unless ``text`` is at most ``max_bytes`` long and ``max_depth`` deep."""
    if len(text) > max_bytes:
        raise MessageRejected(f"message of {len(text):,} bytes is over the {max_bytes:,}-byte limit")
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    depth = deepest = 0
    for match in _BRACKET.finditer(_STRING.sub('""', text)):
        if match.group() in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > max_depth:
                    raise MessageRejected(f"message nested deeper than {max_depth} levels")
        else:
            depth -= 1


def check_value(value: Any, *, max_depth: int = MAX_DEPTH, max_items: int = 100_000) -> None:
    """Raise MessageRejected if an already-decoded value (message headers) is nested deeper than
    ``max_depth`` or holds more than ``max_items`` containers and scalars. Iterative: no recursion."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    seen = 0
    while stack:
        item, depth = stack.pop()
        seen += 1
        if seen > max_items:
            raise MessageRejected(f"headers hold more than {max_items:,} values")
        if isinstance(item, dict | list | tuple):
            if depth > max_depth:
                raise MessageRejected(f"headers nested deeper than {max_depth} levels")
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)


def bounded_loads(text: str | bytes) -> Any:
    """kombu's JSON decoder behind ``check_shape``."""
    check_shape(text)
    return kombu_json.loads(text)


def install() -> None:
    """Make this process's ``json`` codec the bounded one (idempotent)."""
    registry.register(
        "json", kombu_json.dumps, bounded_loads, content_type="application/json", content_encoding="utf-8"
    )


class RecordingConsumer(Consumer):
    """Celery's consumer, but a message that cannot be decoded is also recorded for an operator.

    Celery already acknowledges such a message (no redelivery loop); its own log line dumps the
    body, which may hold secrets or megabytes, so it is replaced by one line naming the task.
    The headers are checked too: the transport decodes them without our codec, and Celery
    pickles them for the pool just like the arguments.
    """

    def create_task_handler(self, *args: Any, **kwargs: Any) -> Any:
        handler = super().create_task_handler(*args, **kwargs)

        def on_task_received(message: Any) -> Any:
            try:
                check_value(getattr(message, "headers", None))
                check_value(getattr(message, "properties", None))
            except MessageRejected as exc:
                return self.on_decode_error(message, exc)
            return handler(message)

        return on_task_received

    def on_decode_error(self, message: Any, exc: Exception) -> None:
        headers = message.headers if isinstance(getattr(message, "headers", None), dict) else {}
        task = str(headers.get("task", "?"))[:200]
        task_id = str(headers.get("id", "?"))[:200]
        size = len(message.body or b"")
        reason = f"{type(exc).__name__}: {str(exc)[:300]}"
        log.error(
            "rejected a message for %s[%s] (%d bytes): %s; acknowledged, not redelivered", task, task_id, size, reason
        )
        try:
            message.ack()
        finally:
            _record_rejection(task=task, task_id=task_id, size=size, reason=reason)


def _record_rejection(*, task: str, task_id: str, size: int, reason: str) -> None:
    try:
        from shared.runtime import get_store

        get_store().record_failure(
            what=f"message for {task} rejected before decoding",
            reason=reason,
            payload={"task_id": task_id, "bytes": size},
        )
    except Exception:  # the message is acked either way; the log line above still says what happened
        log.exception("could not record the rejected message %s", task_id)
