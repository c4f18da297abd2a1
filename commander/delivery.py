"""The incident's one top-level Slack message, exactly once, whatever Slack answers.

``sync_top_message`` makes Slack show the incident's current content: the report once it is
composed, the opening ("triage in progress") before. It is the only code that posts or updates
the top-level message, and it is safe to call any number of times, from any worker, at any moment:

1. One caller at a time per incident (a Redis lock).
2. No message yet: if an earlier attempt recorded an *intent* to post, first look for the message
   it tagged (``find_tagged``: Slack may have posted it and lost the answer, or the worker may
   have died right after posting). Found: adopt it. Not found: record a new intent, then post.
   A post whose answer is lost (SlackAmbiguous) leaves the intent behind, so the next attempt
   looks before it posts. Nobody posts while the search itself fails.
3. A message that does not show the current report yet is updated (``chat.update`` by ts is
   idempotent); a digest of what it shows is kept so an unchanged report is not sent twice.

Nothing here retries, sleeps or records a failure: what fails is raised, and the ``deliver`` task
(commander/tasks.py) tries again on the SLACK_DELIVERY policy (shared/retry_policy.py) until Slack
is back: the report deadline bounds *what* the report waits for, never *whether* it is posted.

Times that decide anything come from Redis's clock (``server_time_s``), one clock for every
worker. The lock outlives the Slack calls made under it, is refreshed right before a post, and a
holder that lost it (it expired while Slack kept us waiting) stops before posting (IncidentBusy).
A search comes only once a lost post has had time to land: Slack may still commit a post whose
answer timed out, so searching at once could miss it and post a second.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis

from shared import faults
from shared.contracts import Incident
from shared.errors import IncidentBusy, InvalidTrigger, SlackPermanent, SlackRetryable
from shared.runtime import Runtime
from shared.slack_format import opening_blocks, report_blocks

log = logging.getLogger(__name__)

# The lock outlives the Slack calls made under it (a post, maybe a search and an update, each
# bounded by SLACK_TIMEOUT_S); a holder that was killed delays the next caller by at most this.
LOCK_MARGIN_S = 30.0
# A post whose answer was lost is looked for only once it is this much older than the client's
# time-out: Slack may still be committing it.
SETTLE_S = 2.0
_INTENT = "post_intent_at"
_SHOWS = "top_shows"


@dataclass(frozen=True)
class Synced:
    incident: Incident
    shows: str  # "opening" | "report"
    posted: bool  # this call created the message
    adopted: bool  # an earlier attempt's message was found and taken over


def top_tag(incident_id: str) -> str:
    """The tag carried by the incident's top-level message (Slack message metadata)."""
    return f"{incident_id}:top"


def sync_top_message(incident_id: str, *, runtime: Runtime) -> Synced:
    """Post or update the incident's top-level message so that it shows the current content.

    Raises SlackRetryable (including SlackAmbiguous), IncidentBusy or SlackPermanent; state in
    Redis is left so that calling again is always right.
    """
    store = runtime.store
    lock_s = 2 * runtime.settings.slack_timeout_s + LOCK_MARGIN_S
    try:
        with store.lock(f"top:{incident_id}", timeout_s=lock_s) as lock:
            return _sync(incident_id, runtime=runtime, still_mine=lock.reacquire)
    except redis.exceptions.LockError as exc:  # not acquired in time, or lost while we waited on Slack
        raise IncidentBusy(f"{incident_id}: another worker holds its message lock ({exc})", retry_after_s=2.0) from exc


def _sync(incident_id: str, *, runtime: Runtime, still_mine: Callable[[], object]) -> Synced:
    store = runtime.store
    incident = store.get_incident(incident_id)
    if incident is None:
        raise InvalidTrigger(f"unknown incident {incident_id} (expired or never opened)")
    report = store.get_report(incident_id)
    text, blocks = report_blocks(report) if report is not None else opening_blocks(incident)
    digest = _digest(text, blocks)
    shows = "report" if report is not None else "opening"
    posted = adopted = False
    if incident.thread_ts is None:
        incident, posted, adopted = _ensure_posted(
            incident, text=text, blocks=blocks, runtime=runtime, still_mine=still_mine
        )
        store.set_field(incident_id, _SHOWS, digest if posted else "unknown")
        store.publish(incident_id, "opened", incident.model_dump_json())
    if store.get_field(incident_id, _SHOWS) != digest:
        assert incident.thread_ts is not None
        runtime.sink.update(channel=incident.channel, ts=incident.thread_ts, text=text, blocks=blocks)
        store.set_field(incident_id, _SHOWS, digest)
    if report is not None:  # the report is in Slack: `watch`, the CLI and the tests wait for this
        store.publish(incident_id, "delivered", json.dumps({"channel": incident.channel, "ts": incident.thread_ts}))
    return Synced(incident=incident, shows=shows, posted=posted, adopted=adopted)


def _ensure_posted(
    incident: Incident, *, text: str, blocks: list[dict[str, Any]], runtime: Runtime, still_mine: Callable[[], object]
) -> tuple[Incident, bool, bool]:
    """The incident with its top-level message: adopted from an earlier attempt, or posted now."""
    store, sink, incident_id = runtime.store, runtime.sink, incident.incident_id
    tag = top_tag(incident_id)
    intent = store.get_field(incident_id, _INTENT)
    found = None
    if intent is not None:
        age_s = store.server_time_s() - float(intent)
        settle_s = runtime.settings.slack_timeout_s + SETTLE_S
        if age_s < settle_s:
            raise SlackRetryable(
                f"{incident_id}: an earlier post may still land; looking in {settle_s - age_s:.1f} s",
                retry_after_s=settle_s - age_s,
            )
        found = sink.find_tagged(channel=incident.channel, tag=tag, since_s=float(intent))
        if found is not None:
            log.warning("%s: adopted the top-level message %s posted by an earlier attempt", incident_id, found.ts)
    posted = found is None
    if found is None:
        still_mine()  # refreshes the lock, or raises if another worker took it over meanwhile
        # The intent is recorded before the post: whoever comes next looks before posting again.
        store.set_field(incident_id, _INTENT, f"{store.server_time_s():.6f}")
        try:
            found = sink.post(channel=incident.channel, text=text, blocks=blocks, tag=tag)
        except SlackPermanent:  # refused (channel_not_found, invalid_auth): certainly not posted
            store.delete_field(incident_id, _INTENT)
            raise
        faults.inject(
            "commander", "kill-after-post", key=incident_id, store=store, spec=runtime.settings.fault_injection
        )
    incident = incident.model_copy(update={"channel": found.channel, "thread_ts": found.ts})
    store.save_incident(incident)
    return incident, posted, not posted


def _digest(text: str, blocks: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps([text, blocks], sort_keys=True).encode()).hexdigest()[:32]
