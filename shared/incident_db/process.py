"""This process's history store: built on first use, never at import."""

from __future__ import annotations

import functools

from shared.incident_db.migrate import upgrade
from shared.incident_db.store import IncidentDB, open_store


@functools.cache
def history_db(url: str) -> IncidentDB:
    """The history store at ``url``, migrated once per process, then opened."""
    upgrade(url)
    return open_store(url)
