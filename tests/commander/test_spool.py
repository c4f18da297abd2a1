"""The spool: atomic files, oldest first, sent once, kept when sending fails."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from commander import spool


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
