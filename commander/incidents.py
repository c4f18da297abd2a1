"""The commander's steps as plain functions over a Runtime: open an incident, finish it.

Each step is idempotent, so a retried or redelivered task repeats it safely:
- ``open_incident`` claims the failure (one incident per dedup key) and posts the opening
  message only if the incident has none yet;
- ``finish_incident`` replaces that message with the report (``chat.update``), so a second
  run updates the same post instead of posting again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from commander.compose import compose
from shared.contracts import Finding, Incident, Report, Specialist, Trigger
from shared.errors import InvalidTrigger, SlackPermanent, SlackRetryable
from shared.runtime import Runtime
from shared.slack_format import opening_blocks, report_blocks

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Opened:
    incident: Incident | None  # None for a duplicate
    duplicate_of: str | None = None


def parse_trigger(payload: Mapping[str, Any]) -> Trigger:
    try:
        return Trigger.model_validate(payload)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '?'}: {e['msg']}" for e in exc.errors())
        raise InvalidTrigger(f"invalid trigger: {problems}") from exc


def open_incident(trigger: Trigger, *, runtime: Runtime, task_id: str, last_attempt: bool = False) -> Opened:
    """Claim ``trigger`` for ``task_id`` and make sure its opening message exists.

    Slack errors propagate (the task retries them) unless it is the ``last_attempt`` or Slack
    refused for good: then the incident goes on without an opening message, and
    ``finish_incident`` posts the report as a new message (it may fail too: then it is recorded).
    """
    store = runtime.store
    claim = store.claim(trigger.dedup_key, owner_task_id=task_id)
    if not claim.is_new:
        log.info("duplicate trigger %s (incident %s)", trigger.dedup_key, claim.incident_id or "being opened")
        if claim.incident_id:
            store.publish(claim.incident_id, "duplicate", trigger.model_dump_json())
        return Opened(incident=None, duplicate_of=claim.incident_id or trigger.dedup_key)
    incident = store.get_incident(claim.incident_id)
    if incident is None:
        incident = Incident(incident_id=claim.incident_id, trigger=trigger, channel=runtime.settings.slack_channel)
        store.save_incident(incident)
    if incident.thread_ts is None and store.get_field(incident.incident_id, "opening_failed") is None:
        text, blocks = opening_blocks(incident)
        try:
            posted = runtime.sink.post(channel=incident.channel, text=text, blocks=blocks)
        except (SlackPermanent, SlackRetryable) as exc:
            if isinstance(exc, SlackRetryable) and not last_attempt:
                raise
            store.set_field(incident.incident_id, "opening_failed", str(exc))
            store.record_failure(what=f"opening post of {incident.incident_id} failed; triage goes on",
                                 reason=f"{type(exc).__name__}: {exc}")
            log.error("%s: opening post failed (%s); the report will be posted on its own",
                      incident.incident_id, exc)
            return Opened(incident=incident)
        incident = incident.model_copy(update={"channel": posted.channel, "thread_ts": posted.ts})
        store.save_incident(incident)
        store.publish(incident.incident_id, "opened", incident.model_dump_json())
    return Opened(incident=incident)


def finish_incident(incident_id: str, findings: Mapping[Specialist, Finding], *, runtime: Runtime,
                    unless_reported: bool = False) -> Report | None:
    """Compose the report and make it the incident's one top-level post.

    One at a time per incident (a Redis lock), so the deadline task and a late chord callback
    cannot interleave; with ``unless_reported`` (the deadline) nothing is done once a report is out.
    """
    with runtime.store.lock(f"report:{incident_id}", timeout_s=60):
        if unless_reported and is_reported(incident_id, runtime=runtime):
            return None
        incident = runtime.store.get_incident(incident_id)
        if incident is None:
            raise InvalidTrigger(f"unknown incident {incident_id} (expired or never opened)")
        report = compose(incident, findings)
        text, blocks = report_blocks(report)
        if incident.thread_ts is None:  # the opening post failed for good: post the report instead
            posted = runtime.sink.post(channel=incident.channel, text=text, blocks=blocks)
            runtime.store.save_incident(incident.model_copy(update={"channel": posted.channel,
                                                                      "thread_ts": posted.ts}))
        else:
            runtime.sink.update(channel=incident.channel, ts=incident.thread_ts, text=text, blocks=blocks)
        runtime.store.record_report(incident_id, report)
        runtime.store.set_field(incident_id, "reported_at", datetime.now(UTC).isoformat())
        return report


def findings_from_results(results: object) -> dict[Specialist, Finding]:
    """The chord callback's argument (a list of Finding dicts) as findings by specialist."""
    found: dict[Specialist, Finding] = {}
    for item in results if isinstance(results, list) else []:
        try:
            finding = Finding.model_validate(item)
        except ValidationError:
            log.error("dropped a malformed finding: %.200r", item)
            continue
        found[finding.specialist] = finding
    return found


def missing_as_unavailable(found: Mapping[Specialist, Finding], reason: str) -> dict[Specialist, Finding]:
    """Fill in the specialists that never reported, naming why."""
    return {s: found.get(s) or Finding.unavailable(s, reason) for s in Specialist}


def is_reported(incident_id: str, *, runtime: Runtime) -> bool:
    return runtime.store.get_field(incident_id, "reported_at") is not None

