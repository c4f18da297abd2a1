"""The producer: how Airflow (or the CLI) hands a failure to the commander.

    from commander.producer import trigger_incident_commander
    DAG(..., default_args={"on_failure_callback": trigger_incident_commander},
        on_failure_callback=trigger_incident_commander)

Promises, each checked by a test:
- it imports only celery/kombu and our contracts (no Slack, Snowflake or SQLAlchemy);
- it enqueues by task name, so Airflow needs none of the workers' code;
- it never raises into Airflow and never blocks longer than INCIDENT_PUBLISH_TIMEOUT_S (2 s):
  the publish runs in a helper thread that we stop waiting for;
- it never loses a trigger: what the broker does not take goes to the spool
  (INCIDENT_SPOOL_DIR), sent by the next successful call or ``incident-commander flush-spool``.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from celery import Celery

from commander import spool
from commander.airflow_context import triggers_from_context
from shared.celery_app import COMMANDER_QUEUE, TaskName, celery_config
from shared.contracts import Trigger, dump
from shared.errors import BrokerUnavailable
from shared.settings import Settings, get_settings

log = logging.getLogger(__name__)

# After a successful publish, send at most this many spooled triggers in the same call.
FLUSH_ON_SUCCESS_LIMIT = 50

_apps: dict[str, Celery] = {}
_apps_lock = threading.Lock()


@dataclass(frozen=True)
class Delivery:
    status: str  # "sent" | "spooled" | "failed"
    dedup_key: str
    spool_path: Path | None = None
    reason: str | None = None


def trigger_incident_commander(context: Mapping[str, Any]) -> None:
    """Airflow ``on_failure_callback`` (task or DAG level, Airflow 2.x and 3.x). Never raises."""
    _deliver_context(context, model=None, note=None)


def make_failure_callback(*, model: str | None = None, note: str | None = None) -> Callable[[Mapping[str, Any]], None]:
    """A callback that also names the suspect dbt model and a free-text note for the triage."""

    def callback(context: Mapping[str, Any]) -> None:
        _deliver_context(context, model=model, note=note)

    return callback


def _deliver_context(context: Mapping[str, Any], *, model: str | None, note: str | None) -> None:
    try:
        for trigger in triggers_from_context(context, model=model, note=note):
            delivery = send_trigger(trigger)
            log.info("incident commander: %s %s", delivery.status, delivery.dedup_key)
    except Exception:  # never raise into Airflow
        log.exception("incident commander: could not hand the failure over")


def send_trigger(trigger: Trigger, *, settings: Settings | None = None) -> Delivery:
    """Publish ``trigger`` to the commander queue, or spool it. Never raises, never blocks > timeout."""
    try:
        settings = settings or get_settings()
        payload = dump(trigger)
    except Exception as exc:
        log.exception("incident commander: bad settings or trigger")
        return Delivery(status="failed", dedup_key=trigger.dedup_key, reason=str(exc))
    try:
        publish(payload, settings=settings)
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}"
        try:
            path = spool.write(payload, settings.spool_dir)
        except OSError as spool_exc:
            log.error(
                "incident commander: LOST trigger %s: broker (%s) and spool (%s) both failed",
                trigger.dedup_key,
                reason,
                spool_exc,
            )
            return Delivery(status="failed", dedup_key=trigger.dedup_key, reason=f"{reason}; {spool_exc}")
        log.warning("incident commander: broker unavailable (%s); spooled %s", reason, path)
        return Delivery(status="spooled", dedup_key=trigger.dedup_key, spool_path=path, reason=reason)
    try:
        if spool.pending(settings.spool_dir):
            flush_spool(settings=settings, limit=FLUSH_ON_SUCCESS_LIMIT)
    except Exception:  # the trigger itself was sent; a spool problem must not reach Airflow
        log.exception("incident commander: could not flush the spool %s", settings.spool_dir)
    return Delivery(status="sent", dedup_key=trigger.dedup_key)


def flush_spool(*, settings: Settings | None = None, limit: int = 1_000) -> spool.FlushResult:
    """Send spooled triggers, oldest first."""
    settings = settings or get_settings()
    return spool.flush(settings.spool_dir, lambda payload: publish(payload, settings=settings), limit=limit)


def publish(payload: dict[str, Any], *, settings: Settings) -> None:
    """Send one trigger by task name; raise BrokerUnavailable if not done within the timeout."""
    app = _producer_app(settings)

    # A short argsrepr: Celery would otherwise saferepr() the whole trigger for every message
    # (a third of the publish), and Flower shows this instead of the exception text.
    label = (
        f"({payload.get('dag_id')}.{payload.get('task_id')} run={payload.get('run_id')} "
        f"try={payload.get('try_number')})"
    )

    def send() -> None:
        app.send_task(
            TaskName.TRIAGE.value,
            args=(payload,),
            queue=COMMANDER_QUEUE,
            argsrepr=label,
            kwargsrepr="{}",
            ignore_result=True,
            retry=True,
            retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2},
        )

    job = _Job(send)
    _publisher().put(job)
    if not job.done.wait(settings.publish_timeout_s):
        # A late success is harmless: the commander deduplicates the spooled copy.
        raise BrokerUnavailable(f"broker did not take the trigger within {settings.publish_timeout_s:g} s")
    if job.error is not None:
        raise BrokerUnavailable(str(job.error)) from job.error


class _Job:
    """One publish handed to the publisher thread; the caller waits on ``done`` with a time-out."""

    def __init__(self, fn: Callable[[], None]) -> None:
        self.fn = fn
        self.done = threading.Event()
        self.error: BaseException | None = None


_jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
_publisher_pid: int | None = None


def _publisher() -> queue.SimpleQueue[_Job]:
    """The queue of this process's publisher thread, started on first use (and again after a fork).

    One long-lived daemon thread instead of a thread per call: the caller's wait is bounded
    either way, but starting a thread costs more than the publish itself.
    """
    global _jobs, _publisher_pid
    with _apps_lock:
        if _publisher_pid != os.getpid():
            _jobs = queue.SimpleQueue()
            threading.Thread(target=_run_jobs, args=(_jobs,), name="incident-commander-publish", daemon=True).start()
            _publisher_pid = os.getpid()
        return _jobs


def _run_jobs(jobs: queue.SimpleQueue[_Job]) -> None:
    while True:
        job = jobs.get()
        try:
            job.fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
            job.error = exc
        finally:
            job.done.set()


def _producer_app(settings: Settings) -> Celery:
    url = settings.effective_broker_url
    with _apps_lock:
        app = _apps.get(url)
        if app is None:
            app = Celery("incident-commander-producer", set_as_current=False)
            config = celery_config(settings)
            transport = dict(config["broker_transport_options"])  # type: ignore[call-overload]
            timeout_s = min(settings.publish_timeout_s, 2.0)
            transport.update(socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
            config.update(
                broker_transport_options=transport,
                broker_connection_timeout=timeout_s,
                result_backend=None,  # the producer never waits for a result
                broker_connection_retry_on_startup=False,
                broker_pool_limit=4,
            )
            app.conf.update(config)
            _apps[url] = app
        return app
