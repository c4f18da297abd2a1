"""The spool: atomic files, oldest first, sent once, kept when sending fails."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
