"""The one shape every specialist task has: parse the incident, call the service, never raise.

Celery skips a chord's callback when any member fails, so a specialist turns every error it
can catch (its own time-out included) into an ``unavailable`` finding, here and only here: the
services say what they could not read in their findings and raise the rest, and this layer
catches it, names it (``SpecialistSpec.failure``) and times the whole call. What it cannot catch
(SIGKILL, OOM, the hard time limit) is retried a bounded number of times by Celery
(``task_retry_on_worker_lost`` + ``max_retries``), then reaches the chord's errback.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from celery import Celery, Task
from celery.exceptions import SoftTimeLimitExceeded
from pydantic import ValidationError

from shared import faults
from shared.contracts import AnyFinding, Incident, dump, unavailable
from shared.errors import IncidentCommanderError, SlackAmbiguous
from shared.redact import clean
from shared.retry_policy import WORKER_LOST
from shared.runtime import Runtime, get_runtime
from shared.settings import get_settings
from shared.specialists import SpecialistSpec

log = logging.getLogger(__name__)

Service = Callable[[Incident, Runtime], AnyFinding]

# A dead worker's task runs at most 1 + MAX_RETRIES times, RETRY_DELAY_S apart (shared.retry_policy).
MAX_RETRIES = WORKER_LOST.max_retries
RETRY_DELAY_S = WORKER_LOST.base_s
# Between the soft limit (caught: "unavailable") and the hard kill.
HARD_LIMIT_MARGIN_S = 10


def register_specialist(app: Celery, *, spec: SpecialistSpec, service: Service) -> Task:
    """Register ``service`` as the Celery task ``spec.task`` on ``app``."""
    soft_s = get_settings().specialist_soft_time_limit_s

    @app.task(
        name=spec.task,
        bind=True,
        acks_late=True,
        retry_on_worker_lost=True,
        max_retries=MAX_RETRIES,
        default_retry_delay=RETRY_DELAY_S,
        soft_time_limit=soft_s,
        time_limit=soft_s + HARD_LIMIT_MARGIN_S,
    )
    def specialist_task(self: Task, incident: dict[str, Any]) -> dict[str, Any]:
        return run_specialist(spec, service, incident, runtime=get_runtime(), attempt=self.request.retries or 0)

    return specialist_task


def run_specialist(
    spec: SpecialistSpec, service: Service, incident_json: dict[str, Any], *, runtime: Runtime, attempt: int = 0
) -> dict[str, Any]:
    """Run one specialist on one incident; always returns a finding as JSON."""
    started = time.perf_counter()
    try:
        incident = Incident.model_validate(incident_json)
    except ValidationError as exc:
        log.error("%s: rejected an invalid incident message: %s", spec.name, exc)
        return dump(unavailable(spec.name, f"invalid incident message ({exc.error_count()} errors)"))
    incident = _current(incident, runtime)
    try:
        faults.inject(spec.name, "run", spec=runtime.settings.fault_injection, attempt=attempt)
        finding = service(incident, runtime)
    except SoftTimeLimitExceeded:
        finding = unavailable(spec.name, f"timed out after {runtime.settings.specialist_soft_time_limit_s:g} s")
    except IncidentCommanderError as exc:  # ours: the message says what went wrong
        log.warning("%s on %s: %s", spec.name, incident.incident_id, exc)
        finding = unavailable(spec.name, f"{spec.failure}: {clean(str(exc), 1_000)}")
    except Exception as exc:  # the chord must get a finding, whatever went wrong
        log.exception("%s failed on %s", spec.name, incident.incident_id)
        finding = unavailable(spec.name, f"{spec.failure}: {type(exc).__name__}: {clean(str(exc), 1_000)}")
    elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
    finding = finding.model_copy(update={"elapsed_ms": elapsed_ms})
    _record(runtime, incident, finding)
    return dump(finding)


def _current(incident: Incident, runtime: Runtime) -> Incident:
    """The incident as the store knows it now: the top-level message may have been posted (or
    adopted) after the chord was sent, and its ts is where thread replies and pings go."""
    try:
        stored = runtime.store.get_incident(incident.incident_id)
    except Exception:  # the message's copy is still good enough to analyse
        log.exception("could not read %s from the store", incident.incident_id)
        return incident
    return stored if stored is not None and stored.thread_ts is not None else incident


def _record(runtime: Runtime, incident: Incident, finding: AnyFinding) -> None:
    """Keep the finding for the errback and ``watch``, and reply once in the incident thread."""
    from shared.slack_format import update_blocks

    try:
        runtime.store.record_finding(incident.incident_id, finding)
    except Exception:  # state is best effort here; the finding still reaches the chord
        log.exception("could not record the %s finding of %s", finding.specialist, incident.incident_id)
    if incident.thread_ts is None:
        return
    marker = f"{incident.incident_id}:update:{finding.specialist}"
    try:
        if not runtime.store.once(marker):
            return  # a retry or a redelivery: the reply is already in the thread
        text, blocks = update_blocks(finding)
        runtime.sink.post(channel=incident.channel, thread_ts=incident.thread_ts, text=text, blocks=blocks, tag=marker)
    except SlackAmbiguous:  # it may be in the thread: a lost reply is better than a doubled one
        log.warning(
            "the %s update of %s may not have been posted (Slack's answer was lost)",
            finding.specialist,
            incident.incident_id,
        )
    except IncidentCommanderError:
        log.exception("could not post the %s update of %s", finding.specialist, incident.incident_id)
        runtime.store.forget(marker)
    except Exception:
        log.exception("could not post the %s update of %s", finding.specialist, incident.incident_id)
