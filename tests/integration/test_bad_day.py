"""The bad day, on real parts: poison messages, Slack that loses its answers or goes down, a
commander killed mid-post, a clock that jumps, a trigger that points outside the log folder.

Each test states the guarantee it proves; the README's reliability section lists them.
Real Redis, the workers as processes, slack-sdk against the Slack-compatible test server
(its outage/ghost/slow windows reproduce what an adversarial run saw).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from commander.producer import send_trigger
from incident_cli.stack import Stack
from shared.celery_app import TaskName, make_app
from shared.contracts import Specialist, Trigger
from shared.incident_store import IncidentStore
from tests.integration.conftest import settings_for, wait_for_incident_id, wait_for_report
from tests.slack_server import SlackServer

pytestmark = pytest.mark.integration


def _store(stack: Stack) -> IncidentStore:
    return IncidentStore.from_url(stack.worker_env["CELERY_RESULT_BACKEND"])


def _trigger(run: str) -> Trigger:
    return Trigger(dag_id="hourly_marts", task_id="dbt_build_marts", run_id=f"manual__{run}", model="fct_orders")


def _wait_until_no_delivery_is_pending(stack: Stack, *, timeout_s: float = 120) -> None:
    client = redis.Redis.from_url(stack.worker_env["CELERY_RESULT_BACKEND"])
    deadline, quiet_since = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        if any(client.scan_iter("pic:once:*:delivery")):
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > 3:
            return
        time.sleep(0.2)
    raise AssertionError("deliveries still pending")


def _report_posts(slack: SlackServer) -> list[dict[str, object]]:
    return [m for m in slack.top_level_messages("#incidents") if "ROOT CAUSE" in str(m.get("blocks"))]


def test_a_poison_message_is_rejected_once_and_the_next_trigger_is_posted(
    make_stack: Callable[..., Stack], env: dict[str, str], slack_api: SlackServer
) -> None:
    stack = make_stack(env)
    settings = settings_for(stack, env)
    sender = make_app("poison-sender", settings=settings)
    # Given a valid-JSON trigger nested 500 deep (it used to kill the worker's main process on
    # every redelivery) and a 10 MB one, sent by task name as anyone with broker access could
    nested: object = "x"
    for _ in range(500):
        nested = {"a": nested}
    sender.send_task(
        TaskName.TRIAGE.value,
        args=({"dag_id": "d", "task_id": "t", "run_id": "r", "context": nested},),
        queue="commander",
    )
    sender.send_task(
        TaskName.TRIAGE.value,
        args=({"dag_id": "d", "task_id": "t", "run_id": "r2", "exception": "password=hunter2 " + "x" * 10_000_000},),
        queue="commander",
    )
    # and one whose poison is in the headers (decoded by the transport, pickled for the pool)
    sender.send_task(
        TaskName.TRIAGE.value,
        args=({"dag_id": "d", "task_id": "t", "run_id": "r3"},),
        queue="commander",
        headers={"x": nested},
    )
    # When a normal trigger follows them
    trigger = _trigger("after_poison")
    send_trigger(trigger, settings=settings)
    store = _store(stack)
    wait_for_report(store, wait_for_incident_id(store, trigger.dedup_key))

    # Then it is posted, once, by a commander that never died
    assert stack.workers["commander"].poll() is None
    assert len(slack_api.top_level_messages("#incidents")) == 1
    # and each poison is on record, trimmed and redacted, and was not redelivered
    rejected = [f for f in store.failures() if "rejected before decoding" in f["what"]]
    reasons = " | ".join(f["reason"] for f in rejected)
    assert len(rejected) == 3, rejected
    for why in (
        "headers nested deeper than 64 levels",
        "message nested deeper than 64 levels",
        "over the 4,194,304-byte limit",
    ):
        assert why in reasons
    assert all(len(str(f)) < 2_000 and "hunter2" not in str(f) for f in rejected)


def test_slack_that_loses_its_answers_for_a_minute_still_gives_one_post_per_trigger(
    make_stack: Callable[..., Stack], env: dict[str, str], slack_api: SlackServer
) -> None:
    # Given a Slack that for 30 s does every post and update and answers 500 ("ghost"), then for
    # 30 s does them and answers after the client has given up ("slow")
    env = {**env, "SLACK_TIMEOUT_S": "1"}
    stack = make_stack(env)
    settings = settings_for(stack, env)
    slack_api.ghost(30, methods=("chat.postMessage", "chat.update"))
    slack_api.slow(30, delay_s=2, start_in_s=30)
    # When three failures arrive during it
    triggers = [_trigger(f"ghost{i}") for i in range(3)]
    for trigger in triggers:
        send_trigger(trigger, settings=settings)
        time.sleep(15)  # the third arrives as the slow spell begins
    # Then each ends in exactly one top-level post, and that post is its report
    store = _store(stack)
    for trigger in triggers:
        wait_for_report(store, wait_for_incident_id(store, trigger.dedup_key), timeout_s=180)
    _wait_until_no_delivery_is_pending(stack)  # a late duplicate would come from one of them
    posts = slack_api.top_level_messages("#incidents")
    assert len(posts) == 3, [p.get("text") for p in posts]
    assert len(_report_posts(slack_api)) == 3
    assert (
        sum(1 for c in slack_api.calls("chat.postMessage") if not c.params.get("thread_ts") and c.status != 200) >= 1
    )  # the bad spell did happen


def test_a_slack_outage_longer_than_the_deadline_ends_in_the_report_posted_once_after_recovery(
    make_stack: Callable[..., Stack], env: dict[str, str], slack_api: SlackServer
) -> None:
    env = {**env, "REPORT_DEADLINE_S": "5"}
    stack = make_stack(env)
    settings = settings_for(stack, env)
    # Given Slack answers 503 to everything for three times the report deadline
    slack_api.outage(15)
    trigger = _trigger("outage")
    send_trigger(trigger, settings=settings)
    store = _store(stack)
    incident_id = wait_for_incident_id(store, trigger.dedup_key)
    # When Slack comes back, then the report is posted, once, and nothing else is
    report = wait_for_report(store, incident_id, timeout_s=120)
    assert slack_api.calls("chat.postMessage")[0].status == 503  # the outage did happen
    [post] = slack_api.top_level_messages("#incidents")
    assert "ROOT CAUSE" in str(post["blocks"]) and incident_id in str(post["blocks"])
    assert report.trigger.dedup_key == trigger.dedup_key
    assert not [f for f in store.failures() if incident_id in f["what"]]


def test_a_commander_killed_between_the_post_and_the_chord_resumes_its_own_message(
    make_stack: Callable[..., Stack], env: dict[str, str], slack_api: SlackServer
) -> None:
    # Given a commander that is SIGKILLed right after Slack took its top-level post
    env = {**env, "INCIDENT_FAULT_INJECTION": "commander:kill-after-post", "SLACK_TIMEOUT_S": "2"}
    stack = make_stack(env)
    trigger = _trigger("killed_commander")
    send_trigger(trigger, settings=settings_for(stack, env))
    store = _store(stack)
    incident_id = wait_for_incident_id(store, trigger.dedup_key)
    wait_for_report(store, incident_id, timeout_s=120)  # the dead holder's lock expires first
    # Then the retried triage adopted that message: one post, and it is the report
    [post] = slack_api.top_level_messages("#incidents")
    assert "ROOT CAUSE" in str(post["blocks"])
    incident = store.get_incident(incident_id)
    assert incident is not None and incident.thread_ts == post["ts"]
    assert len([c for c in slack_api.calls("chat.postMessage") if not c.params.get("thread_ts")]) == 1


def test_a_deadline_fired_early_by_a_clock_jump_re_arms_instead_of_reporting(
    make_stack: Callable[..., Stack], env: dict[str, str], slack_api: SlackServer
) -> None:
    # Given only the commander runs (no specialist will ever answer) and a 60 s deadline
    env = {**env, "REPORT_DEADLINE_S": "60"}
    stack = make_stack(env, services=("commander",))
    settings = settings_for(stack, env)
    trigger = _trigger("early_deadline")
    send_trigger(trigger, settings=settings)
    store = _store(stack)
    incident_id = wait_for_incident_id(store, trigger.dedup_key)
    while store.get_field(incident_id, "dispatched_at") is None:
        time.sleep(0.05)
    # When the deadline task fires at once, as it does on a worker whose wall clock jumped ahead
    app = make_app("early", settings=settings)
    result = app.send_task(TaskName.FINALIZE_OVERDUE.value, args=(incident_id,)).get(timeout=30)
    app.close()
    # Then it re-arms for the time Redis's clock says is left, and no false report is made
    assert result["status"] == "re-armed" and 50 < result["remaining_s"] <= 60
    assert store.get_report(incident_id) is None
    assert _report_posts(slack_api) == []


def test_a_trigger_pointing_outside_the_log_folder_reads_nothing_there(
    make_stack: Callable[..., Stack], env: dict[str, str], slack_api: SlackServer, tmp_path: Path
) -> None:
    # Given a file outside every root, with an error-looking line
    outside = tmp_path / "outside" / "attempt=1.log"
    outside.parent.mkdir()
    outside.write_text("ERROR psycopg2.OperationalError: OUTSIDE-ROOT-MARKER connection refused\n")
    stack = make_stack(env)
    settings = settings_for(stack, env)
    trigger = Trigger(
        dag_id="hourly_marts", task_id="dbt_build_marts", run_id="manual__escape", log_location=str(outside)
    )
    send_trigger(trigger, settings=settings)
    store = _store(stack)
    report = wait_for_report(store, wait_for_incident_id(store, trigger.dedup_key))
    # Then nothing of it reached Slack or the report, and the finding says why it was not used
    assert "OUTSIDE-ROOT-MARKER" not in " ".join(str(c.params) for c in slack_api.calls())
    assert "OUTSIDE-ROOT-MARKER" not in report.model_dump_json()
    log_finding = next(f for f in report.findings if f.specialist is Specialist.LOG_ANALYZER)
    assert "outside AIRFLOW_LOG_FOLDER" in str(getattr(log_finding.details, "not_used", ()))
