"""The durable history and the hot path: ids never reused after Redis loses its counter, and a
reported incident recorded off the critical path. Real Redis (throwaway), real SQLite history."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis

from incident_cli.stack import RedisServer
from shared.contracts import Trigger
from shared.incident_db import NewIncident, NewMember, open_store, upgrade
from shared.incident_store import IncidentStore
from shared.runtime import _seed_from_history

TODAY = datetime.now(UTC).strftime("%Y%m%d")


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    url = f"{redis_server.url}/{2 + uuid.uuid4().int % 12}"
    redis.Redis.from_url(url).flushdb()
    yield url


def _history_with(tmp_path: Path, number: int) -> str:
    url = f"sqlite:///{tmp_path / 'incidents.db'}"
    upgrade(url)
    db = open_store(url)
    trigger = Trigger(dag_id="d", task_id="t", run_id=f"r{number}")
    db.record_opened(NewIncident(incident_id=f"INC-{TODAY}-{number:04d}"), NewMember.from_trigger(trigger))
    db.close()
    return url


def test_after_redis_lost_its_counter_the_next_id_follows_the_history(redis_url: str, tmp_path: Path) -> None:
    # Given the history holds today's incident 0007, and a Redis that came back empty
    history = _history_with(tmp_path, 7)
    store = IncidentStore.from_url(redis_url, seed_sequence=_seed_from_history(history))
    # When the next failure is claimed, Then its id is 0008, not a second 0001
    assert store.claim("d:t:new:-1:1", owner_task_id="a").incident_id == f"INC-{TODAY}-0008"
    assert store.claim("d:t:newer:-1:1", owner_task_id="b").incident_id == f"INC-{TODAY}-0009"


def test_a_counter_redis_still_has_is_not_re_seeded(redis_url: str, tmp_path: Path) -> None:
    history = _history_with(tmp_path, 7)
    redis.Redis.from_url(redis_url).set(f"pic:seq:{TODAY}", 41)
    store = IncidentStore.from_url(redis_url, seed_sequence=_seed_from_history(history))
    assert store.claim("d:t:x:-1:1", owner_task_id="a").incident_id == f"INC-{TODAY}-0042"


def test_a_history_that_cannot_answer_never_stops_a_claim_and_says_so(
    redis_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    never_migrated = f"sqlite:///{tmp_path / 'missing' / 'incidents.db'}"
    store = IncidentStore.from_url(redis_url, seed_sequence=_seed_from_history(never_migrated))
    with caplog.at_level(logging.WARNING):
        assert store.claim("d:t:y:-1:1", owner_task_id="a").incident_id == f"INC-{TODAY}-0001"
    assert "the durable history could not seed the counter" in caplog.text
