"""The deadline task (``finalize_overdue``) never replaces a report that is already out.

Real parts: Redis, the commander worker as a process (no specialist is started: none would answer
in time anyway), slack-sdk against the Slack-compatible test server. The tasks are sent by name
and run by the worker, as the commander sends them to itself.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from commander.producer import send_trigger
from incident_cli.stack import Stack
from shared.celery_app import TaskName, make_app
from shared.contracts import FindingStatus, LogDetails, LogFinding, Trigger, dump
from shared.incident_store import IncidentStore
from tests.integration.conftest import settings_for, wait_for, wait_for_incident_id, wait_for_report
from tests.slack_server import SlackServer

pytestmark = pytest.mark.integration

FINDING = LogFinding(
    status=FindingStatus.OK,
    summary='invalid_identifier in model fct_orders: Binder Error: Referenced column "amout" not found',
    details=LogDetails(error_class="invalid_identifier", failed_node="model.shop.fct_orders"),
)


def test_the_deadline_task_leaves_a_report_that_is_already_out_unchanged(
    make_stack: Callable[..., Stack], env: dict[str, str], slack_api: SlackServer
) -> None:
    # Given an incident opened by the commander (60 s deadline) and shown in Slack
    stack = make_stack(env, services=("commander",))
    settings = settings_for(stack, env)
    trigger = Trigger(
        dag_id="hourly_marts", task_id="dbt_build_marts", run_id="manual__deadline_after_report", model="fct_orders"
    )
    send_trigger(trigger, settings=settings)
    store = IncidentStore.from_url(stack.worker_env["CELERY_RESULT_BACKEND"])
    incident_id = wait_for_incident_id(store, trigger.dedup_key)
    wait_for(store, incident_id, "opened")
    # and its report out: the log analyzer's finding recorded (as the specialist records it) and the
    # chord callback run on it (the other specialists "returned no finding")
    app = make_app("deadline-test", settings=settings)
    store.record_finding(incident_id, FINDING)
    composed = app.send_task(
        TaskName.COMPOSE_REPORT.value, args=([dump(FINDING)],), kwargs={"incident_id": incident_id}
    ).get(timeout=30)
    assert composed == {"status": "degraded", "incident_id": incident_id}
    report = wait_for_report(store, incident_id)
    shown = slack_api.top_level_messages("#incidents")
    updates = len(slack_api.calls("chat.update"))

    # When the deadline has passed by Redis's clock and the deadline task runs
    store.set_field(incident_id, "dispatched_at", f"{store.server_time_s() - 61:.6f}")
    result = app.send_task(TaskName.FINALIZE_OVERDUE.value, args=(incident_id,)).get(timeout=30)
    app.close()

    # Then it says the report is out and leaves it alone: the stored report, the Slack message and
    # its update count are what they were (a recomposition would say "no result within 60 s")
    assert result == {"status": "already reported", "incident_id": incident_id}
    assert store.get_report(incident_id) == report
    assert slack_api.top_level_messages("#incidents") == shown
    assert len(slack_api.calls("chat.update")) == updates
