"""The dedup claim and once-markers: rules that mutation testing (``make mutate TARGET=dedup``)
found unpinned. Real Redis (the session's throwaway server), one clean database per test.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from incident_cli.stack import RedisServer
from shared.incident_store import Claim, IncidentStore

STORE_TTL_S = 600


@pytest.fixture
def store(redis_server: RedisServer) -> Iterator[IncidentStore]:
    url = f"{redis_server.url}/{2 + uuid.uuid4().int % 12}"
    redis.Redis.from_url(url).flushdb()
    yield IncidentStore.from_url(url, ttl_s=STORE_TTL_S)


def _pttl_ms(store: IncidentStore, marker: str) -> int:
    return int(store._r.pttl(f"pic:once:{marker}"))


def test_a_duplicate_that_arrives_while_the_owner_allocates_the_id_gets_no_id_not_a_made_up_one(
    store: IncidentStore,
) -> None:
    # Given a claim won by task A, which has not written the incident id yet
    store._r.hset("pic:claim:dag:task:run:-1:1", "task_id", "task-a")
    # When task B claims the same failure
    claim = store.claim("dag:task:run:-1:1", owner_task_id="task-b")
    # Then it is a duplicate, with the id left empty for the caller to wait on
    assert claim == Claim(incident_id="", is_new=False)


def test_a_once_marker_lives_exactly_the_ttl_it_was_given(store: IncidentStore) -> None:
    assert store.once("delivery", ttl_s=10)
    assert 9_000 < _pttl_ms(store, "delivery") <= 10_000
    assert not store.once("delivery", ttl_s=10)


def test_a_once_marker_without_a_ttl_lives_the_stores_ttl(store: IncidentStore) -> None:
    assert store.once("ping")
    assert (STORE_TTL_S - 10) * 1_000 < _pttl_ms(store, "ping") <= STORE_TTL_S * 1_000


def test_forget_lets_the_side_effect_happen_again(store: IncidentStore) -> None:
    assert store.once("reply") and not store.once("reply")
    store.forget("reply")
    assert store.once("reply")
