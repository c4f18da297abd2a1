"""The spool: atomic files, oldest first, sent once, kept when sending fails.

The files are unit-tested on their own; two flushers at once send to a real Redis broker.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from commander import spool
from commander.producer import flush_spool, publish
from incident_cli.stack import RedisServer
from shared.celery_app import COMMANDER_QUEUE
from shared.contracts import Trigger, dump
from shared.settings import load_settings


def test_flush_sends_in_order_and_deletes(tmp_path: Path) -> None:
    for i in range(3):
        spool.write({"n": i}, tmp_path)
    sent: list[Any] = []
    result = spool.flush(tmp_path, sent.append)
    assert [p["n"] for p in sent] == [0, 1, 2]
    assert result.sent == 3 and result.remaining == 0
    assert spool.pending(tmp_path) == []


def test_a_failing_send_keeps_the_rest(tmp_path: Path) -> None:
    for i in range(3):
        spool.write({"n": i}, tmp_path)

    def send(payload: dict[str, Any]) -> None:
        if payload["n"] == 1:
            raise ConnectionError("broker down")

    result = spool.flush(tmp_path, send)
    assert result.sent == 1 and result.remaining == 2
    assert "broker down" in (result.error or "")


def test_a_corrupt_file_is_moved_aside_not_lost_or_retried_forever(tmp_path: Path) -> None:
    (tmp_path / "00000000000000000001-bad.json").write_text("{not json")
    result = spool.flush(tmp_path, lambda p: None)
    assert result.error and "moved aside" in result.error
    assert (tmp_path / "00000000000000000001-bad.bad").exists()
    assert spool.pending(tmp_path) == []


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """umask 000: what the spool creates is private because it says so, not because the umask is kind."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.usefixtures("permissive_umask")
def test_the_spool_directory_and_its_files_are_private(tmp_path: Path) -> None:
    spool_dir = tmp_path / "home" / "spool"
    path = spool.write({"exception": "psycopg.OperationalError: ..."}, spool_dir)
    assert _mode(spool_dir) == 0o700
    assert _mode(path) == 0o600

    def down(payload: dict[str, Any]) -> None:
        raise ConnectionError("broker down")

    spool.flush(spool_dir, down)
    assert _mode(spool_dir / ".lock") == 0o600
    assert _mode(path) == 0o600  # kept after a failed send, still private


@pytest.mark.usefixtures("permissive_umask")
def test_an_existing_directory_keeps_its_mode_and_new_files_are_still_private(tmp_path: Path) -> None:
    shared = tmp_path / "spool"
    shared.mkdir(mode=0o770)
    os.chmod(shared, 0o770)  # set up by an operator for Airflow and themselves
    path = spool.write({"n": 1}, shared)
    assert _mode(shared) == 0o770
    assert _mode(path) == 0o600


def test_a_lock_file_left_readable_by_an_older_version_is_made_private(tmp_path: Path) -> None:
    lock = tmp_path / ".lock"
    lock.write_text("")
    os.chmod(lock, 0o644)
    spool.flush(tmp_path, lambda p: None)
    assert _mode(lock) == 0o600


def test_a_failed_send_is_told_apart_from_a_busy_or_unreadable_spool(tmp_path: Path) -> None:
    spool.write({"n": 1}, tmp_path)

    def down(payload: dict[str, Any]) -> None:
        raise ConnectionError("broker down")

    assert spool.flush(tmp_path, down).send_failed
    (tmp_path / "00000000000000000001-bad.json").write_text("{not json")
    assert not spool.flush(tmp_path, lambda p: None).send_failed


# ---- two flushers at once, against a real Redis broker ----------------------------------------
def _queued_triggers(broker: redis.Redis) -> list[str]:
    """The task ids of the triggers waiting in the commander queue, in the order a worker would take
    them (kombu pushes on the left and pops on the right). No worker consumes them here."""
    task_ids = []
    for raw in reversed(broker.lrange(COMMANDER_QUEUE, 0, -1)):
        message = json.loads(raw)
        args, _, _ = json.loads(base64.b64decode(message["body"]))
        task_ids.append(args[0]["task_id"])
    return task_ids


def test_two_flushers_at_once_send_each_spooled_trigger_exactly_once(redis_server: RedisServer, tmp_path: Path) -> None:
    # Given three triggers spooled while the broker was away, and the broker (a real Redis) back
    url = f"{redis_server.url}/{2 + uuid.uuid4().int % 12}"
    broker = redis.Redis.from_url(url)
    broker.flushdb()
    settings = load_settings(CELERY_BROKER_URL=url, CELERY_RESULT_BACKEND=url, INCIDENT_SPOOL_DIR=str(tmp_path))
    for task_id in ("stg_orders", "fct_orders", "orders_daily"):
        trigger = Trigger(dag_id="hourly_marts", task_id=task_id, run_id="scheduled__2026-11-23T03:00:00+00:00")
        spool.write(dump(trigger), tmp_path)
    # and a first flusher that is in the middle of sending the oldest one when a second flusher starts
    sending, second_done = threading.Event(), threading.Event()

    def send_slowly_at_first(payload: dict[str, Any]) -> None:
        if not sending.is_set():
            sending.set()
            second_done.wait(timeout=30)  # the broker is slow to take this one
        publish(payload, settings=settings)

    results: dict[str, spool.FlushResult] = {}
    first = threading.Thread(target=lambda: results.update(first=spool.flush(tmp_path, send_slowly_at_first)))
    first.start()
    assert sending.wait(timeout=30)
    # When the second flusher (the producer's, as `incident-commander flush-spool` runs it) runs meanwhile
    try:
        results["second"] = flush_spool(settings=settings)
    finally:
        second_done.set()
        first.join(timeout=60)
    # Then each trigger reached the broker exactly once, in spool order
    assert _queued_triggers(broker) == ["stg_orders", "fct_orders", "orders_daily"]
    # the second flusher sent nothing and said why, and the first sent them all and emptied the spool
    assert results["second"] == spool.FlushResult(sent=0, remaining=3, error="another flush is running")
    assert results["first"] == spool.FlushResult(sent=3, remaining=0)
    assert spool.pending(tmp_path) == []
