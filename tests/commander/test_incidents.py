"""The commander's steps are idempotent: redelivered and retried tasks never post twice.

Real parts: a throwaway Redis and the slack-sdk client against the Slack-compatible server.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from commander.incidents import finish_incident, open_incident, parse_trigger
from incident_cli.stack import RedisServer
from shared.contracts import Finding, FindingStatus, Specialist, Trigger
from shared.errors import InvalidTrigger, SlackRetryable
from shared.incident_store import IncidentStore
from shared.runtime import Runtime, build_runtime
from shared.settings import load_settings
from tests.slack_server import SlackServer


@pytest.fixture
def runtime(redis_server: RedisServer, slack_api: SlackServer, tmp_path: Path) -> Iterator[Runtime]:
    db = 2 + uuid.uuid4().int % 12  # tests share the session's Redis; each gets a clean database
    url = f"{redis_server.url}/{db}"
    redis.Redis.from_url(url).flushdb()
    settings = load_settings(CELERY_BROKER_URL=f"{redis_server.url}/0", CELERY_RESULT_BACKEND=url,
                             SLACK_BOT_TOKEN=slack_api.token, SLACK_API_URL=slack_api.base_url,
                             INCIDENT_OUTBOX=str(tmp_path / "outbox.jsonl"))
    yield build_runtime(settings)


TRIGGER = Trigger(dag_id="hourly_marts", task_id="dbt_build_marts", run_id="scheduled__2026-11-23T03:00:00+00:00",
                  model="fct_orders")


def test_a_redelivered_triage_resumes_its_own_incident_without_posting_again(
        runtime: Runtime, slack_api: SlackServer) -> None:
    first = open_incident(TRIGGER, runtime=runtime, task_id="task-1")
    again = open_incident(TRIGGER, runtime=runtime, task_id="task-1")  # acks_late redelivery

    assert first.incident is not None and again.incident is not None
    assert again.incident.incident_id == first.incident.incident_id
    assert again.incident.thread_ts == first.incident.thread_ts
    assert len(slack_api.top_level_messages("#incidents")) == 1


def test_a_second_trigger_for_the_same_failure_is_a_duplicate(runtime: Runtime, slack_api: SlackServer) -> None:
    first = open_incident(TRIGGER, runtime=runtime, task_id="task-1")
    duplicate = open_incident(TRIGGER, runtime=runtime, task_id="task-2")

    assert first.incident is not None
    assert duplicate.incident is None
    assert duplicate.duplicate_of == first.incident.incident_id
    assert len(slack_api.top_level_messages("#incidents")) == 1


def test_incident_ids_are_readable_and_increase(runtime: Runtime) -> None:
    ids = [open_incident(TRIGGER.model_copy(update={"try_number": n}), runtime=runtime, task_id=f"t{n}")
           for n in (1, 2)]
    first, second = (o.incident.incident_id for o in ids if o.incident)
    assert first.startswith("INC-") and first.endswith("-0001")
    assert second.endswith("-0002")


def test_finishing_twice_updates_the_same_post(runtime: Runtime, slack_api: SlackServer) -> None:
    opened = open_incident(TRIGGER, runtime=runtime, task_id="task-1")
    assert opened.incident is not None
    found = {Specialist.LOG_ANALYZER: Finding(specialist=Specialist.LOG_ANALYZER, status=FindingStatus.OK,
                                              summary="invalid_identifier in model fct_orders")}

    finish_incident(opened.incident.incident_id, found, runtime=runtime)
    report = finish_incident(opened.incident.incident_id, found, runtime=runtime)  # a retried callback
    assert report is not None

    assert len(slack_api.top_level_messages("#incidents")) == 1
    assert len(slack_api.calls("chat.update")) == 2
    [post] = slack_api.top_level_messages("#incidents")
    assert "ROOT CAUSE" in str(post["blocks"])
    assert report.root_cause == "invalid_identifier in model fct_orders"


def test_the_opening_post_is_retried_on_a_server_error_and_made_once(runtime: Runtime,
                                                                     slack_api: SlackServer) -> None:
    slack_api.fail("chat.postMessage", status=503, times=1)
    opened = open_incident(TRIGGER, runtime=runtime, task_id="task-1")
    assert opened.incident is not None
    assert len(slack_api.top_level_messages("#incidents")) == 1


def test_slack_refusing_the_opening_post_does_not_stop_the_triage(runtime: Runtime, slack_api: SlackServer) -> None:
    # Given Slack refuses the opening post for good once (a permanent error is not retried)
    slack_api.fail_with("chat.postMessage", error="channel_not_found")
    opened = open_incident(TRIGGER, runtime=runtime, task_id="task-1")

    # Then the incident goes on without a thread, and the failure is on record
    assert opened.incident is not None and opened.incident.thread_ts is None
    assert "opening post" in runtime.store.failures()[0]["what"]
    # and the report is posted on its own: still one top-level post
    finish_incident(opened.incident.incident_id, {}, runtime=runtime)
    [post] = slack_api.top_level_messages("#incidents")
    assert "ROOT CAUSE" in str(post["blocks"])


def test_a_retryable_slack_error_is_raised_for_the_task_to_retry_until_the_last_attempt(
        runtime: Runtime, slack_api: SlackServer) -> None:
    slack_api.fail("chat.postMessage", status=503, times=10)  # more than the SDK's own retries
    with pytest.raises(SlackRetryable):
        open_incident(TRIGGER, runtime=runtime, task_id="task-1")
    opened = open_incident(TRIGGER, runtime=runtime, task_id="task-1", last_attempt=True)
    assert opened.incident is not None and opened.incident.thread_ts is None


def test_the_deadline_does_nothing_once_the_report_is_out(runtime: Runtime, slack_api: SlackServer) -> None:
    opened = open_incident(TRIGGER, runtime=runtime, task_id="task-1")
    assert opened.incident is not None
    assert finish_incident(opened.incident.incident_id, {}, runtime=runtime) is not None
    assert finish_incident(opened.incident.incident_id, {}, runtime=runtime, unless_reported=True) is None
    assert len(slack_api.calls("chat.update")) == 1


def test_an_invalid_trigger_is_refused_with_the_field_named() -> None:
    with pytest.raises(InvalidTrigger, match="dag_id"):
        parse_trigger({"dag_id": "bad id; rm -rf", "task_id": "t", "run_id": "r"})
    with pytest.raises(InvalidTrigger, match="schema_version"):
        parse_trigger({"schema_version": 2, "dag_id": "d", "task_id": "t", "run_id": "r"})


def test_failures_are_recorded_where_an_operator_sees_them(runtime: Runtime) -> None:
    store: IncidentStore = runtime.store
    store.record_failure(what="invalid trigger", reason="dag_id: bad", payload={"dag_id": "x y"})
    [entry] = store.failures()
    assert entry["what"] == "invalid trigger" and entry["payload"] == {"dag_id": "x y"}
