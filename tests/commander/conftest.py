"""The commander's steps on real parts: a Runtime on the session's throwaway Redis and Slack test server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from incident_cli.stack import RedisServer
from shared.runtime import Runtime, build_runtime
from shared.settings import load_settings
from tests.slack_server import SlackServer


@pytest.fixture
def runtime(redis_server: RedisServer, slack_api: SlackServer, tmp_path: Path) -> Iterator[Runtime]:
    """Broker, result backend and incident state in one clean database of the session's Redis."""
    url = f"{redis_server.url}/{2 + uuid.uuid4().int % 12}"
    redis.Redis.from_url(url).flushdb()
    settings = load_settings(
        CELERY_BROKER_URL=url,
        CELERY_RESULT_BACKEND=url,
        SLACK_BOT_TOKEN=slack_api.token,
        SLACK_API_URL=slack_api.base_url,
        INCIDENT_OUTBOX=str(tmp_path / "outbox.jsonl"),
        SLACK_TIMEOUT_S="1",
    )
    yield build_runtime(settings)
