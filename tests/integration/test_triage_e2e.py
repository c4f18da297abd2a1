"""End to end on real parts: Redis, the workers as processes, slack-sdk against the test server.

Given an Airflow-shaped failure, when it goes through the producer, then exactly one top-level
post in #incidents carries the four sections, with each specialist's reply in its thread, and
no failure mode (duplicates, a raising or killed specialist, a 429) changes that count.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from commander.producer import make_failure_callback, send_trigger, trigger_incident_commander
from incident_cli.stack import Stack
from shared.contracts import FindingStatus, ReportStatus, Specialist, Trigger
from shared.incident_store import IncidentStore
from tests.conftest import FCT_ORDERS_OWNER
from tests.integration.conftest import (
    RUN_ID,
    SAMPLE_TRY,
    airflow3_context,
    settings_for,
    wait_for,
    wait_for_incident_id,
    wait_for_report,
)
from tests.slack_server import SlackServer

pytestmark = pytest.mark.integration

SECTIONS = ("ROOT CAUSE", "IMPACT", "OWNER", "NEXT ACTION")
DEDUP_KEY = f"hourly_marts:fct_orders:{RUN_ID}:-1:1"


def _store(stack: Stack) -> IncidentStore:
    return IncidentStore.from_url(stack.worker_env["CELERY_RESULT_BACKEND"])


def _top_level_text(slack: SlackServer) -> str:
    [message] = slack.top_level_messages("#incidents")
    return str(message.get("text", "")) + " " + str(message.get("blocks", ""))


def _specialist_replies(slack: SlackServer, thread_ts: str) -> dict[str, int]:
    counts = {s.value: 0 for s in Specialist}
    for call in slack.calls("chat.postMessage"):
        if call.params.get("thread_ts") == thread_ts:
            text = str(call.params.get("text", ""))
            for name in counts:
                if name.replace("_", " ") in text.lower() or name in text:
                    counts[name] += 1
    return counts


def test_airflow_failure_ends_in_one_post_with_four_sections_and_thread_replies(
    make_stack: Callable[..., Stack], env: dict[str, str], slack_api: SlackServer, producer_env: Any
) -> None:
    stack = make_stack(env)
    producer_env(stack, env)

    # Given a task-level callback, as Airflow 3 calls it
    make_failure_callback(model="fct_orders")(airflow3_context())

    store = _store(stack)
    incident_id = wait_for_incident_id(store, DEDUP_KEY)
    report = wait_for_report(store, incident_id)

    assert report.status is ReportStatus.COMPLETE, report.findings
    assert len(slack_api.top_level_messages("#incidents")) == 1
    text = _top_level_text(slack_api)
    for section in SECTIONS:
        assert section in text
    assert incident_id in text
    [opening] = slack_api.top_level_messages("#incidents")
    assert len(slack_api.calls("chat.update")) == 1
    replies = _specialist_replies(slack_api, opening["ts"])
    assert replies == {s.value: 1 for s in Specialist}, replies
    # the owner is pinged once, in the thread, by Slack user id, and named in the OWNER section
    pings = [r for r in slack_api.replies(opening["ts"]) if FCT_ORDERS_OWNER in str(r.get("text", ""))]
    assert len(pings) == 1
    assert FCT_ORDERS_OWNER in text
    # the root cause comes from the real log, not from the exception text Airflow carried
    log_finding = next(f for f in report.findings if f.specialist is Specialist.LOG_ANALYZER)
    assert log_finding.status is FindingStatus.OK
    assert not report.root_cause.startswith("Airflow reported")
    # and the durable history has it, written by its own task after the report
    recorded = _recorded(env["INCIDENT_DB_URL"], incident_id)
    assert recorded.incident.channel in ("#incidents", slack_api.channel_id("#incidents"))
    assert recorded.incident.ts == opening["ts"]
    assert [m.dedup_key for m in recorded.members] == [DEDUP_KEY]
    assert recorded.incident.root_cause == report.root_cause
    assert recorded.incident.failed_node == "model.hourly_marts.fct_orders"
    # with its cause: the key object the error names and the fingerprint grouping will use
    assert recorded.incident.key_object == "amount_usd"
    assert (recorded.incident.fingerprint or "").startswith("fp1-")


def _recorded(url: str, incident_id: str, *, timeout_s: float = 30) -> Any:
    """The incident as the durable history holds it, once its writer has run (bounded wait)."""
    from shared.incident_db import open_store

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            found = open_store(url).get(incident_id)
        except Exception:  # not migrated yet: the commander migrates at start-up
            found = None
        if found is not None:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{incident_id} not in the history within {timeout_s} s")


def test_the_same_failure_reported_twice_gives_one_incident(
    make_stack: Callable[..., Stack], env: dict[str, str], slack_api: SlackServer, producer_env: Any
) -> None:
    stack = make_stack(env)
    producer_env(stack, env)

    # Airflow fires the callback twice for one failure (#27614)
    trigger_incident_commander(airflow3_context())
    trigger_incident_commander(airflow3_context())

    store = _store(stack)
    incident_id = wait_for_incident_id(store, DEDUP_KEY)
    wait_for_report(store, incident_id)
    wait_for(store, incident_id, "duplicate")
    assert len(slack_api.top_level_messages("#incidents")) == 1
    assert len([c for c in slack_api.calls("chat.postMessage") if not c.params.get("thread_ts")]) == 1

    # a later attempt (try 2) is a new failure, and a new incident
    trigger_incident_commander(airflow3_context(try_number=2))
    second = wait_for_incident_id(store, DEDUP_KEY.replace(":1", ":2"))
    wait_for_report(store, second)
    assert second != incident_id
    assert len(slack_api.top_level_messages("#incidents")) == 2


@pytest.mark.parametrize("fault", ["owner_notifier:raise", "query_profiler:raise"])
def test_a_specialist_that_raises_is_reported_unavailable(
    make_stack: Callable[..., Stack], env: dict[str, str], slack_api: SlackServer, fault: str
) -> None:
    env = {**env, "INCIDENT_FAULT_INJECTION": fault}
    stack = make_stack(env)
    settings = settings_for(stack, env)

    trigger = Trigger(dag_id="hourly_marts", task_id="fct_orders", run_id=RUN_ID, model="fct_orders", **SAMPLE_TRY)
    assert send_trigger(trigger, settings=settings).status == "sent"

    store = _store(stack)
    report = wait_for_report(store, wait_for_incident_id(store, trigger.dedup_key))
    broken = Specialist(fault.split(":")[0])
    statuses = {f.specialist: f for f in report.findings}
    assert report.status is ReportStatus.DEGRADED
    assert statuses[broken].status is FindingStatus.UNAVAILABLE
    assert "fault injected" in statuses[broken].summary
    assert all(f.status is not FindingStatus.UNAVAILABLE for s, f in statuses.items() if s is not broken)
    assert len(slack_api.top_level_messages("#incidents")) == 1
    assert "unavailable" in _top_level_text(slack_api).lower()


def test_a_specialist_killed_every_attempt_still_gives_one_degraded_post(
    make_stack: Callable[..., Stack], env: dict[str, str], slack_api: SlackServer
) -> None:
    # SIGKILL of the pool process, on every attempt: retried twice, then the chord's errback
    env = {**env, "INCIDENT_FAULT_INJECTION": "log_analyzer:kill"}
    stack = make_stack(env)
    settings = settings_for(stack, env)

    trigger = Trigger(
        dag_id="hourly_marts",
        task_id="fct_orders",
        run_id=RUN_ID,
        model="fct_orders",
        exception="AirflowException: Bash command failed.",
        **SAMPLE_TRY,
    )
    send_trigger(trigger, settings=settings)

    store = _store(stack)
    report = wait_for_report(store, wait_for_incident_id(store, trigger.dedup_key))
    log_finding = next(f for f in report.findings if f.specialist is Specialist.LOG_ANALYZER)
    assert report.status is ReportStatus.DEGRADED
    assert log_finding.status is FindingStatus.UNAVAILABLE
    assert "died" in log_finding.summary
    # the root cause falls back to what Airflow said, and says why
    assert report.root_cause.startswith("Airflow reported: AirflowException: Bash command failed.")
    assert len(slack_api.top_level_messages("#incidents")) == 1
    assert stack.workers["log_analyzer"].poll() is None  # the worker replaced its child and lives on


def test_a_specialist_killed_once_is_redelivered_and_the_report_is_complete(
    make_stack: Callable[..., Stack], env: dict[str, str], slack_api: SlackServer
) -> None:
    env = {**env, "INCIDENT_FAULT_INJECTION": "log_analyzer:kill-once"}
    stack = make_stack(env)
    settings = settings_for(stack, env)

    trigger = Trigger(dag_id="hourly_marts", task_id="fct_orders", run_id=RUN_ID, model="fct_orders", **SAMPLE_TRY)
    send_trigger(trigger, settings=settings)

    store = _store(stack)
    report = wait_for_report(store, wait_for_incident_id(store, trigger.dedup_key))
    assert report.status is ReportStatus.COMPLETE, report.findings
    assert len(slack_api.top_level_messages("#incidents")) == 1
    [opening] = slack_api.top_level_messages("#incidents")
    assert _specialist_replies(slack_api, opening["ts"])["log_analyzer"] == 1


def test_slack_rate_limit_is_retried_and_posts_once(
    make_stack: Callable[..., Stack], env: dict[str, str], slack_api: SlackServer
) -> None:
    stack = make_stack(env)
    settings = settings_for(stack, env)
    slack_api.rate_limit("chat.postMessage", times=1, retry_after_s=1)

    trigger = Trigger(dag_id="hourly_marts", task_id="fct_orders", run_id=RUN_ID, model="fct_orders", **SAMPLE_TRY)
    send_trigger(trigger, settings=settings)

    store = _store(stack)
    wait_for_report(store, wait_for_incident_id(store, trigger.dedup_key))
    top_level_calls = [c for c in slack_api.calls("chat.postMessage") if not c.params.get("thread_ts")]
    assert len(top_level_calls) == 2  # the 429, then the retry
    assert len(slack_api.top_level_messages("#incidents")) == 1


def test_a_specialist_over_its_time_limit_is_reported_unavailable(
    make_stack: Callable[..., Stack], env: dict[str, str], slack_api: SlackServer
) -> None:
    env = {**env, "INCIDENT_FAULT_INJECTION": "query_profiler:sleep=30", "SPECIALIST_SOFT_TIME_LIMIT_S": "2"}
    stack = make_stack(env)
    settings = settings_for(stack, env)

    trigger = Trigger(dag_id="hourly_marts", task_id="fct_orders", run_id=RUN_ID, model="fct_orders", **SAMPLE_TRY)
    send_trigger(trigger, settings=settings)

    store = _store(stack)
    report = wait_for_report(store, wait_for_incident_id(store, trigger.dedup_key))
    profiler = next(f for f in report.findings if f.specialist is Specialist.QUERY_PROFILER)
    assert profiler.status is FindingStatus.UNAVAILABLE
    assert profiler.summary == "timed out after 2 s"
    assert len(slack_api.top_level_messages("#incidents")) == 1


def test_a_specialist_with_no_worker_at_all_is_reported_at_the_deadline(
    make_stack: Callable[..., Stack], env: dict[str, str], slack_api: SlackServer
) -> None:
    # Given no owner_notifier worker running anywhere (its host is gone)
    env = {**env, "REPORT_DEADLINE_S": "4"}
    stack = make_stack(env, services=("commander", "log_analyzer", "query_profiler"))
    settings = settings_for(stack, env)

    trigger = Trigger(dag_id="hourly_marts", task_id="fct_orders", run_id=RUN_ID, model="fct_orders", **SAMPLE_TRY)
    send_trigger(trigger, settings=settings)

    store = _store(stack)
    report = wait_for_report(store, wait_for_incident_id(store, trigger.dedup_key))
    owners = next(f for f in report.findings if f.specialist is Specialist.OWNER_NOTIFIER)
    assert owners.status is FindingStatus.UNAVAILABLE
    assert owners.summary == "no result within 4 s"
    assert report.root_cause.startswith("invalid_identifier")  # what did arrive is used
    assert len(slack_api.top_level_messages("#incidents")) == 1


def test_hostile_log_text_cannot_mention_channel_or_leak_a_secret(
    make_stack: Callable[..., Stack], env: dict[str, str], slack_api: SlackServer, tmp_path: Path
) -> None:
    # Given a task log whose error line carries a credential and Slack control sequences
    log = tmp_path / "attempt=1.log"
    log.write_text(
        "[2026-11-23T03:01:50+0000] {subprocess.py:93} INFO - Running dbt\n"
        "[2026-11-23T03:01:52+0000] {taskinstance.py:3311} ERROR - Task failed with exception\n"
        "psycopg2.OperationalError: connection to postgres://etl:hunter2@db:5432/wh failed "
        "<!channel> <@U0ADMIN> <https://evil.example|click here> & more\n"
    )
    env["AIRFLOW_LOG_FOLDER"] = str(tmp_path)  # a trigger's log_location is read only inside the log folder
    stack = make_stack(env)
    settings = settings_for(stack, env)

    trigger = Trigger(dag_id="hourly_marts", task_id="load_raw", run_id="manual__hostile", log_location=str(log))
    send_trigger(trigger, settings=settings)

    store = _store(stack)
    wait_for_report(store, wait_for_incident_id(store, trigger.dedup_key))
    # Then nothing Slack received could ping anyone, link anywhere or show the password
    sent = " ".join(str(c.params) for c in slack_api.calls())
    assert "hunter2" not in sent
    assert "<!channel>" not in sent and "<@U0ADMIN>" not in sent and "<https://evil" not in sent
    assert "&lt;!channel&gt;" in sent  # shown, as text
