"""The incident history's tables, as SQLAlchemy 2.0 typed ORM classes.

    incidents ─┬─< members   one row per failure (dedup_key unique: a failure belongs to one incident)
               └─< events    the timeline: opened, posted, member_joined, repeat, resolved, ...
    sequences                high-water marks that only grow (``incident``: the incidents' sequence)

Types are portable (SQLite and PostgreSQL): JSON for free-form details, and ``UTCDateTime``, which
stores every time as UTC and reads it back timezone-aware on both. The migrations in
``migrations/versions`` create exactly these tables; a test compares the two.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

INCIDENT_SEQUENCE = "incident"  # the row of ``sequences`` that numbers incidents


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime stored as UTC: ``timestamptz`` on PostgreSQL, naive UTC text on SQLite.

    A naive value is taken as UTC (as the contracts do); every value read back is aware, in UTC.
    SQLite compares the stored text, which sorts in time order because every value is UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc_now() -> datetime:
    return datetime.now(UTC)


# Constraint and index names fixed by rule, so a migration can name what it alters on both databases.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON}


class IncidentRow(Base):
    """One incident: what it is about (from its first member and its report), and where it was posted."""

    __tablename__ = "incidents"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # INC-YYYYMMDD-NNNN
    sequence: Mapped[int] = mapped_column(BigInteger, unique=True)
    fingerprint: Mapped[str | None] = mapped_column(String(200), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)  # an IncidentStatus value
    opened_at: Mapped[datetime] = mapped_column(index=True)
    updated_at: Mapped[datetime] = mapped_column(index=True)
    resolved_at: Mapped[datetime | None]
    resolution_note: Mapped[str | None] = mapped_column(Text)
    channel: Mapped[str | None] = mapped_column(String(100))
    ts: Mapped[str | None] = mapped_column(String(40))  # the Slack message's ts
    root_cause: Mapped[str | None] = mapped_column(Text)
    error_class: Mapped[str | None] = mapped_column(Text)
    key_object: Mapped[str | None] = mapped_column(Text)
    failed_node: Mapped[str | None] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(Text)
    dag_id: Mapped[str] = mapped_column(String(250))  # of the first member
    task_id: Mapped[str] = mapped_column(String(250))  # of the first member
    member_count: Mapped[int] = mapped_column(Integer, default=0)

    members: Mapped[list[MemberRow]] = relationship(back_populates="incident", order_by="MemberRow.id")
    events: Mapped[list[EventRow]] = relationship(back_populates="incident", order_by="EventRow.id")


class MemberRow(Base):
    """One failure (one try of one task instance) and the incident it belongs to."""

    __tablename__ = "members"
    __table_args__ = (Index(None, "dag_id", "task_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    dedup_key: Mapped[str] = mapped_column(String(1100), unique=True)
    dag_id: Mapped[str] = mapped_column(String(250))
    task_id: Mapped[str] = mapped_column(String(250))
    run_id: Mapped[str] = mapped_column(String(250))
    try_number: Mapped[int] = mapped_column(Integer)
    map_index: Mapped[int] = mapped_column(Integer)
    failed_at: Mapped[datetime] = mapped_column(index=True)
    trigger: Mapped[dict[str, Any] | None]
    findings: Mapped[dict[str, Any] | None]
    joined_at: Mapped[datetime]

    incident: Mapped[IncidentRow] = relationship(back_populates="members")


class EventRow(Base):
    """One entry of an incident's timeline; ``key``, when set, makes it once-only (a retried task adds nothing)."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(40))  # an EventKind value
    key: Mapped[str | None] = mapped_column(String(1200), unique=True)
    detail: Mapped[dict[str, Any] | None]

    incident: Mapped[IncidentRow] = relationship(back_populates="events")


class SequenceRow(Base):
    """A counter that only grows: a number it gave out is never given again, even if its row is deleted."""

    __tablename__ = "sequences"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)
