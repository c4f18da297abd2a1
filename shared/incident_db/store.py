"""The incident history's repository: every write idempotent, every read a frozen record.

Redis keeps the hot path (claims, once-markers, locks, the event stream); this store keeps what
must outlive Redis: every incident, its members (failures) and its timeline. It is written off the
critical path, so nothing here may delay a Slack post: a caller that cannot reach the database
records the failure and moves on (``StoreUnavailable`` is retryable, ``StoreError`` is not).

Idempotent by construction, so a retried Celery task changes nothing the second time:
an incident is keyed by its id, a member by its dedup key (a failure belongs to exactly one
incident), a timeline entry by its optional ``key``; ``set_posted`` and ``resolve`` write (and add
their event) only when they change something. An id recorded again for another incident (Redis gave it
out twice) is never merged into the first: ``record_opened`` raises IdCollision and says so on its timeline.

Reads run in read-only transactions (SQLite: ``BEGIN DEFERRED``): they never wait for a writer.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Engine, Integer, cast, func, select
from sqlalchemy.orm import selectinload, sessionmaker

from shared.contracts import INCIDENT_ID
from shared.incident_db import rows
from shared.incident_db.engine import READ_ONLY, STATEMENT_TIMEOUT_S, IdCollision, make_engine, translated
from shared.incident_db.models import IncidentRow, MemberRow, utc_now
from shared.incident_db.records import (
    Event,
    EventKind,
    IncidentDetail,
    IncidentStatus,
    IncidentSummary,
    Joined,
    NewIncident,
    NewMember,
    Opened,
)

_ID_NUMBER_AT = len("INC-YYYYMMDD-") + 1  # 1-based position of NNNN in an incident id


def open_store(url: str, *, statement_timeout_s: float | None = STATEMENT_TIMEOUT_S) -> IncidentDB:
    """The history at ``url`` (``INCIDENT_DB_URL``). Connects on first use; a SQLite file must exist
    (``migrate.upgrade`` creates and migrates it), else StoreError saying so. Every wait is bounded
    (``engine``: connecting, a writer's lock, ``statement_timeout_s`` per statement)."""
    return IncidentDB(make_engine(url, create_file=False, statement_timeout_s=statement_timeout_s), url=url)


class IncidentDB:
    """The incident history on one database. Build it with ``open_store``; ``close`` it when done."""

    def __init__(self, engine: Engine, *, url: str) -> None:
        self._engine = engine
        self._url = url
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._reads = sessionmaker(engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False)

    def close(self) -> None:
        self._engine.dispose()

    # -- writes -----------------------------------------------------------------------------------
    def record_opened(self, incident: NewIncident, member: NewMember) -> Opened:
        """Record an incident as opened with its first failure; again (a retry) changes nothing.

        A new incident takes the next ``sequence`` and an ``opened`` entry. When the failure already
        belongs to another incident (Redis lost its claim and a redelivered trigger was opened again),
        it stays there: ``Opened.member.incident_id`` names that incident, and a ``reconciled`` entry says so.

        When the id is recorded already for another incident (another first failure, or opened more than
        ``rows.SAME_OPENING_S`` apart: Redis gave the id out twice), nothing is merged: a ``reconciled``
        entry on the recorded incident describes the other one (its failure, its Slack message), and
        IdCollision (permanent) names both.
        """
        if not INCIDENT_ID.fullmatch(incident.incident_id):
            raise ValueError(f"not an incident id: {incident.incident_id!r}")
        with translated(self._url), self._sessions.begin() as session:
            is_new = session.get(IncidentRow, incident.incident_id) is None and rows.insert_incident(
                session, incident, member
            )
            collision = None if is_new else rows.id_collision(session, incident, member)
            if collision is not None:
                rows.add_event(
                    session,
                    incident.incident_id,
                    EventKind.RECONCILED,
                    collision.detail,
                    key=f"{incident.incident_id}:collision:{collision.digest}",
                )
            else:
                opened = self._opened(session, incident, member, is_new=is_new)
        if collision is not None:  # raised once the entry is committed
            raise IdCollision(collision.message)
        return opened

    @staticmethod
    def _opened(session: Any, incident: NewIncident, member: NewMember, *, is_new: bool) -> Opened:
        if is_new:
            rows.add_event(
                session,
                incident.incident_id,
                EventKind.OPENED,
                {"dedup_key": member.dedup_key, "fingerprint": incident.fingerprint},
                key=f"{incident.incident_id}:opened",
                at=incident.opened_at,
            )
        joined = rows.join_member(session, incident.incident_id, member, at=incident.opened_at)
        if joined.incident_id != incident.incident_id:
            rows.add_event(
                session,
                incident.incident_id,
                EventKind.RECONCILED,
                {"dedup_key": member.dedup_key, "member_of": joined.incident_id},
                key=f"{incident.incident_id}:member-elsewhere:{member.dedup_key}",
            )
        return Opened(incident_id=incident.incident_id, is_new=is_new, member=joined)

    def add_member(self, incident_id: str, member: NewMember) -> Joined:
        """Add a failure to an incident (with a ``member_joined`` entry); a failure that already belongs
        to an incident, this one or another, stays where it is (``Joined.is_new`` is False)."""
        with translated(self._url), self._sessions.begin() as session:
            rows.require_incident(session, incident_id)
            joined = rows.join_member(session, incident_id, member)
            if joined.is_new:
                rows.add_event(
                    session,
                    incident_id,
                    EventKind.MEMBER_JOINED,
                    {"dedup_key": member.dedup_key, "dag_id": member.dag_id, "task_id": member.task_id},
                    key=f"{incident_id}:member:{member.dedup_key}",
                )
            return joined

    def record_event(
        self,
        incident_id: str,
        kind: EventKind,
        detail: dict[str, Any] | None = None,
        *,
        key: str | None = None,
        at: datetime | None = None,
    ) -> bool:
        """Add a timeline entry; with ``key`` (e.g. the Celery task id), at most once per incident
        (False: that key was recorded already). The store's own keys are ``opened`` and ``member…``."""
        with translated(self._url), self._sessions.begin() as session:
            rows.require_incident(session, incident_id)
            scoped = None if key is None else f"{incident_id}:{key}"
            return rows.add_event(session, incident_id, kind, detail, key=scoped, at=at)

    def set_posted(self, incident_id: str, *, channel: str, ts: str) -> bool:
        """Where the incident's Slack message is; a ``posted`` entry when that changed (False: it had not)."""
        with translated(self._url), self._sessions.begin() as session:
            changed = rows.update_incident(
                session,
                incident_id,
                IncidentRow.channel.is_distinct_from(channel) | IncidentRow.ts.is_distinct_from(ts),
                {"channel": channel, "ts": ts},
            )
            if changed:
                rows.add_event(session, incident_id, EventKind.POSTED, {"channel": channel, "ts": ts})
            return changed

    def set_cause(
        self,
        incident_id: str,
        *,
        fingerprint: str | None = None,
        root_cause: str | None = None,
        error_class: str | None = None,
        key_object: str | None = None,
        failed_node: str | None = None,
        owner: str | None = None,
    ) -> None:
        """What the report found (the fields given; None leaves a field as it is)."""
        given = {
            "fingerprint": fingerprint,
            "root_cause": root_cause,
            "error_class": error_class,
            "key_object": key_object,
            "failed_node": failed_node,
            "owner": owner,
        }
        values = {name: value for name, value in given.items() if value is not None}
        with translated(self._url), self._sessions.begin() as session:
            rows.require_incident(session, incident_id)
            if values:
                rows.update_incident(session, incident_id, None, values)

    def resolve(self, incident_id: str, note: str | None = None, *, at: datetime | None = None) -> bool:
        """Mark the incident resolved, with a ``resolved`` entry; False when it was resolved already."""
        when = at or utc_now()
        with translated(self._url), self._sessions.begin() as session:
            changed = rows.update_incident(
                session,
                incident_id,
                IncidentRow.status != IncidentStatus.RESOLVED.value,
                {"status": IncidentStatus.RESOLVED.value, "resolved_at": when, "resolution_note": note},
                at=when,
            )
            if changed:
                rows.add_event(session, incident_id, EventKind.RESOLVED, {"note": note}, at=when)
            return changed

    # -- reads ------------------------------------------------------------------------------------
    def seed_sequence(self, *, day: date | None = None) -> int:
        """The highest incident-id number recorded (NNNN of ``INC-YYYYMMDD-NNNN``), on ``day`` or on any
        day; 0 when none. What the Redis id counter must be re-seeded to, at least, after Redis came back
        empty: the per-day counter with ``day``, a single counter without, so no id is given out twice."""
        prefix = f"INC-{day:%Y%m%d}-" if day else "INC-"
        number = func.max(cast(func.substr(IncidentRow.id, _ID_NUMBER_AT), Integer))
        with translated(self._url), self._reads.begin() as session:
            return int(session.scalar(select(number).where(IncidentRow.id.like(f"{prefix}%"))) or 0)

    def list_incidents(
        self, *, open_only: bool = False, since: datetime | None = None, limit: int = 100
    ) -> list[IncidentSummary]:
        """Incidents active (opened or updated) at or after ``since``, newest first (open ones: ``open_only``)."""
        query = select(IncidentRow).order_by(IncidentRow.sequence.desc()).limit(limit)
        if open_only:
            query = query.where(IncidentRow.status == IncidentStatus.OPEN.value)
        if since is not None:
            query = query.where(IncidentRow.updated_at >= since)
        return self._summaries(query)

    def get(self, incident_id: str) -> IncidentDetail | None:
        """The incident with its members and timeline (oldest first); None when it is not recorded."""
        query = (
            select(IncidentRow)
            .where(IncidentRow.id == incident_id)
            .options(selectinload(IncidentRow.members), selectinload(IncidentRow.events))
        )
        with translated(self._url), self._reads.begin() as session:
            row = session.scalar(query)
            if row is None:
                return None
            return IncidentDetail(
                incident=rows.to_summary(row),
                members=tuple(rows.to_member(m) for m in row.members),
                events=tuple(Event(at=e.at, kind=e.kind, detail=e.detail) for e in row.events),
            )

    def history(
        self, dag_id: str, task_id: str | None = None, *, since: datetime | None = None, limit: int = 100
    ) -> list[IncidentSummary]:
        """Incidents with a failure of ``dag_id`` (and ``task_id``) at or after ``since``, newest first."""
        members = select(MemberRow.incident_id).where(MemberRow.dag_id == dag_id)
        if task_id is not None:
            members = members.where(MemberRow.task_id == task_id)
        if since is not None:
            members = members.where(MemberRow.failed_at >= since)
        query = select(IncidentRow).where(IncidentRow.id.in_(members)).order_by(IncidentRow.sequence.desc())
        return self._summaries(query.limit(limit))

    def find_open_by_fingerprint(self, fingerprint: str, *, since: datetime | None = None) -> IncidentSummary | None:
        """The newest open incident of this cause, active (opened or updated) at or after ``since``."""
        query = select(IncidentRow).where(
            IncidentRow.fingerprint == fingerprint, IncidentRow.status == IncidentStatus.OPEN.value
        )
        if since is not None:
            query = query.where(IncidentRow.updated_at >= since)
        found = self._summaries(query.order_by(IncidentRow.sequence.desc()).limit(1))
        return found[0] if found else None

    def count_seen(self, fingerprint: str, *, since: datetime | None = None) -> int:
        """How many failures of this cause were recorded (in any incident) that failed at or after ``since``."""
        query = (
            select(func.count(MemberRow.id))
            .join(IncidentRow, MemberRow.incident_id == IncidentRow.id)
            .where(IncidentRow.fingerprint == fingerprint)
        )
        if since is not None:
            query = query.where(MemberRow.failed_at >= since)
        with translated(self._url), self._reads.begin() as session:
            return int(session.scalar(query) or 0)

    def last_resolved(self, fingerprint: str) -> IncidentSummary | None:
        """The incident of this cause resolved last; None when none was."""
        query = (
            select(IncidentRow)
            .where(IncidentRow.fingerprint == fingerprint, IncidentRow.status == IncidentStatus.RESOLVED.value)
            .order_by(IncidentRow.resolved_at.desc(), IncidentRow.sequence.desc())
            .limit(1)
        )
        found = self._summaries(query)
        return found[0] if found else None

    def _summaries(self, query: Any) -> list[IncidentSummary]:
        with translated(self._url), self._reads.begin() as session:
            return [rows.to_summary(row) for row in session.scalars(query)]
