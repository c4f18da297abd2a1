"""Spool rules that mutation testing (``make mutate TARGET=spool``) found unpinned."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from commander import spool


def test_the_lock_file_is_never_opened_through_a_planted_symlink(tmp_path: Path) -> None:
    # Given a ".lock" planted as a symlink to a file of ours elsewhere
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    os.chmod(victim, 0o644)
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    (spool_dir / ".lock").symlink_to(victim)
    # When a flush runs, it refuses to follow it (O_NOFOLLOW) and leaves the target alone
    with pytest.raises(OSError):
        spool.flush(spool_dir, lambda p: None)
    assert stat.S_IMODE(victim.stat().st_mode) == 0o644 and victim.read_text() == "keep me"


def test_a_flush_sends_at_most_1000_triggers_by_default(tmp_path: Path) -> None:
    for i in range(1_001):
        spool.write({"n": i}, tmp_path)
    sent: list[Any] = []
    result = spool.flush(tmp_path, sent.append)
    assert (result.sent, result.remaining, len(sent)) == (1_000, 1, 1_000)


def test_an_unreadable_file_stops_the_flush_and_says_what_was_sent_and_what_remains(tmp_path: Path) -> None:
    spool.write({"n": 0}, tmp_path)
    (tmp_path / "99999999999999999998-bad.json").write_text("{not json")  # sorts after the good one
    spool.write({"n": 2}, tmp_path)  # a time_ns name: sorts before the bad one ...
    (tmp_path / "99999999999999999999-last.json").write_text('{"n": 3}')  # ... this one after it
    result = spool.flush(tmp_path, lambda p: None)
    assert (result.sent, result.remaining) == (2, 1)
    assert result.error and "99999999999999999998-bad.json moved aside" in result.error


def test_hidden_files_in_the_spool_are_not_triggers(tmp_path: Path) -> None:
    (tmp_path / ".half-written.json").write_text('{"n": 1}')
    path = spool.write({"n": 2}, tmp_path)
    assert spool.pending(tmp_path) == [path]
