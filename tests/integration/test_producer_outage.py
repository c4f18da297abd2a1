"""The producer when the broker is down or hung: it returns, spools, and the spool is delivered later.

The bound on blocking is behaviour (Airflow must not hang), so it is asserted with a generous
margin (3x the configured 2 s); how fast it returns in practice is the benchmark's business.
"""

from __future__ import annotations

import time
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

BOUND_S = 3 * 2.0  # INCIDENT_PUBLISH_TIMEOUT_S defaults to 2 s


def _timed_callback(context: dict[str, Any]) -> float:
    started = time.monotonic()
    trigger_incident_commander(context)  # must not raise
    return time.monotonic() - started


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

    elapsed_s = _timed_callback(airflow3_context())

    assert elapsed_s < BOUND_S
    assert len(spool.pending(spool_dir)) == 1

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
        elapsed_s = _timed_callback(airflow3_context(task_id="fct_orders"))
    finally:
        stack.redis.resume()

    assert elapsed_s < BOUND_S
    assert len(spool.pending(spool_dir)) == 1

    # When the next failure is reported with the broker healthy again
    trigger_incident_commander(airflow3_context(task_id="orders_daily"))

    # Then both failures end in a post, and the spool is empty
    store = IncidentStore.from_url(stack.worker_env["CELERY_RESULT_BACKEND"])
    for task_id in ("fct_orders", "orders_daily"):
        wait_for_report(store, wait_for_incident_id(store, f"hourly_marts:{task_id}:{RUN_ID}:-1:1"))
    assert spool.pending(spool_dir) == []
    assert len(slack_api.top_level_messages("#incidents")) == 2
