"""The commander's steps as plain functions over a Runtime: open an incident, finish it.

Each step is idempotent, so a retried or redelivered task repeats it safely:
- ``open_incident`` claims the failure (one incident per dedup key) and shows the opening message;
- ``finish_incident`` composes and keeps the report, then shows it in place of the opening.
Showing is ``commander.delivery.sync_top_message``: exactly one top-level message per incident,
even when Slack's answers are lost.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from commander.compose import compose
from commander.delivery import sync_top_message
from shared.contracts import AnyFinding, Incident, Report, Trigger, parse_finding, unavailable
from shared.errors import InvalidTrigger, RetryableError, SlackPermanent
from shared.runtime import Runtime
from shared.specialists import SPECIALISTS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Opened:
    incident: Incident | None  # None for a duplicate
    duplicate_of: str | None = None
    undelivered: str | None = None  # why Slack does not show its message yet (retryable), or None


def parse_trigger(payload: Mapping[str, Any]) -> Trigger:
    try:
        return Trigger.model_validate(payload)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '?'}: {e['msg']}" for e in exc.errors())
        raise InvalidTrigger(f"invalid trigger: {problems}") from exc


def open_incident(trigger: Trigger, *, runtime: Runtime, task_id: str) -> Opened:
    """Claim ``trigger`` for ``task_id`` and try once to show its top-level message.

    Slack trouble never holds the triage back: a retryable failure leaves ``Opened.undelivered``
    set (the task hands the message to the ``deliver`` task), a permanent one is recorded in
    ``failures`` (the report will try again on its own).
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
    undelivered = show(incident.incident_id, runtime=runtime, what="opening post")
    return Opened(incident=store.get_incident(incident.incident_id) or incident, undelivered=undelivered)


def show(incident_id: str, *, runtime: Runtime, what: str) -> str | None:
    """One attempt to make Slack show the incident's current message; the reason it did not, if retryable.

    A permanent refusal (channel_not_found, invalid_auth) is recorded in ``failures`` and not retried.
    """
    try:
        sync_top_message(incident_id, runtime=runtime)
    except RetryableError as exc:  # Slack, or another worker holding the message's lock
        log.warning("%s: %s not shown yet (%s); it will be retried", incident_id, what, exc)
        return str(exc)
    except SlackPermanent as exc:
        runtime.store.record_failure(
            what=f"{what} of {incident_id} refused by Slack", reason=f"{type(exc).__name__}: {exc}"
        )
        log.error("%s: %s refused by Slack: %s", incident_id, what, exc)
    return None


@dataclass(frozen=True)
class Finished:
    report: Report
    undelivered: str | None = None  # why Slack does not show it yet (retryable), or None


def finish_incident(
    incident_id: str, findings: Mapping[str, AnyFinding], *, runtime: Runtime, unless_reported: bool = False
) -> Finished | None:
    """Compose the report, keep it, and try once to make it the incident's top-level message.

    One composition at a time per incident (a Redis lock), so the deadline task and a late chord
    callback cannot interleave; with ``unless_reported`` (the deadline) nothing is done once a
    report exists. The report is kept before Slack is asked, so a Slack outage delays the post
    but never loses it (``Finished.undelivered``: the task hands it to ``deliver``).
    """
    with runtime.store.lock(f"report:{incident_id}", timeout_s=60):
        if unless_reported and is_reported(incident_id, runtime=runtime):
            return None
        incident = runtime.store.get_incident(incident_id)
        if incident is None:
            raise InvalidTrigger(f"unknown incident {incident_id} (expired or never opened)")
        report = compose(incident, findings)
        runtime.store.record_report(incident_id, report)
        runtime.store.set_field(incident_id, "reported_at", datetime.now(UTC).isoformat())
    return Finished(report=report, undelivered=show(incident_id, runtime=runtime, what="report"))


def findings_from_results(results: object) -> dict[str, AnyFinding]:
    """The chord callback's argument (a list of finding dicts) as findings by specialist."""
    found: dict[str, AnyFinding] = {}
    for item in results if isinstance(results, list) else []:
        try:
            finding = parse_finding(item)
        except ValidationError as exc:  # an old schema version is named in the message
            log.error("dropped a malformed finding: %s", "; ".join(e["msg"] for e in exc.errors())[:500])
            continue
        found[str(finding.specialist)] = finding
    return found


def missing_as_unavailable(found: Mapping[str, AnyFinding], reason: str) -> dict[str, AnyFinding]:
    """Fill in the registered specialists that never reported, naming why."""
    return {**{s.name: found.get(s.name) or unavailable(s.name, reason) for s in SPECIALISTS}, **found}


def is_reported(incident_id: str, *, runtime: Runtime) -> bool:
    return runtime.store.get_field(incident_id, "reported_at") is not None
