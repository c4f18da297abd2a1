"""The store's statements inside one transaction: insert-if-absent, conditional updates, row to record.

Every insert is ``INSERT ... ON CONFLICT DO NOTHING`` on the row's unique key (SQLite and
PostgreSQL spell it alike), so two writers racing, or a task retried, add one row, not two.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import case, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from shared.incident_db.engine import IncidentNotFound, StoreError
from shared.incident_db.models import (
    INCIDENT_SEQUENCE,
    EventRow,
    IncidentRow,
    MemberRow,
    SequenceRow,
    UTCDateTime,
    utc_now,
)
from shared.incident_db.records import (
    EventKind,
    IncidentStatus,
    IncidentSummary,
    Joined,
    Member,
    NewIncident,
    NewMember,
)


def insert_incident(session: Session, incident: NewIncident, member: NewMember) -> bool:
    """Insert the incident with the next sequence number; False when another writer inserted it first
    (that number is then skipped: numbers are never given twice, gaps are allowed)."""
    sequence = session.scalar(
        update(SequenceRow)
        .where(SequenceRow.name == INCIDENT_SEQUENCE)
        .values(value=SequenceRow.value + 1)
        .returning(SequenceRow.value)
    )
    if sequence is None:
        raise StoreError("the incident database has no incident sequence: run `incident-commander db upgrade`")
    values = {
        "id": incident.incident_id,
        "sequence": sequence,
        "fingerprint": incident.fingerprint,
        "status": IncidentStatus.OPEN.value,
        "opened_at": incident.opened_at,
        "updated_at": incident.opened_at,
        "channel": incident.channel,
        "ts": incident.ts,
        "root_cause": incident.root_cause,
        "error_class": incident.error_class,
        "key_object": incident.key_object,
        "failed_node": incident.failed_node,
        "owner": incident.owner,
        "dag_id": member.dag_id,
        "task_id": member.task_id,
        "member_count": 0,
    }
    return insert_if_absent(session, IncidentRow, values, unique=IncidentRow.id)


# Two recordings of one incident carry the same opened_at (read from Redis each time); an id recorded
# again with an opening further apart than this is another incident that was given the same id.
SAME_OPENING_S = 5.0


@dataclass(frozen=True)
class Collision:
    """An id recorded again for another incident: what the timeline says, and what the error says."""

    detail: dict[str, Any]
    digest: str  # of the other incident: one entry per other incident, however often it is retried
    message: str


def id_collision(session: Session, incident: NewIncident, member: NewMember) -> Collision | None:
    """None when ``incident`` (with its first failure ``member``) is the incident recorded under its id (a
    retry); else what tells the two apart. The recorded first failure is the ``opened`` entry's, or the
    row's DAG and task for a row written without one."""
    row = session.get(IncidentRow, incident.incident_id)
    assert row is not None  # called once the id is known to be recorded
    opened = session.scalar(select(EventRow.detail).where(EventRow.key == f"{incident.incident_id}:opened"))
    recorded_key = (opened or {}).get("dedup_key")
    if recorded_key is not None:
        same_failure = recorded_key == member.dedup_key
    else:
        same_failure = (row.dag_id, row.task_id) == (member.dag_id, member.task_id)
    opened_at = _aware(incident.opened_at)
    apart_s = abs((row.opened_at - opened_at).total_seconds())
    if same_failure and apart_s <= SAME_OPENING_S:
        return None
    recorded = {
        "dedup_key": recorded_key,
        "dag_id": row.dag_id,
        "task_id": row.task_id,
        "opened_at": row.opened_at.isoformat(),
        "channel": row.channel,
        "ts": row.ts,
    }
    other = {
        "dedup_key": member.dedup_key,
        "dag_id": member.dag_id,
        "task_id": member.task_id,
        "run_id": member.run_id,
        "opened_at": opened_at.isoformat(),
        "channel": incident.channel,
        "ts": incident.ts,
    }
    digest = hashlib.sha256(f"{member.dedup_key}\n{opened_at.isoformat()}".encode()).hexdigest()[:24]
    where = f", its Slack message {incident.channel} {incident.ts}" if incident.ts else ""
    message = (
        f"incident id {incident.incident_id} given to two incidents: the history holds it for "
        f"{recorded_key or f'{row.dag_id}.{row.task_id}'} (opened {row.opened_at.isoformat()}), and it was "
        f"given again to {member.dedup_key} (opened {opened_at.isoformat()}{where}); not merged: the second "
        "is recorded only on the first's timeline (a reconciled entry). Redis lost its id counter "
        "(README: Incident history)"
    )
    return Collision(
        detail={"id_collision": True, "recorded": recorded, "other": other}, digest=digest, message=message
    )


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def join_member(session: Session, incident_id: str, member: NewMember, *, at: datetime | None = None) -> Joined:
    """Add the failure to the incident unless it is a member already (of this incident or another);
    the incident's ``updated_at`` moves to ``at`` (default now: when it joined)."""
    now = utc_now()
    values = {
        "incident_id": incident_id,
        "dedup_key": member.dedup_key,
        "dag_id": member.dag_id,
        "task_id": member.task_id,
        "run_id": member.run_id,
        "try_number": member.try_number,
        "map_index": member.map_index,
        "failed_at": member.failed_at,
        "trigger": member.trigger,
        "findings": member.findings,
        "joined_at": now,
    }
    if insert_if_absent(session, MemberRow, values, unique=MemberRow.dedup_key):
        update_incident(session, incident_id, None, {"member_count": IncidentRow.member_count + 1}, at=at or now)
        return Joined(incident_id=incident_id, is_new=True)
    owner = session.scalar(select(MemberRow.incident_id).where(MemberRow.dedup_key == member.dedup_key))
    return Joined(incident_id=owner or incident_id, is_new=False)


