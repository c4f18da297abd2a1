"""Write a reported incident into the durable history (``shared.incident_db``), off the critical path.

``record_history`` runs as its own task after the report is composed, never before or inside a
Slack call, on its own queue (``history``) served by its own worker process: a database that is down
delays the history, never a post, and never holds a slot that triage needs. Its writes are
idempotent (a member by its dedup key, events by their key), so a retried task records once. Every
wait on the database is bounded (connecting 2 s, a statement 5 s); a database that stays unavailable
is retried on ``shared.retry_policy.HISTORY`` (short, bounded), then recorded in ``failures`` like
every other give-up. An id the history already holds for another incident (Redis gave it out twice)
is not merged: IdCollision, permanent, recorded in ``failures`` naming both.

Each write also raises Redis's id counters to what the history holds (``raise_id_counters``): a floor
that makes a counter Redis does not have at a claim (the only time a claim asks the history) rare.
The commander's workers do the same at start-up (``prepare_history``).
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from typing import Any

from shared.contracts import INCIDENT_ID, LogFinding, OwnerFinding, Report
from shared.fingerprint import cause_of
from shared.incident_db import (
    STATEMENT_TIMEOUT_S,
    EventKind,
    IncidentDB,
    NewIncident,
    NewMember,
    describe,
    history_db,
    open_store,
    upgrade,
)
from shared.incident_store import IncidentStore
from shared.runtime import Runtime

log = logging.getLogger(__name__)


def record_history(incident_id: str, *, runtime: Runtime) -> dict[str, Any]:
    """Record the incident (and its first failure) as reported, with its cause and Slack message."""
    report = runtime.store.get_report(incident_id)
    incident = runtime.store.get_incident(incident_id)
    if report is None or incident is None:  # expired from Redis: nothing left to record
        return {"status": "nothing to record", "incident_id": incident_id}
    db = history_db(runtime.settings.incident_db_url)
    log_finding = _first(report, LogFinding)
    cause = cause_of(log_finding, report.trigger) if log_finding else None  # what one-incident-per-cause groups by
    owner = ", ".join(line.plain() for line in report.owner_lines) or None
    db.record_opened(  # IdCollision (permanent) when the id is another incident's: nothing is merged
        NewIncident(
            incident_id=incident_id,
            opened_at=incident.opened_at,
            channel=incident.channel,
            ts=incident.thread_ts,
            root_cause=report.root_cause,
            error_class=log_finding.details.error_class if log_finding else None,
            failed_node=log_finding.details.failed_node if log_finding else None,
            key_object=log_finding.details.key_object if log_finding else None,
            fingerprint=cause.fingerprint if cause else None,
            owner=owner,
        ),
        NewMember.from_trigger(report.trigger, findings=_summary(report)),
    )
    if incident.thread_ts:
        db.set_posted(incident_id, channel=incident.channel, ts=incident.thread_ts)
    db.record_event(incident_id, EventKind.REPORTED, {"status": report.status.value}, key="reported")
    raise_id_counters(runtime.store, db, recorded=incident_id)
    return {"status": "recorded", "incident_id": incident_id}


def raise_id_counters(
    store: IncidentStore, db: IncidentDB, *, recorded: str | None = None, today: date | None = None
) -> dict[str, int]:
    """Raise Redis's id counters to what the history holds (a max: never lowered), creating a missing one:
    today's and tomorrow's to the history's highest number that day (so the next day's first claim
    finds its counter), and the ``recorded`` incident's day to its number. The counters after, by day."""
    today = today or datetime.now(UTC).date()
    raised: dict[str, int] = {}
    for day in (today, today + timedelta(days=1)):
        raised[f"{day:%Y%m%d}"] = store.raise_counter(day, db.seed_sequence(day=day))
    if recorded is not None and INCIDENT_ID.fullmatch(recorded):
        day = datetime.strptime(recorded[4:12], "%Y%m%d").date()
        raised[f"{day:%Y%m%d}"] = store.raise_counter(day, int(recorded[13:]))
    return raised


def prepare_history(url: str, store: IncidentStore) -> dict[str, int] | None:
    """What a commander worker does at start-up, off every incident's path: the history's schema migrated,
    then Redis's id counters for today and tomorrow raised to the history's highest numbers (seeded when
    Redis lost them), so a claim seldom finds a counter missing. A database (or Redis) that does not
    answer is logged, not raised: posts go out, a claim's own seed is bounded, history writes retry, then
    are recorded. Every wait is bounded (connecting 2 s, a statement 5 s). The counters; None on failure."""
    where = describe(url)
    try:
        revision = upgrade(url, statement_timeout_s=STATEMENT_TIMEOUT_S)
    except Exception as exc:
        log.warning("incident history (%s) not migrated: %s", where, exc)
        return None
    log.info("incident history (%s) at revision %s", where, revision)
    try:
        db = open_store(url)
        try:
            counters = raise_id_counters(store, db)
        finally:
            db.close()
    except Exception as exc:
        log.warning("incident ids: counters not seeded from the history (%s): %s", where, exc)
        return None
    log.info("incident ids: counters seeded from the history: %s", counters)
    return counters


def _first(report: Report, kind: type[LogFinding] | type[OwnerFinding]) -> Any:
    return next((f for f in report.findings if isinstance(f, kind)), None)


def _summary(report: Report) -> dict[str, Any]:
    return {f.specialist: {"status": f.status.value, "summary": f.summary[:300]} for f in report.findings}
