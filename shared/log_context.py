"""The incident a worker is busy with, on every log line it writes meanwhile.

A task's incident is bound when it starts (``shared.worker_boot`` reads it from the task's
arguments with ``incident_id_of``) and unbound when it ends; the triage task, whose trigger has no
id yet, binds it itself with ``bind_incident`` once the incident is opened. ``IncidentIdFilter``,
installed on the worker's log handlers, writes it into every record as ``incident_id`` ("-" when
there is none), so no log call has to pass it with ``extra=``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from typing import Any

from shared.contracts import INCIDENT_ID

NO_INCIDENT = "-"

_current: ContextVar[str | None] = ContextVar("incident_id", default=None)


def bind_incident(incident_id: str | None) -> None:
    """Tag the log lines of the running task with ``incident_id`` until it ends (None, or anything
    that is not an incident id, untags them)."""
    _current.set(incident_id if isinstance(incident_id, str) and INCIDENT_ID.fullmatch(incident_id) else None)


def current_incident() -> str | None:
    """The incident bound in this context, if any."""
    return _current.get()


def incident_id_of(args: Sequence[Any] | None, kwargs: Mapping[str, Any] | None) -> str | None:
    """The incident a task's arguments are about: an ``incident_id`` keyword, an id as the first
    argument (the commander's tasks), or an Incident as the first argument (the specialists').
    None for anything else (the triage task's Trigger has no id yet)."""
    candidates: list[Any] = [(kwargs or {}).get("incident_id")]
    if args:
        first = args[0]
        candidates.append(first.get("incident_id") if isinstance(first, Mapping) else first)
    for candidate in candidates:
        if isinstance(candidate, str) and INCIDENT_ID.fullmatch(candidate):
            return candidate
    return None


class IncidentIdFilter(logging.Filter):
    """Sets ``record.incident_id`` to the bound incident ("-" when none); never drops a record.

    An ``incident_id`` passed with ``extra=`` is kept."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "incident_id", None):
            record.incident_id = _current.get() or NO_INCIDENT
        return True


INCIDENT_ID_FILTER = IncidentIdFilter()


def install(handler: logging.Handler) -> None:
    """Add the filter to ``handler`` (once, however often a worker sets its logging up)."""
    handler.addFilter(INCIDENT_ID_FILTER)
