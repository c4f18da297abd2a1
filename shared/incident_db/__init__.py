"""The durable incident history: every incident, its failures and its timeline, in SQL.

Redis keeps the hot path and forgets after ``INCIDENT_DEDUP_TTL_S``; this keeps the history, on an
embedded SQLite file by default (``.incident-commander/incidents.db``) or on PostgreSQL
(``INCIDENT_DB_URL=postgresql://...``). Nothing is built at import: ``upgrade(url)`` migrates the
schema (Alembic, this package's ``migrations``), ``open_store(url)`` gives the repository.

    models.py    the tables (SQLAlchemy 2.0 typed ORM)       records.py   what goes in and comes out
    engine.py    URL, engine, errors mapped to shared.errors  migrate.py   upgrade / current revision
    store.py     the repository (IncidentDB)                  rows.py      its statements in a transaction
"""

from shared.incident_db.engine import (
    STATEMENT_TIMEOUT_S,
    IdCollision,
    IncidentNotFound,
    StoreError,
    StoreUnavailable,
    describe,
)
from shared.incident_db.migrate import current_revision, head_revision, upgrade
from shared.incident_db.process import history_db
from shared.incident_db.records import (
    Event,
    EventKind,
    IncidentDetail,
    IncidentStatus,
    IncidentSummary,
    Joined,
    Member,
    NewIncident,
    NewMember,
    Opened,
)
from shared.incident_db.store import IncidentDB, open_store
from shared.settings import DEFAULT_DB_URL

__all__ = [
    "DEFAULT_DB_URL",
    "Event",
    "EventKind",
    "IncidentDB",
    "history_db",
    "IdCollision",
    "IncidentDetail",
    "IncidentNotFound",
    "IncidentStatus",
    "IncidentSummary",
    "Joined",
    "Member",
    "NewIncident",
    "NewMember",
    "Opened",
    "STATEMENT_TIMEOUT_S",
    "StoreError",
    "StoreUnavailable",
    "current_revision",
    "describe",
    "head_revision",
    "open_store",
    "upgrade",
]
