"""This process's history store: built on first use, never at import."""

from __future__ import annotations

import functools

from shared.incident_db.engine import STATEMENT_TIMEOUT_S
from shared.incident_db.migrate import upgrade
from shared.incident_db.store import IncidentDB, open_store


@functools.cache
def history_db(url: str) -> IncidentDB:
    """The history store at ``url``, migrated once per process (every statement bounded), then opened.
    A database that does not answer raises (StoreUnavailable) and is tried again on the next call."""
    upgrade(url, statement_timeout_s=STATEMENT_TIMEOUT_S)
    return open_store(url)
