"""shared.provenance: a dbt artifact is evidence only for the try it belongs to.

On real artifacts: the bundled sample's run_results.json (written 2026-11-23 03:01:55 by invocation
28355dd7…) and dbt.log, and real Airflow task logs (a dbt task's and a bash task's).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from incident_cli.sample import DEFAULT_SAMPLE, sample_trigger
from shared.contracts import Trigger
from shared.dbt_artifacts import read_results
from shared.provenance import CLOCK_SKEW, TaskLogDbt, TryWindow, dbt_log_invocation, judge_artifact

RESULTS = read_results(DEFAULT_SAMPLE / "dbt_project" / "target" / "run_results.json", root=None)
DBT_LOG = DEFAULT_SAMPLE / "dbt_project" / "logs" / "dbt.log"
INVOCATION = "28355dd7-690d-470d-90e6-913189a482b1"
AIRFLOW3 = Path(__file__).resolve().parents[1] / "fixtures" / "airflow" / "logs" / "airflow3"
BASH_LOG = next(AIRFLOW3.glob("dag_id=pic_bash_exit/*/task_id=export_to_sftp/attempt=1.log"))
DBT_TASK_LOG = next(
    (DEFAULT_SAMPLE / "airflow_logs").glob("dag_id=hourly_marts/*/task_id=dbt_build_marts/attempt=1.log")
)
WRITTEN = RESULTS.generated_at
assert WRITTEN is not None and RESULTS.invocation_id == INVOCATION


def _window(start: datetime | None, end: datetime) -> TryWindow:
    return TryWindow(started_at=start, ended_at=end)


# No task log read: the sample's trigger stands in (it names fct_orders, the artifact's failed model)
SAMPLE_STAND_IN = TaskLogDbt.stand_in(sample_trigger())


def _judge(window: TryWindow, task_log: TaskLogDbt | None = None) -> tuple[bool, str]:
    verdict = judge_artifact(
        "target/run_results.json",
        generated_at=RESULTS.generated_at,
        invocation_id=RESULTS.invocation_id,
        window=window,
        task_log=task_log or SAMPLE_STAND_IN,
        failed_nodes=[r.unique_id for r in RESULTS.failed],
    )
    return verdict.used, verdict.reason


def test_an_artifact_written_inside_the_try_is_used() -> None:
    used, reason = _judge(TryWindow.of(sample_trigger()))
    assert used, reason
    assert reason.startswith("target/run_results.json: written at 2026-11-23 03:01:55 UTC, inside this try")


def test_an_artifact_written_before_the_try_started_is_not_used_and_says_when() -> None:
    start = datetime(2026, 11, 23, 3, 40, tzinfo=UTC)
    used, reason = _judge(_window(start, start + timedelta(minutes=5)))
    assert not used
    assert reason == (
        "target/run_results.json: written at 2026-11-23 03:01:55 UTC, before this try started at "
        "2026-11-23 03:40:00 UTC: not used"
    )


def test_an_artifact_written_after_the_try_ended_was_left_by_a_later_run() -> None:
    start = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    used, reason = _judge(_window(start, start + timedelta(minutes=30)))
    assert not used and "after this try ended at 2026-11-23 02:30:00 UTC (a later dbt run replaced it)" in reason


def test_a_little_clock_skew_between_airflow_and_dbt_is_tolerated_but_no_more() -> None:
    assert WRITTEN is not None
    just_inside = WRITTEN + CLOCK_SKEW - timedelta(seconds=1)
    assert _judge(_window(just_inside, just_inside + timedelta(minutes=1)))[0]
    just_outside = WRITTEN + CLOCK_SKEW + timedelta(seconds=1)
    assert not _judge(_window(just_outside, just_outside + timedelta(minutes=1)))[0]


def test_without_the_start_of_the_try_the_time_cannot_tie_an_artifact_to_it() -> None:
    assert WRITTEN is not None
    used, reason = _judge(_window(None, WRITTEN + timedelta(seconds=5)))
    assert not used and "this try's start time is unknown (the trigger has no started_at)" in reason


def test_the_invocation_id_in_this_trys_log_ties_the_artifact_whatever_the_times() -> None:
    log = TaskLogDbt.scan([f'{{"event": "Running with dbt=1.11.16", "invocation_id": "{INVOCATION}"}}'])
    long_after = datetime(2027, 1, 1, tzinfo=UTC)
    used, reason = _judge(_window(long_after, long_after + timedelta(minutes=1)), log)
    assert used and reason == f"target/run_results.json: dbt invocation {INVOCATION} appears in this try's log: used"


def test_another_invocation_in_this_trys_log_rules_the_artifact_out_even_inside_the_window() -> None:
    other = "0ac9b3fb-d75b-46f0-a0b4-f3d31d1e3b3c"
    log = TaskLogDbt.scan([f"============================== 03:01:50.000000 | {other} =============================="])
    used, reason = _judge(TryWindow.of(sample_trigger()), log)
    assert not used and f"this try's log shows invocation {other}" in reason


def test_a_task_whose_log_shows_no_dbt_gets_no_dbt_artifact_even_inside_the_window() -> None:
    bash = TaskLogDbt.of_file(BASH_LOG)  # a real Airflow 3 bash task (sftp export) log
    assert bash.read and not bash.ran_dbt
    used, reason = _judge(TryWindow.of(sample_trigger()), bash)
    assert not used and "this try's log shows no dbt invocation" in reason


def test_a_real_dbt_task_log_shows_that_it_ran_dbt() -> None:
    scanned = TaskLogDbt.of_file(DBT_TASK_LOG)
    assert scanned.read and scanned.ran_dbt


def test_an_airflow_task_instance_uuid_is_not_taken_for_a_dbt_invocation() -> None:
    # Airflow 3 logs carry the task instance's UUID on every line ("ti_id"): it names no dbt run
    scanned = TaskLogDbt.of_file(BASH_LOG)
    assert "ti_id" in BASH_LOG.read_text() and scanned.invocation_ids == frozenset()


def test_an_artifact_without_generated_at_cannot_be_tied() -> None:
    verdict = judge_artifact(
        "target/run_results.json",
        generated_at=None,
        invocation_id=None,
        window=TryWindow.of(sample_trigger()),
        task_log=SAMPLE_STAND_IN,
        failed_nodes=["model.hourly_marts.fct_orders"],
    )
    assert not verdict.used and "has no generated_at" in verdict.reason


def test_dbt_log_keeps_only_the_lines_of_the_invocation_asked_for() -> None:
    with DBT_LOG.open() as handle:
        kept, found = dbt_log_invocation(handle, invocation_ids=frozenset({INVOCATION.upper()}))
    assert found == INVOCATION and kept[0].startswith("=====") and INVOCATION in kept[0]
    assert len(kept) == sum(1 for _ in DBT_LOG.open()) - 2  # all but the two blank lines above the header


def test_dbt_log_appended_by_two_runs_gives_only_this_trys_lines(tmp_path: Path) -> None:
    other = "0ac9b3fb-d75b-46f0-a0b4-f3d31d1e3b3c"
    log = tmp_path / "dbt.log"
    log.write_text(
        DBT_LOG.read_text()
        + f"\n\n============================== 09:22:00.000000 | {other} ==============================\n"
        + "[0m09:22:01.000000 [error] [MainThread]: Database Error in model dim_other (models/dim_other.sql)\n"
    )
    with log.open() as handle:
        kept, found = dbt_log_invocation(handle, invocation_ids=frozenset({INVOCATION}))
    assert found == INVOCATION and not any("dim_other" in line for line in kept)
    with log.open() as handle:
        kept, found = dbt_log_invocation(handle, invocation_ids=frozenset({other}))
    assert found == other and len(kept) == 2
    with log.open() as handle:
        assert dbt_log_invocation(handle, invocation_ids=frozenset({"not-there"})) == ([], None)


@pytest.mark.parametrize(
    ("started", "ended"),
    [("2026-11-23T03:01:48", "2026-11-23T03:02:06+00:00"), ("2026-11-23T04:01:48+01:00", None)],
)
def test_a_trigger_window_without_a_zone_is_utc_and_any_zone_is_compared_as_utc(
    started: str, ended: str | None
) -> None:
    trigger = Trigger(dag_id="d", task_id="t", run_id="r", started_at=started, ended_at=ended)  # type: ignore[arg-type]
    assert trigger.started_at == datetime(2026, 11, 23, 3, 1, 48, tzinfo=UTC)


def test_a_trigger_whose_try_ends_before_it_starts_is_refused_with_both_times() -> None:
    with pytest.raises(ValueError, match="ended_at 2026-11-23T03:00:00\\+00:00 is before started_at"):
        Trigger(dag_id="d", task_id="t", run_id="r", started_at="2026-11-23T03:01:00Z", ended_at="2026-11-23T03:00:00Z")  # type: ignore[arg-type]


DBT_FAILURES = Path(__file__).resolve().parents[1] / "fixtures" / "dbt_failures"


@pytest.mark.parametrize(
    ("log", "names"),
    [
        (DBT_FAILURES / "timeout__sigint_long_query" / "console.log", {"order_pairs"}),  # CANCEL + ERROR creating
        (DBT_FAILURES / "test_failure__unique" / "console.log", {"unique_stg_orders_order_id"}),  # FAIL 1 + Failure in
        (DBT_FAILURES / "test_failure__unique" / "dbt.jsonl", {"unique_stg_orders_order_id"}),
        (DBT_TASK_LOG, {"fct_orders"}),  # Airflow 3 JSON task log, colours escaped as \u001b
    ],
)
def test_the_nodes_a_real_dbt_log_says_failed_are_read_by_name(log: Path, names: set[str]) -> None:
    assert TaskLogDbt.of_file(log).failed_names == names


def test_an_artifact_whose_failures_this_trys_log_does_not_name_is_another_runs() -> None:
    # Two DAGs run dbt in one project at once: this try's log says order_pairs was cancelled, the
    # run_results.json written meanwhile says fct_orders errored. Inside the window, and still not ours.
    timeout_log = TaskLogDbt.of_file(DBT_FAILURES / "timeout__sigint_long_query" / "console.log")
    verdict = judge_artifact(
        "target/run_results.json",
        generated_at=RESULTS.generated_at,
        invocation_id=RESULTS.invocation_id,
        window=TryWindow.of(sample_trigger()),
        task_log=timeout_log,
        failed_nodes=[r.unique_id for r in RESULTS.failed],
    )
    assert not verdict.used
    assert verdict.reason == (
        "target/run_results.json: its failed nodes (fct_orders) are not the ones this try's log names "
        "(order_pairs): another run's, not used"
    )
    # control: the log of the try that did fail on fct_orders agrees with the artifact
    ours = judge_artifact(
        "target/run_results.json",
        generated_at=RESULTS.generated_at,
        invocation_id=RESULTS.invocation_id,
        window=TryWindow.of(sample_trigger()),
        task_log=TaskLogDbt.of_file(DBT_TASK_LOG),
        failed_nodes=[r.unique_id for r in RESULTS.failed],
    )
    assert ours.used, ours.reason


def test_with_no_task_log_a_trigger_that_names_none_of_the_failures_borrows_nothing() -> None:
    # A bash task failed while another DAG's dbt build wrote run_results.json; its log could not be read
    bash = Trigger(
        dag_id="pic_bash_exit",
        task_id="export_to_sftp",
        run_id="r",
        exception="AirflowException: Bash command failed. The command returned a non-zero exit code 3.",
        **{k: getattr(sample_trigger(), k) for k in ("started_at", "ended_at")},
    )
    used, reason = _judge(TryWindow.of(bash), TaskLogDbt.stand_in(bash, "PermissionError"))
    assert not used
    assert reason == (
        "target/run_results.json: no task log was read for this try (PermissionError), and nothing the trigger "
        "names is among its failed nodes (fct_orders): the time alone does not tie it, not used"
    )


@pytest.mark.parametrize(
    ("line", "ran", "ids"),
    [
        ("Lambda invocation id: 0ac9b3fb-d75b-46f0-a0b4-f3d31d1e3b3c", False, set()),  # not dbt's
        ('{"event": "x", \\"invocation_id\\": \\"0ac9b3fb-d75b-46f0-a0b4-f3d31d1e3b3c\\"}', True, {"0ac9b3fb"}),
        (
            "============================== 2022-06-21 10:45:34.196823 | 0ac9b3fb-d75b-46f0-a0b4-f3d31d1e3b3c =====",
            True,
            {"0ac9b3fb"},
        ),
        ("dbt Cloud job run 7, invocation id: 0ac9b3fb-d75b-46f0-a0b4-f3d31d1e3b3c", True, {"0ac9b3fb"}),
    ],
)
def test_only_the_places_dbt_writes_its_invocation_id_count(line: str, ran: bool, ids: set[str]) -> None:
    scanned = TaskLogDbt.scan([line])
    assert scanned.ran_dbt is ran
    assert {i[:8] for i in scanned.invocation_ids} == ids


def test_a_retry_line_that_is_not_a_dbt_result_names_no_node() -> None:
    assert TaskLogDbt.scan(["attempt 1 of 3 ERROR retrying ..."]).failed_names == frozenset()


@pytest.mark.parametrize("log", [DBT_TASK_LOG, BASH_LOG, DBT_FAILURES / "test_failure__unique" / "dbt.log"])
def test_the_chunked_file_scan_finds_what_the_line_scan_finds(log: Path, tmp_path: Path) -> None:
    whole = TaskLogDbt.of_text(log.read_text())
    assert TaskLogDbt.of_file(log) == whole
    # a log of many chunks, the interesting lines far apart, finds the same
    big = tmp_path / "big.log"
    filler = "[2026-11-23T11:02:13.711+0000] {subprocess.py:106} INFO - nothing to see here\n" * 120_000
    big.write_text(filler + log.read_text() + filler)
    assert TaskLogDbt.of_file(big) == whole
