"""The commander's Celery tasks: thin wrappers over ``commander.incidents``.

    triage ──► chord(analyze_logs, profile_queries, notify_owners) ──► compose_report
                    │ (a member died for good: ChordError)          └─► report_chord_failure
                    └ finalize_overdue (countdown): a specialist that never answers
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from celery import Celery, Task, chord

from commander.incidents import (
    findings_from_results,
    finish_incident,
    missing_as_unavailable,
    open_incident,
    parse_trigger,
)
from shared.celery_app import TaskName
from shared.contracts import Incident, dump
from shared.errors import InvalidTrigger, PermanentError, RetryableError
from shared.runtime import get_runtime

log = logging.getLogger(__name__)

class CommanderTask(Task):
    """Records every task that fails for good where an operator will see it (``pic:failures``)."""

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        try:
            get_runtime().store.record_failure(
                what=f"{self.name} failed", reason=f"{type(exc).__name__}: {exc}",
                payload={"task_id": task_id, "args": list(args)[:1] if args else None})
        except Exception:
            log.exception("could not record the failure of %s", task_id)
        log.error("%s[%s] failed for good: %s", self.name, task_id, exc)


# Slack or Redis hiccups: retry with backoff, bounded, well inside the visibility timeout.
RETRY_OPTIONS: dict[str, Any] = {
    # Redis errors come from the incident store; they are as transient as a Slack 5xx.
    "autoretry_for": (RetryableError, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError),
    "dont_autoretry_for": (PermanentError,),
    "retry_backoff": 1,
    "retry_backoff_max": 30,
    "retry_jitter": True,
    "max_retries": 6,
    "acks_late": True,
    "retry_on_worker_lost": True,
    "default_retry_delay": 1,  # also the delay after a lost worker (Celery's default is 180 s)
    "base": CommanderTask,
}

SPECIALIST_TASKS = (TaskName.ANALYZE_LOGS, TaskName.PROFILE_QUERIES, TaskName.NOTIFY_OWNERS)


def dispatch_specialists(app: Celery, incident: Incident, *, deadline_s: float) -> None:
    """The deadline task, then the chord: three specialists on their queues, compose_report as the
    callback and report_chord_failure as the errback. By task name: no specialist code is imported."""
    incident_id = incident.incident_id
    # The deadline first: if we die before the chord is sent, the report still comes.
    app.send_task(TaskName.FINALIZE_OVERDUE.value, args=(incident_id,), countdown=deadline_s)
    payload = dump(incident)
    header = [app.signature(name.value, args=(payload,)) for name in SPECIALIST_TASKS]
    body = app.signature(TaskName.COMPOSE_REPORT.value, kwargs={"incident_id": incident_id})
    body.on_error(app.signature(TaskName.REPORT_CHORD_FAILURE.value, args=(incident_id,), immutable=True))
    chord(header, app=app)(body)


def register_commander(app: Celery) -> None:
    """Register the commander's four tasks on ``app``."""

    @app.task(name=TaskName.TRIAGE.value, bind=True, **RETRY_OPTIONS)
    def triage(self: Task, trigger: dict[str, Any]) -> dict[str, Any]:
        runtime = get_runtime()
        try:
            parsed = parse_trigger(trigger)
        except InvalidTrigger as exc:
            runtime.store.record_failure(what="invalid trigger", reason=str(exc), payload=trigger)
            log.error("%s", exc)
            return {"status": "rejected", "reason": str(exc)}
        # On the last attempt a Slack that still refuses the opening post no longer holds the
        # triage back: the specialists run and the report is posted on its own at the end.
        last_attempt = (self.request.retries or 0) >= (self.max_retries or 0)
        opened = open_incident(parsed, runtime=runtime, task_id=self.request.id, last_attempt=last_attempt)
        if opened.incident is None:
            return {"status": "duplicate", "incident_id": opened.duplicate_of}
        incident = opened.incident
        incident_id = incident.incident_id
        if runtime.store.get_field(incident_id, "dispatched") is None:
            dispatch_specialists(app, incident, deadline_s=runtime.settings.report_deadline_s)
            # Marked only once sent: a retry after a failed send sends again (replies, pings
            # and the report are once-only or updates, so a second chord cannot double-post).
            runtime.store.set_field(incident_id, "dispatched", self.request.id)
            log.info("%s opened for %s; specialists dispatched", incident_id, parsed.dedup_key)
        return {"status": "opened", "incident_id": incident_id}

    @app.task(name=TaskName.COMPOSE_REPORT.value, bind=True, **RETRY_OPTIONS)
    def compose_report(self: Task, results: list[Any], *, incident_id: str) -> dict[str, Any]:
        found = findings_from_results(results)
        report = finish_incident(incident_id, missing_as_unavailable(found, "returned no finding"),
                                 runtime=get_runtime())
        assert report is not None
        return {"status": report.status.value, "incident_id": incident_id}

    @app.task(name=TaskName.REPORT_CHORD_FAILURE.value, bind=True, **RETRY_OPTIONS)
    def report_chord_failure(self: Task, incident_id: str) -> dict[str, Any]:
        runtime = get_runtime()
        found = runtime.store.findings(incident_id)
        reason = "no result: its worker died or was killed (retried, then gave up)"
        report = finish_incident(incident_id, missing_as_unavailable(found, reason), runtime=runtime)
        assert report is not None
        log.warning("%s reported degraded after a chord failure", incident_id)
        return {"status": report.status.value, "incident_id": incident_id}

    @app.task(name=TaskName.FINALIZE_OVERDUE.value, bind=True, **RETRY_OPTIONS)
    def finalize_overdue(self: Task, incident_id: str) -> dict[str, Any]:
        runtime = get_runtime()
        reason = f"no result within {runtime.settings.report_deadline_s:g} s"
        report = finish_incident(incident_id, missing_as_unavailable(runtime.store.findings(incident_id), reason),
                                 runtime=runtime, unless_reported=True)
        if report is None:
            return {"status": "already reported", "incident_id": incident_id}
        log.warning("%s reported at its deadline", incident_id)
        return {"status": report.status.value, "incident_id": incident_id}
