"""The producer when the broker is down or hung: it returns, spools, and the spool is delivered later.

Not blocking Airflow is shown as behaviour: the callback returns while the broker is still down or
wedged (a hang is caught by the test's time-out) and the trigger is in the spool. How long it waits
before giving up is printed by ``bench/outage_bench.py``; tests never assert speed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from commander import spool
from commander.producer import flush_spool, trigger_incident_commander
from incident_cli.stack import Stack, free_port
from shared.incident_store import IncidentStore
from shared.settings import get_settings
from tests.integration.conftest import RUN_ID, airflow3_context, wait_for_incident_id, wait_for_report
from tests.slack_server import SlackServer

pytestmark = pytest.mark.integration


def _spooled_tasks(spool_dir: Path) -> list[str]:
    return [json.loads(path.read_text())["task_id"] for path in spool.pending(spool_dir)]


def test_broker_stopped_spools_then_flush_delivers(
    make_stack: Callable[..., Stack],
    env: dict[str, str],
    slack_api: SlackServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    # Given no broker listening
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    dead = f"redis://127.0.0.1:{free_port()}"
    monkeypatch.setenv("CELERY_BROKER_URL", f"{dead}/0")
    monkeypatch.setenv("CELERY_RESULT_BACKEND", f"{dead}/1")
    get_settings.cache_clear()
    spool_dir = Path(env["INCIDENT_SPOOL_DIR"])

    # When a task fails, Then the callback returns without raising and the trigger waits in the spool
    trigger_incident_commander(airflow3_context())
    assert _spooled_tasks(spool_dir) == ["fct_orders"]

    # When the broker is back and someone runs flush-spool
    stack = make_stack(env)
    monkeypatch.setenv("CELERY_BROKER_URL", stack.worker_env["CELERY_BROKER_URL"])
    monkeypatch.setenv("CELERY_RESULT_BACKEND", stack.worker_env["CELERY_RESULT_BACKEND"])
    get_settings.cache_clear()
    result = flush_spool()

    # Then the trigger becomes the one incident post
    assert (result.sent, result.remaining) == (1, 0)
    store = IncidentStore.from_url(stack.worker_env["CELERY_RESULT_BACKEND"])
    wait_for_report(store, wait_for_incident_id(store, f"hourly_marts:fct_orders:{RUN_ID}:-1:1"))
    assert len(slack_api.top_level_messages("#incidents")) == 1
    get_settings.cache_clear()


def test_broker_hung_spools_and_the_next_successful_call_delivers_it(
    make_stack: Callable[..., Stack], env: dict[str, str], slack_api: SlackServer, producer_env: Any
) -> None:
    stack = make_stack(env)
    producer_env(stack, env)
    assert stack.redis is not None
    spool_dir = Path(env["INCIDENT_SPOOL_DIR"])

    # Given Redis wedged: it accepts connections and answers nothing
    stack.redis.pause()
    try:
        # When a task fails, Then the callback returns while Redis is still wedged, without raising
        trigger_incident_commander(airflow3_context(task_id="fct_orders"))
    finally:
        stack.redis.resume()
    # and the trigger waits in the spool
    assert _spooled_tasks(spool_dir) == ["fct_orders"]

    # When the next failure is reported with the broker healthy again
    trigger_incident_commander(airflow3_context(task_id="orders_daily"))

    # Then both failures end in a post, and the spool is empty
    store = IncidentStore.from_url(stack.worker_env["CELERY_RESULT_BACKEND"])
    for task_id in ("fct_orders", "orders_daily"):
        wait_for_report(store, wait_for_incident_id(store, f"hourly_marts:{task_id}:{RUN_ID}:-1:1"))
    assert spool.pending(spool_dir) == []
    assert len(slack_api.top_level_messages("#incidents")) == 2
