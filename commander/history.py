"""Write a reported incident into the durable history (``shared.incident_db``), off the critical path.

``record_history`` runs as its own commander task after the report is composed, never before or
inside a Slack call: a database that is down delays the history, never a post. Its writes are
idempotent (a member by its dedup key, events by their key), so a retried task records once. A
database that stays unavailable is retried by the commander's policy, then recorded in
``failures`` like every other give-up.
"""

from __future__ import annotations

import logging
from typing import Any

from shared.contracts import LogFinding, OwnerFinding, Report
from shared.incident_db import EventKind, NewIncident, NewMember, history_db
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
    owner = ", ".join(line.plain() for line in report.owner_lines) or None
    db.record_opened(
        NewIncident(
            incident_id=incident_id,
            opened_at=incident.opened_at,
            channel=incident.channel,
            ts=incident.thread_ts,
            root_cause=report.root_cause,
            error_class=log_finding.details.error_class if log_finding else None,
            failed_node=log_finding.details.failed_node if log_finding else None,
            owner=owner,
        ),
        NewMember.from_trigger(report.trigger, findings=_summary(report)),
    )
    if incident.thread_ts:
        db.set_posted(incident_id, channel=incident.channel, ts=incident.thread_ts)
    db.record_event(incident_id, EventKind.REPORTED, {"status": report.status.value}, key="reported")
    return {"status": "recorded", "incident_id": incident_id}


def _first(report: Report, kind: type[LogFinding] | type[OwnerFinding]) -> Any:
    return next((f for f in report.findings if isinstance(f, kind)), None)


def _summary(report: Report) -> dict[str, Any]:
    return {f.specialist: {"status": f.status.value, "summary": f.summary[:300]} for f in report.findings}
