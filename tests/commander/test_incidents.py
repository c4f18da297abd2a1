"""The commander's steps are idempotent: redelivered and retried tasks never post twice.

Real parts: a throwaway Redis and the slack-sdk client against the Slack-compatible server.
"""

from __future__ import annotations

import time

import pytest

from commander.delivery import sync_top_message
from commander.incidents import finish_incident, open_incident, parse_trigger
from shared.contracts import AnyFinding, FindingStatus, LogFinding, Specialist, Trigger
from shared.errors import InvalidTrigger, SlackRetryable
from shared.incident_store import IncidentStore
from shared.runtime import Runtime
from tests.slack_server import SlackServer

TRIGGER = Trigger(
    dag_id="hourly_marts", task_id="dbt_build_marts", run_id="scheduled__2026-11-23T03:00:00+00:00", model="fct_orders"
)


def test_a_redelivered_triage_resumes_its_own_incident_without_posting_again(
    runtime: Runtime, slack_api: SlackServer
) -> None:
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
    ids = [
        open_incident(TRIGGER.model_copy(update={"try_number": n}), runtime=runtime, task_id=f"t{n}") for n in (1, 2)
    ]
    first, second = (o.incident.incident_id for o in ids if o.incident)
    assert first.startswith("INC-") and first.endswith("-0001")
    assert second.endswith("-0002")


def test_finishing_twice_keeps_one_post_and_sends_an_unchanged_report_once(
    runtime: Runtime, slack_api: SlackServer
) -> None:
    opened = open_incident(TRIGGER, runtime=runtime, task_id="task-1")
    assert opened.incident is not None
    found: dict[str, AnyFinding] = {
        Specialist.LOG_ANALYZER: LogFinding(status=FindingStatus.OK, summary="invalid_identifier in model fct_orders")
    }

    finish_incident(opened.incident.incident_id, found, runtime=runtime)
    finished = finish_incident(opened.incident.incident_id, found, runtime=runtime)  # a retried callback
    assert finished is not None

    assert len(slack_api.top_level_messages("#incidents")) == 1
    assert len(slack_api.calls("chat.update")) == 1
    [post] = slack_api.top_level_messages("#incidents")
    assert "ROOT CAUSE" in str(post["blocks"])
    assert finished.report.root_cause == "invalid_identifier in model fct_orders"


def test_a_server_error_on_the_opening_post_leaves_it_for_delivery_which_posts_it_once(
    runtime: Runtime, slack_api: SlackServer
) -> None:
    # Given Slack is down for the first post (503: nothing was done)
    slack_api.fail("chat.postMessage", status=503, times=1)
    opened = open_incident(TRIGGER, runtime=runtime, task_id="task-1")
    # Then the triage is not held back: the message is left for delivery
    assert opened.incident is not None and opened.incident.thread_ts is None and opened.undelivered
    assert slack_api.top_level_messages("#incidents") == []
    # When delivery runs, it waits until a lost post would have landed (SLACK_TIMEOUT_S + 2 s),
    with pytest.raises(SlackRetryable, match="may still land"):
        sync_top_message(opened.incident.incident_id, runtime=runtime)
    time.sleep(3.1)
    # then looks for the tagged message, finds none, and posts it once
    synced = sync_top_message(opened.incident.incident_id, runtime=runtime)
    assert synced.posted and not synced.adopted
    assert len(slack_api.top_level_messages("#incidents")) == 1
    assert len(slack_api.calls("conversations.history")) == 1


@pytest.mark.parametrize("mode", ["ghost", "slow"])
def test_a_post_whose_answer_was_lost_is_found_by_its_tag_and_never_posted_twice(
    runtime: Runtime, slack_api: SlackServer, mode: str
) -> None:
    # Given Slack posts the message but its answer is lost (a 500 after doing it, or past the time-out)
    if mode == "ghost":
        slack_api.ghost(5, methods=("chat.postMessage",))
    else:
        slack_api.slow(5, delay_s=2.5, methods=("chat.postMessage",))  # SLACK_TIMEOUT_S is 1 here
    opened = open_incident(TRIGGER, runtime=runtime, task_id="task-1")
    assert opened.incident is not None and opened.undelivered
    assert len(slack_api.top_level_messages("#incidents")) == 1  # it exists, though we were told otherwise
    # When the next attempt runs (even while posts still fail), once a lost post would have landed,
    time.sleep(3.1)  # SLACK_TIMEOUT_S (1) + SETTLE_S (2)
    # it adopts that message
    synced = sync_top_message(opened.incident.incident_id, runtime=runtime)
    assert synced.adopted and not synced.posted
    assert len(slack_api.top_level_messages("#incidents")) == 1
    # and the report updates that same message
    finish_incident(opened.incident.incident_id, {}, runtime=runtime)
    [post] = slack_api.top_level_messages("#incidents")
    assert "ROOT CAUSE" in str(post["blocks"])
    assert synced.incident.thread_ts == post["ts"]


def test_a_report_composed_while_slack_is_down_is_kept_and_shown_once_slack_is_back(
    runtime: Runtime, slack_api: SlackServer
) -> None:
    opened = open_incident(TRIGGER, runtime=runtime, task_id="task-1")
    assert opened.incident is not None and opened.incident.thread_ts is not None
    slack_api.outage(3)
    finished = finish_incident(opened.incident.incident_id, {}, runtime=runtime)
    assert finished is not None and finished.undelivered  # kept, not lost
    assert runtime.store.get_report(opened.incident.incident_id) is not None
    slack_api.reset_windows()
    sync_top_message(opened.incident.incident_id, runtime=runtime)
    [post] = slack_api.top_level_messages("#incidents")
    assert "ROOT CAUSE" in str(post["blocks"])


def test_slack_refusing_the_opening_post_does_not_stop_the_triage(runtime: Runtime, slack_api: SlackServer) -> None:
    # Given Slack refuses the opening post for good once (a permanent error is not retried)
    slack_api.fail_with("chat.postMessage", error="channel_not_found")
    opened = open_incident(TRIGGER, runtime=runtime, task_id="task-1")

    # Then the incident goes on without a thread, and the failure is on record
    assert opened.incident is not None and opened.incident.thread_ts is None and not opened.undelivered
    assert "opening post" in runtime.store.failures()[0]["what"]
    # and the report is posted on its own: still one top-level post
    finish_incident(opened.incident.incident_id, {}, runtime=runtime)
    [post] = slack_api.top_level_messages("#incidents")
    assert "ROOT CAUSE" in str(post["blocks"])


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
        parse_trigger({"schema_version": 3, "dag_id": "d", "task_id": "t", "run_id": "r"})


def test_failures_are_recorded_where_an_operator_sees_them(runtime: Runtime) -> None:
    store: IncidentStore = runtime.store
    store.record_failure(what="invalid trigger", reason="dag_id: bad", payload={"dag_id": "x y"})
    [entry] = store.failures()
    assert entry["what"] == "invalid trigger" and entry["payload"] == {"dag_id": "x y"}


def test_a_huge_rejected_payload_is_kept_trimmed_and_redacted_in_failures(runtime: Runtime) -> None:
    runtime.store.record_failure(
        what="invalid trigger",
        reason="password=hunter2 " + "r" * 50_000,
        payload={"exception": "password=hunter2 " + "x" * 10_000_000},
    )
    [entry] = runtime.store.failures()
    assert len(str(entry)) < 6_000 and "hunter2" not in str(entry)
    assert entry["payload"]["trimmed"] is True
