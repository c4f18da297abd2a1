"""What goes into the incident history and what comes out: frozen, typed, JSON-ready.

The repository (``shared.incident_db.store``) takes ``NewIncident`` and ``NewMember`` and returns
``IncidentSummary``, ``Member``, ``Event`` and ``IncidentDetail``; no ORM object leaves it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from shared.contracts import Trigger, dump


class IncidentStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"
    SNOOZED = "snoozed"


class EventKind(StrEnum):
    """The kinds of timeline entries; stored as text, so a new kind needs no migration."""

    OPENED = "opened"
    POSTED = "posted"
    MEMBER_JOINED = "member_joined"
    REPEAT = "repeat"  # the same failure reported again (a duplicate callback, a redelivered task)
    REPORTED = "reported"  # the report replaced the opening message
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    SNOOZED = "snoozed"
    NOTE = "note"
    RECONCILED = "reconciled"  # rebuilt or corrected from another source (Redis, Slack)


@dataclass(frozen=True, kw_only=True)
class NewMember:
    """One failure to record: its dedup key (``Trigger.dedup_key``) makes recording it idempotent."""

    dedup_key: str
    dag_id: str
    task_id: str
    run_id: str
    try_number: int
    map_index: int = -1
    failed_at: datetime
    trigger: dict[str, Any] | None = None  # the trigger as sent (redacted by the contract)
    findings: dict[str, Any] | None = None  # a short summary: specialist -> {status, summary}

    @classmethod
    def from_trigger(cls, trigger: Trigger, *, findings: dict[str, Any] | None = None) -> NewMember:
        return cls(
            dedup_key=trigger.dedup_key,
            dag_id=trigger.dag_id,
            task_id=trigger.task_id,
            run_id=trigger.run_id,
            try_number=trigger.try_number,
            map_index=trigger.map_index,
            failed_at=trigger.failed_at,
            trigger=dump(trigger),
            findings=findings,
        )


@dataclass(frozen=True, kw_only=True)
class NewIncident:
    """An incident as opened: its id (allocated in Redis) and what is known of its cause so far."""

    incident_id: str
    opened_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    fingerprint: str | None = None
    channel: str | None = None
    ts: str | None = None
    root_cause: str | None = None
    error_class: str | None = None
    key_object: str | None = None
    failed_node: str | None = None
    owner: str | None = None


@dataclass(frozen=True)
class Joined:
    """Where a failure belongs: ``incident_id`` (this incident, or the one that already had it), and
    whether this call added it."""

    incident_id: str
    is_new: bool


@dataclass(frozen=True)
class Opened:
    """What ``record_opened`` did: whether the incident is new, and where its first failure belongs."""

    incident_id: str
    is_new: bool
    member: Joined


@dataclass(frozen=True, kw_only=True)
class IncidentSummary:
    """One row of ``incidents``."""

    id: str
    sequence: int
    fingerprint: str | None
    status: IncidentStatus
    opened_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    resolution_note: str | None
    channel: str | None
    ts: str | None
    root_cause: str | None
    error_class: str | None
    key_object: str | None
    failed_node: str | None
    owner: str | None
    dag_id: str
    task_id: str
    member_count: int

    def to_json(self) -> dict[str, Any]:
        return _json(self)


@dataclass(frozen=True, kw_only=True)
class Member:
    """One failure of an incident."""

    dedup_key: str
    dag_id: str
    task_id: str
    run_id: str
    try_number: int
    map_index: int
    failed_at: datetime
    joined_at: datetime
    trigger: dict[str, Any] | None
    findings: dict[str, Any] | None

    def to_json(self) -> dict[str, Any]:
        return _json(self)


@dataclass(frozen=True, kw_only=True)
class Event:
    """One entry of an incident's timeline."""

    at: datetime
    kind: str  # an EventKind value (kept as text: an older reader meets newer kinds)
    detail: dict[str, Any] | None

    def to_json(self) -> dict[str, Any]:
        return _json(self)


@dataclass(frozen=True, kw_only=True)
class IncidentDetail:
    """An incident with its members and its timeline, oldest first."""

    incident: IncidentSummary
    members: tuple[Member, ...]
    events: tuple[Event, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            **self.incident.to_json(),
            "members": [m.to_json() for m in self.members],
            "events": [e.to_json() for e in self.events],
        }


def _json(record: Any) -> dict[str, Any]:
    """A record as JSON-ready values: times in ISO 8601 (UTC), enums as their value."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(record):
        value = getattr(record, f.name)
        out[f.name] = value.isoformat() if isinstance(value, datetime) else value
    return out
