"""The commander's Celery tasks: thin wrappers over ``commander.incidents`` and ``commander.delivery``.

triage ──► chord(analyze_logs, profile_queries, notify_owners) ──► compose_report
                │ (a member died for good: ChordError)          └─► report_chord_failure
                └ finalize_overdue (countdown): a specialist that never answers
deliver: the top-level message that Slack did not take yet (opening or report), until it does
record_history: the durable history, after the report; on the ``history`` queue (its own worker)
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import redis
from celery import Celery, Signature, Task, chord

from commander.delivery import sync_top_message
from commander.history import record_history
from commander.incidents import (
    Finished,
    findings_from_results,
    finish_incident,
    missing_as_unavailable,
    open_incident,
    parse_trigger,
)
from shared.celery_app import TaskName
from shared.contracts import Incident, dump
from shared.errors import InvalidTrigger, RetryableError, SlackPermanent
from shared.log_context import bind_incident
from shared.retry_policy import COMMANDER, HISTORY, SLACK_DELIVERY, WORKER_LOST, RetryPolicy, retry_after_s
from shared.runtime import Runtime, get_runtime
from shared.specialists import SPECIALISTS

log = logging.getLogger(__name__)


# What a commander task retries: worth trying again later. A PermanentError fails at once.
RETRYABLE: tuple[type[Exception], ...] = (
    RetryableError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)


class CommanderTask(Task):
    """Base of the commander's tasks: the one place where a failing task is retried, given up or recorded.

    A RETRYABLE error is retried after ``retry_policy.countdown`` (back-off with jitter, never
    sooner than the error's Retry-After); once the policy gives up the task fails, and every task
    that fails for good is recorded where an operator will see it (``pic:failures``). A lost
    worker is Celery's to retry (``retry_on_worker_lost``, ``default_retry_delay``).
    """

    retry_policy: RetryPolicy = COMMANDER

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except RETRYABLE as exc:
            return self.retry_or_give_up(exc, args, kwargs)

    def retry_or_give_up(self, exc: Exception, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Raise Retry (the policy's countdown), or ``exc`` once the policy gives up (then on_failure)."""
        countdown_s = self.retry_policy.countdown(self.request.retries or 0, retry_after_s=retry_after_s(exc))
        if countdown_s is None:
            raise exc
        log.warning("%s[%s]: %s; again in %.1f s", self.name, self.request.id, exc, countdown_s)
        raise self.retry(exc=exc, countdown=countdown_s) from exc

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        try:
            get_runtime().store.record_failure(
                what=f"{self.name} failed",
                reason=f"{type(exc).__name__}: {exc}",
                payload={"task_id": task_id, "args": list(args)[:1] if args else None},
            )
        except Exception:
            log.exception("could not record the failure of %s", task_id)
        log.error("%s[%s] failed for good: %s", self.name, task_id, exc)


class DeliverTask(CommanderTask):
    """``deliver``: retried on SLACK_DELIVERY while the incident lives; giving up is recorded, not raised."""

    retry_policy = SLACK_DELIVERY

    def retry_or_give_up(self, exc: Exception, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        incident_id = str(args[0] if args else kwargs["incident_id"])
        return retry_delivery(self, incident_id, exc, runtime=get_runtime())


class HistoryTask(CommanderTask):
    """``record_history``: retried on HISTORY (short, bounded); giving up is recorded like any other."""

    retry_policy = HISTORY


# Every commander task: retried by CommanderTask on COMMANDER (Redis hiccups; Slack is not retried
# here: what Slack does not take is handed to ``deliver``). Acked late; a lost worker's task is
# retried by Celery after WORKER_LOST's delay (Celery's default is 180 s), counted against the
# same max_retries as the task's own retries.
RETRY_OPTIONS: dict[str, Any] = {
    "base": CommanderTask,
    "max_retries": COMMANDER.max_retries,
    "acks_late": True,
    "retry_on_worker_lost": True,
    "default_retry_delay": WORKER_LOST.base_s,
}

# finalize_overdue that fires early (the sending worker's clock jumped) re-arms at most this often.
MAX_DEADLINE_REARMS = 20


def dispatch_specialists(app: Celery, incident: Incident, *, deadline_s: float, runtime: Runtime) -> None:
    """The deadline task, then the chord: every registered specialist on its queue, compose_report as
    the callback and report_chord_failure as the errback. By task name: no specialist code is imported."""
    incident_id = incident.incident_id
    # The deadline is measured on Redis's clock (one clock for all workers): finalize_overdue
    # checks it, so a worker whose wall clock jumps cannot fire it early.
    runtime.store.set_field(incident_id, "dispatched_at", f"{runtime.store.server_time_s():.6f}")
    # The deadline first: if we die before the chord is sent, the report still comes.
    app.send_task(TaskName.FINALIZE_OVERDUE.value, args=(incident_id,), countdown=deadline_s)
    payload = dump(incident)
    header = chord_header(app, payload)
    body = app.signature(TaskName.COMPOSE_REPORT.value, kwargs={"incident_id": incident_id})
    body.on_error(app.signature(TaskName.REPORT_CHORD_FAILURE.value, args=(incident_id,), immutable=True))
    chord(header, app=app)(body)


def chord_header(app: Celery, incident_payload: dict[str, Any]) -> list[Signature]:
    """One signature per registered specialist, in the registry's order, each routed to its queue."""
    return [app.signature(spec.task, args=(incident_payload,)) for spec in SPECIALISTS]


def schedule_delivery(app: Celery, incident_id: str, *, runtime: Runtime, countdown_s: float = 1.0) -> None:
    """Hand the incident's top-level message to ``deliver`` unless a delivery is already on its way."""
    marker = f"{incident_id}:delivery"
    if runtime.store.once(marker, ttl_s=countdown_s + 120):
        try:
            app.send_task(TaskName.DELIVER.value, args=(incident_id,), countdown=countdown_s)
        except Exception:
            runtime.store.forget(marker)  # nothing is on its way: the next failure may schedule again
            raise


HISTORY_TIME_LIMIT_S = 60  # one history write, its connect and statement time-outs included


def register_commander(app: Celery) -> None:
    """Register the commander's tasks on ``app``: each one line over a plain function below."""

    @app.task(name=TaskName.TRIAGE.value, bind=True, **RETRY_OPTIONS)
    def triage(self: Task, trigger: dict[str, Any]) -> dict[str, Any]:
        return run_triage(app, trigger, task_id=self.request.id, runtime=get_runtime())

    @app.task(name=TaskName.COMPOSE_REPORT.value, bind=True, **RETRY_OPTIONS)
    def compose_report(self: Task, results: list[Any], *, incident_id: str) -> dict[str, Any]:
        return run_compose_report(app, results, incident_id, runtime=get_runtime())

    @app.task(name=TaskName.REPORT_CHORD_FAILURE.value, bind=True, **RETRY_OPTIONS)
    def report_chord_failure(self: Task, incident_id: str) -> dict[str, Any]:
        return run_chord_failure(app, incident_id, runtime=get_runtime())

    @app.task(name=TaskName.FINALIZE_OVERDUE.value, bind=True, **RETRY_OPTIONS)
    def finalize_overdue(self: Task, incident_id: str, rearms: int = 0) -> dict[str, Any]:
        return run_deadline(app, incident_id, rearms, runtime=get_runtime())

    @app.task(
        name=TaskName.DELIVER.value,
        bind=True,
        **RETRY_OPTIONS | {"base": DeliverTask, "max_retries": SLACK_DELIVERY.max_retries},
    )
    def deliver(self: Task, incident_id: str) -> dict[str, Any]:
        return run_delivery(incident_id, runtime=get_runtime())

    @app.task(
        name=TaskName.RECORD_HISTORY.value,
        bind=True,
        # time_limit: a database whose network drops mid-query (no server-side time-out reaches the
        # client) cannot hold the history worker's slot for ever; the task is then lost for the
        # history only, never for Slack.
        **RETRY_OPTIONS | {"base": HistoryTask, "max_retries": HISTORY.max_retries, "time_limit": HISTORY_TIME_LIMIT_S},
    )
    def record_history_task(self: Task, incident_id: str) -> dict[str, Any]:
        return record_history(incident_id, runtime=get_runtime())


def run_triage(app: Celery, trigger: dict[str, Any], *, task_id: str, runtime: Runtime) -> dict[str, Any]:
    """``triage``: claim the failure, show the opening message, dispatch the specialists once."""
    try:
        parsed = parse_trigger(trigger)
    except InvalidTrigger as exc:
        runtime.store.record_failure(what="invalid trigger", reason=str(exc), payload=trigger)
        log.error("%s", exc)
        return {"status": "rejected", "reason": str(exc)}
    opened = open_incident(parsed, runtime=runtime, task_id=task_id)
    if opened.incident is None:
        return {"status": "duplicate", "incident_id": opened.duplicate_of}
    incident = opened.incident
    incident_id = incident.incident_id
    bind_incident(incident_id)  # this task's log lines carry the id from here on
    if opened.undelivered:
        schedule_delivery(app, incident_id, runtime=runtime)
    if runtime.store.get_field(incident_id, "dispatched") is None:
        dispatch_specialists(app, incident, deadline_s=runtime.settings.report_deadline_s, runtime=runtime)
        # Marked only once sent: a retry after a failed send sends again (replies, pings
        # and the report are once-only or updates, so a second chord cannot double-post).
        runtime.store.set_field(incident_id, "dispatched", task_id)
        log.info("%s opened for %s; specialists dispatched", incident_id, parsed.dedup_key)
    return {"status": "opened", "incident_id": incident_id}


def run_compose_report(app: Celery, results: list[Any], incident_id: str, *, runtime: Runtime) -> dict[str, Any]:
    """``compose_report`` (the chord's callback): the report from every specialist's finding."""
    found = findings_from_results(results)
    finished = finish_incident(incident_id, missing_as_unavailable(found, "returned no finding"), runtime=runtime)
    assert finished is not None  # only the deadline asks unless_reported
    return _after_finish(app, incident_id, finished, runtime=runtime)


def run_chord_failure(app: Celery, incident_id: str, *, runtime: Runtime) -> dict[str, Any]:
    """``report_chord_failure`` (the chord's errback): a member died for good; report what was recorded."""
    found = runtime.store.findings(incident_id)
    reason = "no result: its worker died or was killed (retried, then gave up)"
    finished = finish_incident(incident_id, missing_as_unavailable(found, reason), runtime=runtime)
    assert finished is not None  # only the deadline asks unless_reported
    log.warning("%s reported degraded after a chord failure", incident_id)
    return _after_finish(app, incident_id, finished, runtime=runtime)


def run_deadline(app: Celery, incident_id: str, rearms: int = 0, *, runtime: Runtime) -> dict[str, Any]:
    """``finalize_overdue``: at the deadline (Redis's clock), report with what arrived, unless reported."""
    deadline_s = runtime.settings.report_deadline_s
    remaining_s = _deadline_remaining_s(incident_id, deadline_s, runtime=runtime)
    if remaining_s > 0.5 and rearms < MAX_DEADLINE_REARMS:
        # Fired early (this worker's wall clock is ahead of Redis's): wait for the real deadline.
        app.send_task(TaskName.FINALIZE_OVERDUE.value, args=(incident_id, rearms + 1), countdown=remaining_s)
        log.warning("%s: deadline fired %.1f s early by Redis's clock; re-armed", incident_id, remaining_s)
        return {"status": "re-armed", "incident_id": incident_id, "remaining_s": round(remaining_s, 3)}
    reason = f"no result within {deadline_s:g} s"
    finished = finish_incident(
        incident_id,
        missing_as_unavailable(runtime.store.findings(incident_id), reason),
        runtime=runtime,
        unless_reported=True,
    )
    if finished is None:
        return {"status": "already reported", "incident_id": incident_id}
    log.warning("%s reported at its deadline", incident_id)
    return _after_finish(app, incident_id, finished, runtime=runtime)


def run_delivery(incident_id: str, *, runtime: Runtime) -> dict[str, Any]:
    """The ``deliver`` task's body: sync the top-level message, or record Slack's refusal.

    A retryable failure propagates to DeliverTask, which retries it (``retry_delivery``)."""
    store = runtime.store
    store.forget(f"{incident_id}:delivery")  # from now on a new failure may schedule again
    try:
        synced = sync_top_message(incident_id, runtime=runtime)
    except SlackPermanent as exc:
        store.record_failure(what=f"top-level message of {incident_id} refused by Slack", reason=str(exc))
        return {"status": "refused", "incident_id": incident_id, "reason": str(exc)}
    return {"status": f"shows {synced.shows}", "incident_id": incident_id}


def retry_delivery(task: CommanderTask, incident_id: str, exc: Exception, *, runtime: Runtime) -> dict[str, Any]:
    """``deliver`` after a retryable failure: again after the policy's countdown, bounded by the
    incident's age and TTL (not by a count), unless a delivery is already scheduled; or give up visibly."""
    store = runtime.store
    policy = task.retry_policy.until(runtime.settings.dedup_ttl_s)
    countdown_s = policy.countdown(
        task.request.retries or 0, retry_after_s=retry_after_s(exc), elapsed_s=_age_s(store.get_incident(incident_id))
    )
    if countdown_s is None:
        store.record_failure(
            what=f"top-level message of {incident_id} not delivered: Slack unavailable for too long", reason=str(exc)
        )
        return {"status": "gave up", "incident_id": incident_id, "reason": str(exc)}
    if not store.once(f"{incident_id}:delivery", ttl_s=countdown_s + 120):
        return {"status": "merged into the delivery already scheduled", "incident_id": incident_id}
    log.warning("%s: Slack did not take the top-level message (%s); again in %.1f s", incident_id, exc, countdown_s)
    raise task.retry(exc=exc, countdown=countdown_s) from exc


def _after_finish(app: Celery, incident_id: str, finished: Finished, *, runtime: Runtime) -> dict[str, Any]:
    if finished.undelivered:
        schedule_delivery(app, incident_id, runtime=runtime)
    # The durable history, written by its own task after the report (its own queue and worker: never
    # on a post's path, never in a triage's slot).
    app.send_task(TaskName.RECORD_HISTORY.value, args=(incident_id,))
    status = finished.report.status.value if not finished.undelivered else f"{finished.report.status.value}, queued"
    return {"status": status, "incident_id": incident_id}


def _deadline_remaining_s(incident_id: str, deadline_s: float, *, runtime: Runtime) -> float:
    started = runtime.store.get_field(incident_id, "dispatched_at")
    if started is None:
        return 0.0
    return float(started) + deadline_s - runtime.store.server_time_s()


def _age_s(incident: Incident | None) -> float:
    if incident is None:
        return 0.0
    return (datetime.now(UTC) - incident.opened_at).total_seconds()
