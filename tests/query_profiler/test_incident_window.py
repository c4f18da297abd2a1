"""The queries that may explain a failure are this try's: the window follows the trigger's try."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from query_profiler.profiler import INCIDENT_LOOKAHEAD, INCIDENT_LOOKBACK, TRY_CLOCK_SLACK, incident_window
from shared.contracts import Trigger

FAILED = datetime(2026, 11, 23, 3, 1, 55, tzinfo=UTC)


def test_with_the_trys_start_the_window_is_the_try_and_queries_of_earlier_runs_are_out() -> None:
    started = datetime(2026, 11, 23, 3, 1, 48, tzinfo=UTC)
    ended = datetime(2026, 11, 23, 3, 2, 7, tzinfo=UTC)
    trigger = Trigger(dag_id="d", task_id="t", run_id="r", failed_at=FAILED, started_at=started, ended_at=ended)
    assert incident_window(trigger) == (started - TRY_CLOCK_SLACK, ended + INCIDENT_LOOKAHEAD)


def test_without_it_the_window_reaches_back_two_hours_from_the_failure() -> None:
    trigger = Trigger(dag_id="d", task_id="t", run_id="r", failed_at=FAILED)
    assert incident_window(trigger) == (FAILED - INCIDENT_LOOKBACK, FAILED + INCIDENT_LOOKAHEAD)
    assert timedelta(hours=2) == INCIDENT_LOOKBACK
