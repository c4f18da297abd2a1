"""A claim that finds Redis's id counter missing asks the history for the day's highest number, and
the history never holds that claim: a writer's lock is not waited for (a read-only transaction), and a
history that hangs is waited for a bounded time, then the claim goes on with the best floor it has and
the history's answer, when it comes, raises the counter for the claims after.

Real Redis (the session's throwaway server), real SQLite and PostgreSQL (``tests/store/conftest.py``).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime

import pytest
import redis

from incident_cli.stack import RedisServer
from shared.incident_db import open_store
from shared.incident_store import Claim, IncidentStore
from shared.runtime import _seed_from_history
from tests.store.conftest import history_that_hangs, incident, member, writer_holding_its_transaction

# A bound for the test itself: a claim that never returns fails here instead of hanging the run.
NEVER_S = 30.0


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    url = f"{redis_server.url}/{2 + uuid.uuid4().int % 12}"
    redis.Redis.from_url(url).flushdb()
    yield url


def _today() -> str:
    return datetime.now(UTC).strftime("%Y%m%d")


def _history_at(db_url: str, number: int) -> str:
    """The history holding today's incident ``number``; the day it was recorded for."""
    day = _today()
    db = open_store(db_url)
    db.record_opened(incident(f"INC-{day}-{number:04d}"), member(f"run-{number}"))
    db.close()
    return day


def _claim_while(holding: Callable[[], AbstractContextManager[None]], store: IncidentStore, dedup_key: str) -> Claim:
    """Claim ``dedup_key`` while ``holding`` is held; the claim must return before it is let go."""
    claimed: list[Claim] = []
    with holding():
        thread = threading.Thread(target=lambda: claimed.append(store.claim(dedup_key, owner_task_id="t")), daemon=True)
        thread.start()
        thread.join(NEVER_S)
        assert not thread.is_alive(), "the claim waited for the history's lock"
    assert claimed, "the claim failed"
    return claimed[0]


def _wait_for_counter(store: IncidentStore, day: str, at_least: int) -> int:
    counter = 0
    deadline = time.monotonic() + NEVER_S
    while time.monotonic() < deadline:
        counter = store.id_counter(datetime.strptime(day, "%Y%m%d").date()) or 0
        if counter >= at_least:
            break
        time.sleep(0.05)
    return counter


def test_a_writer_holding_the_history_does_not_delay_the_seed_nor_change_it(db_url: str, redis_url: str) -> None:
    # Given today's 0007 in the history, a Redis that lost its counter, and another writer mid-transaction
    day = _history_at(db_url, 7)
    store = IncidentStore.from_url(redis_url, seed_sequence=_seed_from_history(db_url))
    # When a failure is claimed meanwhile
    claim = _claim_while(lambda: writer_holding_its_transaction(db_url), store, "d:t:new:-1:1")
    # Then the seed read past the writer (a read-only transaction): the id follows the history
    assert claim.incident_id == f"INC-{day}-0008"


def test_a_history_that_hangs_is_not_waited_for_and_its_late_answer_still_counts(
    db_url: str, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Given today's 0007 in the history, a Redis that lost its counter, and a history no reader gets into
    day = _history_at(db_url, 7)
    store = IncidentStore.from_url(redis_url, seed_sequence=_seed_from_history(db_url))
    # When a failure is claimed meanwhile
    with caplog.at_level(logging.WARNING):
        claim = _claim_while(lambda: history_that_hangs(db_url), store, "d:t:new:-1:1")
    # Then the claim went on without the history (the window the README names: this id repeats 0001)
    # and said so
    assert claim.incident_id == f"INC-{day}-0001"
    assert "the durable history did not answer within 200 ms" in caplog.text
    # And once the history answers, the counter is raised to its number: the next claim follows it
    assert _wait_for_counter(store, day, 7) >= 7
    assert store.claim("d:t:newer:-1:1", owner_task_id="t").incident_id == f"INC-{day}-0008"
