"""The durable history and the hot path: ids never reused after Redis loses its counter, and a
reported incident recorded off the critical path. Real Redis (throwaway), real SQLite history.

"Today" is read inside each test (a test that runs across midnight UTC reads it once, at its start):
never at import.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import redis

from commander.history import prepare_history, record_history
from commander.tasks import HistoryTask, register_commander
from incident_cli.stack import RedisServer, Stack
from shared.celery_app import (
    HISTORY_QUEUE,
    VISIBILITY_TIMEOUT_S,
    TaskName,
    make_app,
    queues,
    route_task,
    worker_module,
)
from shared.contracts import Incident, Trigger
from shared.errors import PermanentError
from shared.incident_db import IdCollision, IncidentDetail, NewIncident, NewMember, open_store, upgrade
from shared.incident_store import IncidentStore
from shared.retry_policy import HISTORY
from shared.runtime import Runtime, _seed_from_history, build_runtime, reset_runtime
from shared.settings import get_settings, load_settings
from tests.slack import cases


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    url = f"{redis_server.url}/{2 + uuid.uuid4().int % 12}"
    redis.Redis.from_url(url).flushdb()
    yield url


def _today() -> date:
    return datetime.now(UTC).date()


def _day(when: date) -> str:
    return when.strftime("%Y%m%d")


def _history_with(tmp_path: Path, number: int, *, day: str) -> str:
    url = f"sqlite:///{tmp_path / 'incidents.db'}"
    upgrade(url)
    db = open_store(url)
    trigger = Trigger(dag_id="d", task_id="t", run_id=f"r{number}")
    db.record_opened(NewIncident(incident_id=f"INC-{day}-{number:04d}"), NewMember.from_trigger(trigger))
    db.close()
    return url


def test_after_redis_lost_its_counter_the_next_id_follows_the_history(redis_url: str, tmp_path: Path) -> None:
    today = _day(_today())
    # Given the history holds today's incident 0007, and a Redis that came back empty
    history = _history_with(tmp_path, 7, day=today)
    store = IncidentStore.from_url(redis_url, seed_sequence=_seed_from_history(history))
    # When the next failure is claimed, Then its id is 0008, not a second 0001
    assert store.claim("d:t:new:-1:1", owner_task_id="a").incident_id == f"INC-{today}-0008"
    assert store.claim("d:t:newer:-1:1", owner_task_id="b").incident_id == f"INC-{today}-0009"


def test_a_counter_redis_still_has_is_not_re_seeded(redis_url: str, tmp_path: Path) -> None:
    today = _day(_today())
    history = _history_with(tmp_path, 7, day=today)
    redis.Redis.from_url(redis_url).set(f"pic:seq:{today}", 41)
    store = IncidentStore.from_url(redis_url, seed_sequence=_seed_from_history(history))
    assert store.claim("d:t:x:-1:1", owner_task_id="a").incident_id == f"INC-{today}-0042"


def test_a_history_that_cannot_answer_never_stops_a_claim_and_says_so(
    redis_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    today = _day(_today())
    never_migrated = f"sqlite:///{tmp_path / 'missing' / 'incidents.db'}"
    store = IncidentStore.from_url(redis_url, seed_sequence=_seed_from_history(never_migrated))
    with caplog.at_level(logging.WARNING):
        assert store.claim("d:t:y:-1:1", owner_task_id="a").incident_id == f"INC-{today}-0001"
    assert "the durable history could not seed the counter" in caplog.text


def test_with_the_history_down_a_lost_counter_restarts_above_what_this_process_gave_out(
    redis_url: str, tmp_path: Path
) -> None:
    # Given a commander that gave out today's 0001..0003, and a history that cannot answer
    today = _day(_today())
    never_migrated = f"sqlite:///{tmp_path / 'missing' / 'incidents.db'}"
    store = IncidentStore.from_url(redis_url, seed_sequence=_seed_from_history(never_migrated))
    given = [store.claim(f"d:t:r{n}:-1:1", owner_task_id="a").incident_id for n in range(3)]
    assert given[-1] == f"INC-{today}-0003"
    # When Redis comes back empty
    redis.Redis.from_url(redis_url).flushdb()
    # Then the next id is above this process's own: its floor outlives Redis's counter
    assert store.claim("d:t:r3:-1:1", owner_task_id="a").incident_id == f"INC-{today}-0004"


def test_raising_a_counter_creates_it_when_missing_and_never_lowers_it(redis_url: str) -> None:
    store = IncidentStore.from_url(redis_url)
    today = _today()
    assert store.id_counter(today) is None
    assert store.raise_counter(today, 7) == 7
    assert store.raise_counter(today, 3) == 7  # never lowered
    assert store.claim("d:t:a:-1:1", owner_task_id="a").incident_id == f"INC-{_day(today)}-0008"
    assert store.raise_counter(today, 5) == 8
    assert 0 < int(store._r.ttl(f"pic:seq:{_day(today)}")) <= 3 * 86_400


# -- record_history ---------------------------------------------------------------------------------


def _runtime(redis_url: str, db_url: str, tmp_path: Path, *, broker_url: str | None = None) -> Runtime:
    return build_runtime(
        load_settings(
            CELERY_BROKER_URL=broker_url or redis_url,
            CELERY_RESULT_BACKEND=redis_url,
            INCIDENT_DB_URL=db_url,
            INCIDENT_OUTBOX=str(tmp_path / "outbox.jsonl"),
        )
    )


def _reported(runtime: Runtime, incident_id: str, *, run_id: str, ts: str, opened_at: datetime) -> Trigger:
    """An incident as the commander leaves it in Redis once reported: opened, posted, its report composed."""
    trigger = cases.trigger(run_id=run_id)
    runtime.store.save_incident(
        Incident(incident_id=incident_id, trigger=trigger, channel="C0INCIDENTS", thread_ts=ts, opened_at=opened_at)
    )
    report = cases.complete_report().model_copy(update={"incident_id": incident_id, "trigger": trigger})
    runtime.store.record_report(incident_id, report)
    return trigger


def test_recording_an_incident_raises_the_id_counters_to_the_history(redis_url: str, tmp_path: Path) -> None:
    # Given the history holds today's 0009, and Redis an incident of yesterday's, 0005, reported
    today = _today()
    yesterday, tomorrow = today - timedelta(days=1), today + timedelta(days=1)
    db_url = _history_with(tmp_path, 9, day=_day(today))
    runtime = _runtime(redis_url, db_url, tmp_path)
    incident_id = f"INC-{_day(yesterday)}-0005"
    _reported(runtime, incident_id, run_id="r5", ts="1764493501.000100", opened_at=datetime.now(UTC))
    # When it is recorded
    assert record_history(incident_id, runtime=runtime) == {"status": "recorded", "incident_id": incident_id}
    # Then Redis's counters are at least what the history holds: the recorded incident's day, today's,
    # and tomorrow's (created: the next day's first claim finds it and does not ask the history)
    assert runtime.store.id_counter(yesterday) == 5
    assert runtime.store.id_counter(today) == 9
    assert runtime.store.id_counter(tomorrow) == 0
    assert runtime.store.claim("d:t:z:-1:1", owner_task_id="a").incident_id == f"INC-{_day(today)}-0010"


def test_an_id_given_to_two_incidents_is_not_merged_and_is_recorded_in_failures(
    redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given today's 0003 recorded for one failure, posted at ts 1.1
    today = _day(_today())
    incident_id = f"INC-{today}-0003"
    db_url = f"sqlite:///{tmp_path / 'incidents.db'}"
    runtime = _runtime(redis_url, db_url, tmp_path)
    opened_at = datetime.now(UTC) - timedelta(hours=2)
    first = _reported(runtime, incident_id, run_id="first-run", ts="1.1", opened_at=opened_at)
    record_history(incident_id, runtime=runtime)
    # And Redis lost everything, then gave 0003 to another failure, posted at ts 2.2
    redis.Redis.from_url(redis_url).flushdb()
    second = _reported(runtime, incident_id, run_id="second-run", ts="2.2", opened_at=datetime.now(UTC))
    # When the commander's record_history task records the second
    for name, value in {
        "CELERY_BROKER_URL": redis_url,
        "CELERY_RESULT_BACKEND": redis_url,
        "INCIDENT_DB_URL": db_url,
        "INCIDENT_OUTBOX": str(tmp_path / "outbox.jsonl"),
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    reset_runtime()
    try:
        app = make_app("history-test", settings=get_settings())
        register_commander(app)
        task = app.tasks[TaskName.RECORD_HISTORY.value]
        assert (task.retry_policy, task.max_retries) == (HISTORY, HISTORY.max_retries)
        result = task.apply(args=(incident_id,))
    finally:
        get_settings.cache_clear()
        reset_runtime()
    # Then it fails for good (no retry: permanent), and the failure is where an operator looks, naming both
    assert isinstance(result.result, IdCollision) and isinstance(result.result, PermanentError)
    [failure] = runtime.store.failures()
    assert failure["what"] == f"{TaskName.RECORD_HISTORY.value} failed"
    assert incident_id in failure["reason"]
    assert first.dedup_key in failure["reason"] and second.dedup_key in failure["reason"]
    # And the history still holds the first incident alone, its Slack message where it was
    db = open_store(db_url)
    detail = db.get(incident_id)
    db.close()
    assert detail is not None
    assert [m.dedup_key for m in detail.members] == [first.dedup_key]
    assert (detail.incident.ts, detail.incident.member_count) == ("1.1", 1)
    collision = detail.events[-1]
    assert collision.kind == "reconciled" and collision.detail is not None
    assert collision.detail["other"]["dedup_key"] == second.dedup_key
    assert collision.detail["other"]["ts"] == "2.2"
    assert [e.kind for e in detail.events] == ["opened", "reported", "reconciled"]


def test_record_history_has_a_queue_and_a_worker_of_its_own() -> None:
    assert route_task(TaskName.RECORD_HISTORY.value, (), {}, {}) == {"queue": HISTORY_QUEUE}
    assert route_task(TaskName.TRIAGE.value, (), {}, {}) == {"queue": "commander"}
    assert worker_module(HISTORY_QUEUE) == "commander.worker"
    assert HISTORY_QUEUE in queues()  # the embedded stack and docker-compose run a worker for it


def test_record_history_retries_are_few_short_and_bounded() -> None:
    assert HistoryTask.retry_policy is HISTORY
    countdowns = [HISTORY.countdown(n, rand=lambda: 1.0) for n in range(10)]
    given = [c for c in countdowns if c is not None]
    assert countdowns[len(given) :] == [None] * (10 - len(given)) and len(given) == HISTORY.max_retries
    assert max(given) < VISIBILITY_TIMEOUT_S / 2 and sum(given) < VISIBILITY_TIMEOUT_S  # minutes, not hours


def _eventually(what: Callable[[], object], *, timeout_s: float = 30) -> object:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = what()
        if found:
            return found
        time.sleep(0.1)
    return what()


@pytest.mark.integration
def test_the_history_worker_seeds_the_counters_at_start_and_records_what_its_queue_gets(
    make_stack: Callable[..., Stack], tmp_path: Path
) -> None:
    # Given the history holds today's 0007, and the stack's history worker alone (a process, as deployed)
    today = _today()
    db_url = _history_with(tmp_path, 7, day=_day(today))
    stack = make_stack(
        {"INCIDENT_DB_URL": db_url, "INCIDENT_OUTBOX": str(tmp_path / "outbox.jsonl")}, services=("history",)
    )
    state_url = stack.worker_env["CELERY_RESULT_BACKEND"]
    store = IncidentStore.from_url(state_url)
    # Then at start-up it raised today's counter to the history's number, off any incident's path
    assert _eventually(lambda: store.id_counter(today) == 7)
    # And a reported incident sent to the history queue is recorded by it
    runtime = _runtime(state_url, db_url, tmp_path, broker_url=stack.worker_env["CELERY_BROKER_URL"])
    incident_id = store.claim("d:t:new:-1:1", owner_task_id="a").incident_id
    assert incident_id == f"INC-{_day(today)}-0008"
    trigger = _reported(runtime, incident_id, run_id="new", ts="3.3", opened_at=datetime.now(UTC))
    app = make_app("history-probe", settings=runtime.settings)
    try:
        app.send_task(TaskName.RECORD_HISTORY.value, args=(incident_id,))
    finally:
        app.close()

    def recorded() -> object:
        db = open_store(db_url)
        try:
            return db.get(incident_id)
        finally:
            db.close()

    detail = _eventually(recorded)
    assert isinstance(detail, IncidentDetail), f"{incident_id} not recorded by the history worker"
    assert [m.dedup_key for m in detail.members] == [trigger.dedup_key]


# -- worker start-up -----------------------------------------------------------------------------------


def test_worker_start_up_migrates_the_history_and_seeds_todays_and_tomorrows_counters(
    redis_url: str, tmp_path: Path
) -> None:
    today = _today()
    history = _history_with(tmp_path, 7, day=_day(today))
    store = IncidentStore.from_url(redis_url)  # the worker's own store: no seed of its own
    assert prepare_history(history, store) == {_day(today): 7, _day(today + timedelta(days=1)): 0}
    assert store.claim("d:t:new:-1:1", owner_task_id="a").incident_id == f"INC-{_day(today)}-0008"
    # a database that does not exist yet is created and migrated; its counters start at 0
    fresh = f"sqlite:///{tmp_path / 'fresh' / 'incidents.db'}"
    redis.Redis.from_url(redis_url).flushdb()
    assert prepare_history(fresh, store) == {_day(today): 0, _day(today + timedelta(days=1)): 0}


def test_worker_start_up_with_the_history_down_says_so_and_goes_on(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = IncidentStore.from_url(redis_url)
    with caplog.at_level(logging.WARNING):
        assert prepare_history("postgresql://etl:secret@127.0.0.1:1/incidents", store) is None
    assert "incident history (INCIDENT_DB_URL=postgresql://etl:" in caplog.text and "secret" not in caplog.text
    assert store.id_counter(_today()) is None