def add_event(
    session: Session,
    incident_id: str,
    kind: EventKind,
    detail: dict[str, Any] | None,
    *,
    key: str | None = None,
    at: datetime | None = None,
) -> bool:
    when = at or utc_now()
    values = {"incident_id": incident_id, "at": when, "kind": kind.value, "key": key, "detail": detail}
    added = insert_if_absent(session, EventRow, values, unique=EventRow.key)
    if added:
        session.execute(
            update(IncidentRow)
            .where(IncidentRow.id == incident_id, IncidentRow.updated_at < literal(when, UTCDateTime()))
            .values(updated_at=when)
        )
    return added


def insert_if_absent(session: Session, model: Any, values: dict[str, Any], *, unique: Any) -> bool:
    """INSERT ... ON CONFLICT (unique) DO NOTHING, on SQLite or PostgreSQL; True when the row was inserted."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(model).values(**values).on_conflict_do_nothing(index_elements=[unique.key])
    return session.execute(statement.returning(unique)).first() is not None


def update_incident(
    session: Session, incident_id: str, condition: Any, values: dict[str, Any], *, at: datetime | None = None
) -> bool:
    """Update the incident (and its ``updated_at``) where ``condition`` holds; True when it changed.
    IncidentNotFound when there is no such incident."""
    statement = update(IncidentRow).where(IncidentRow.id == incident_id)
    if condition is not None:
        statement = statement.where(condition)
    later = literal(at or utc_now(), UTCDateTime())
    updated_at = case((IncidentRow.updated_at < later, later), else_=IncidentRow.updated_at)
    result = session.execute(statement.values(**values, updated_at=updated_at).returning(IncidentRow.id))
    if result.first() is not None:
        return True
    require_incident(session, incident_id)
    return False


def require_incident(session: Session, incident_id: str) -> None:
    if session.get(IncidentRow, incident_id) is None:
        raise IncidentNotFound(f"no incident {incident_id} in the incident history")


def to_summary(row: IncidentRow) -> IncidentSummary:
    return IncidentSummary(
        id=row.id,
        sequence=row.sequence,
        fingerprint=row.fingerprint,
        status=IncidentStatus(row.status),
        opened_at=row.opened_at,
        updated_at=row.updated_at,
        resolved_at=row.resolved_at,
        resolution_note=row.resolution_note,
        channel=row.channel,
        ts=row.ts,
        root_cause=row.root_cause,
        error_class=row.error_class,
        key_object=row.key_object,
        failed_node=row.failed_node,
        owner=row.owner,
        dag_id=row.dag_id,
        task_id=row.task_id,
        member_count=row.member_count,
    )


def to_member(row: MemberRow) -> Member:
    return Member(
        dedup_key=row.dedup_key,
        dag_id=row.dag_id,
        task_id=row.task_id,
        run_id=row.run_id,
        try_number=row.try_number,
        map_index=row.map_index,
        failed_at=row.failed_at,
        joined_at=row.joined_at,
        trigger=row.trigger,
        findings=row.findings,
    )
