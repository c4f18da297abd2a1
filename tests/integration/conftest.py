"""Helpers for the end-to-end tests: settings pointing at a running stack, waiting for events."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from incident_cli.stack import Stack
from shared.contracts import Report
from shared.incident_store import IncidentStore
from shared.settings import Settings, get_settings, load_settings
from tests.conftest import SAMPLE, sample_env
from tests.slack_server import SlackServer

RUN_ID = "scheduled__2026-11-23T03:00:00+00:00"
# The sample's try, as its real Airflow 3 callback recorded it (tests/fixtures/airflow/contexts/3.3.2/
# hourly_marts__dbt_build_marts.json): the sample's dbt artifacts were written inside it.
SAMPLE_STARTED = datetime(2026, 11, 23, 3, 1, 48, 483905, tzinfo=UTC)
SAMPLE_ENDED = datetime(2026, 11, 23, 3, 2, 6, 983270, tzinfo=UTC)
SAMPLE_TRY: dict[str, Any] = {"started_at": SAMPLE_STARTED, "ended_at": SAMPLE_ENDED}


class AirflowException(Exception):
    """Stands in for airflow.exceptions.AirflowException (Airflow is not a dependency)."""


def airflow3_context(*, task_id: str = "fct_orders", try_number: int = 1) -> dict[str, Any]:
    """A task-level callback context shaped like Airflow 3.3's (see tests/fixtures/airflow/contexts)."""
    ti = SimpleNamespace(
        dag_id="hourly_marts",
        task_id=task_id,
        run_id=RUN_ID,
        try_number=try_number,
        max_tries=0,
        map_index=-1,
        state="failed",
        # the sample's try, as its real Airflow 3 callback recorded it: its dbt artifacts were written inside
        start_date=SAMPLE_STARTED,
        end_date=SAMPLE_ENDED,
        log_url=f"http://localhost:8080/dags/hourly_marts/runs/{RUN_ID}/tasks/{task_id}?try_number={try_number}",
    )
    dag_run = SimpleNamespace(dag_id="hourly_marts", run_id=RUN_ID, logical_date=None, run_type="scheduled")
    return {
        "ti": ti,
        "task_instance": ti,
        "dag_run": dag_run,
        "run_id": RUN_ID,
        "params": {},
        "exception": AirflowException("Bash command failed. The command returned a non-zero exit code 1."),
    }


def settings_for(stack: Stack, env: dict[str, str]) -> Settings:
    wenv = stack.worker_env
    return load_settings(
        **env, CELERY_BROKER_URL=wenv["CELERY_BROKER_URL"], CELERY_RESULT_BACKEND=wenv["CELERY_RESULT_BACKEND"]
    )


def wait_for(store: IncidentStore, incident_id: str, kind: str, *, timeout_s: float = 60) -> str:
    """The payload of the first ``kind`` event of the incident."""
    after, deadline = "0", time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for entry_id, got, data in store.events(incident_id, after=after, block_ms=200):
            after = entry_id
            if got == kind:
                return data
    raise AssertionError(f"no {kind!r} event for {incident_id} within {timeout_s} s")


def wait_for_incident_id(store: IncidentStore, dedup_key: str, *, timeout_s: float = 30) -> str:
    found = store.wait_for_incident_id(dedup_key, timeout_s=timeout_s, poll_s=0.05)
    assert found, f"no incident opened for {dedup_key} within {timeout_s} s"
    return found


def wait_for_report(store: IncidentStore, incident_id: str, *, timeout_s: float = 60) -> Report:
    """The report, once Slack shows it (the "delivered" event follows the chat.update or post)."""
    wait_for(store, incident_id, "delivered", timeout_s=timeout_s)
    report = store.get_report(incident_id)
    assert report is not None
    return report


@pytest.fixture
def env(slack_api: SlackServer, tmp_path: Path) -> dict[str, str]:
    return sample_env(slack_api, tmp_path)


@pytest.fixture
def producer_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Configure the producer the way an Airflow worker is configured: by environment variables."""

    def configure(stack: Stack, env: dict[str, str]) -> Settings:
        for key, value in {
            **env,
            "CELERY_BROKER_URL": stack.worker_env["CELERY_BROKER_URL"],
            "CELERY_RESULT_BACKEND": stack.worker_env["CELERY_RESULT_BACKEND"],
        }.items():
            monkeypatch.setenv(key, value)
        get_settings.cache_clear()
        return get_settings()

    yield configure
    get_settings.cache_clear()


__all__ = [
    "SAMPLE",
    "SAMPLE_TRY",
    "airflow3_context",
    "settings_for",
    "wait_for",
    "wait_for_incident_id",
    "wait_for_report",
]
