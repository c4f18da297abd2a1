"""The producer's context reader on callback contexts captured from real Airflow 2.10 and 3.3 runs."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from commander.airflow_context import triggers_from_context
from tests.airflow_contexts import CONTEXTS, available, load_context

CASES = available()


def test_fixtures_exist() -> None:
    versions = {version for version, _ in CASES}
    assert {"2.10.5", "3.3.2"} <= versions


@pytest.mark.parametrize(("version", "name"), CASES, ids=[f"{v}-{n}" for v, n in CASES])
def test_every_real_context_gives_one_trigger_for_the_failed_task(version: str, name: str) -> None:
    ctx = load_context(version, name)
    triggers = triggers_from_context(ctx)
    assert len(triggers) == 1
    trigger = triggers[0]
    dag_id = name.split("__")[0]
    assert trigger.dag_id == dag_id
    assert trigger.run_id == ctx["run_id"]
    # the attempt and map index Airflow recorded for that task instance, not the defaults: 2 for the
    # retried task's last attempt, 0 when Airflow 2 names a task that never ran (upstream_failed)
    recorded = json.loads((CONTEXTS / version / f"{name}.json").read_text())["_pic"]["ti"]
    assert (trigger.try_number, trigger.map_index) == (recorded["try_number"], recorded["map_index"])
    # Airflow 3's log URL names the attempt too: the trigger's must be the one the URL opens
    url_try = parse_qs(urlsplit(trigger.log_location or "").query).get("try_number")
    assert url_try is None or url_try == [str(trigger.try_number)]
    if not name.endswith("__dag"):
        assert trigger.task_id == name.split("__")[1]
        assert trigger.exception  # a task-level callback carries the exception


def test_airflow3_task_level_manual_run_has_no_logical_date() -> None:
    trigger = triggers_from_context(load_context("3.3.2", "pic_python_exception__enrich_orders"))[0]
    assert trigger.logical_date is None
    assert trigger.exception == "KeyError: 'customer_id'"
    assert trigger.log_location and "try_number=1" in trigger.log_location


def test_airflow2_task_level_has_logical_date_from_execution_date() -> None:
    trigger = triggers_from_context(load_context("2.10.5", "pic_python_exception__enrich_orders"))[0]
    assert trigger.logical_date is not None
    assert trigger.task_id == "enrich_orders"


def test_dag_level_callback_uses_reason_when_there_is_no_exception() -> None:
    trigger = triggers_from_context(load_context("3.3.2", "pic_sigkill__dag"))[0]
    assert trigger.exception == "DAG run failed: task_failure"
    assert trigger.task_id == "load_big_table"


def test_dag_level_takes_failed_instances_from_the_dag_run() -> None:
    class Ti:
        def __init__(self, task_id: str, state: str) -> None:
            self.dag_id, self.task_id, self.state, self.try_number, self.map_index = "d", task_id, state, 2, -1

    class DagRun:
        run_id = "scheduled__2026-11-23T03:00:00+00:00"
        logical_date = None

        def get_task_instances(self, state: list[str] | None = None) -> list[Ti]:
            tis = [Ti("extract", "success"), Ti("transform", "failed"), Ti("report", "upstream_failed")]
            return [ti for ti in tis if state is None or ti.state in state]

    # Airflow 2's DAG-level ti is the last task of the run, not the failed one.
    ctx = {"dag_run": DagRun(), "reason": "task_failure", "ti": Ti("report", "upstream_failed")}
    triggers = triggers_from_context(ctx)
    assert [t.task_id for t in triggers] == ["transform"]
    assert triggers[0].try_number == 2


def test_secrets_in_the_exception_are_redacted() -> None:
    ctx = {
        "run_id": "r1",
        "ti": type("Ti", (), {"dag_id": "d", "task_id": "t", "try_number": 1})(),
        "exception": RuntimeError("could not connect to postgres://etl:hunter2@db:5432/x"),
    }
    trigger = triggers_from_context(ctx)[0]
    assert "hunter2" not in (trigger.exception or "")
    assert "[REDACTED]" in (trigger.exception or "")


def test_a_context_without_ids_gives_no_trigger_rather_than_raising() -> None:
    assert triggers_from_context({"exception": ValueError("x")}) == []


def test_airflow2_dag_level_upstream_failed_ti_is_flagged_not_trusted() -> None:
    # The real Airflow 2.10 DAG-level callback handed us the upstream_failed task, not the failed one
    trigger = triggers_from_context(load_context("2.10.5", "pic_upstream_failed__dag"))[0]
    assert trigger.task_id == "publish_amounts"
    assert trigger.context and "upstream_failed" in trigger.context


# A DAG-level context's task instance is the run's, not always the failed try's: task level only.
TASK_LEVEL = [(v, n) for v, n in CASES if not n.endswith("__dag")]


@pytest.mark.parametrize(("version", "name"), TASK_LEVEL, ids=[f"{v}-{n}" for v, n in TASK_LEVEL])
def test_a_task_level_context_carries_the_trys_window_as_airflow_recorded_it(version: str, name: str) -> None:
    trigger = triggers_from_context(load_context(version, name))[0]
    recorded = json.loads((CONTEXTS / version / f"{name}.json").read_text())["_pic"]["ti"]
    assert trigger.started_at is not None and trigger.started_at.isoformat() == recorded["start_date"]
    assert trigger.ended_at is not None and trigger.ended_at.isoformat() == recorded["end_date"]


def test_the_tasks_owner_is_read_from_the_task_instances_task_or_the_same_context_task() -> None:
    from types import SimpleNamespace

    ctx = load_context("3.3.2", "pic_bash_exit__export_to_sftp")
    ctx["task"] = SimpleNamespace(task_id="export_to_sftp", owner="alice@example.com")
    assert triggers_from_context(ctx)[0].task_owner == "alice@example.com"
    ctx["task"] = SimpleNamespace(task_id="another_task", owner="bob@example.com")  # not this task's owner
    assert triggers_from_context(ctx)[0].task_owner is None


def test_a_window_out_of_order_is_dropped_and_the_trigger_kept() -> None:
    ctx = load_context("2.10.5", "pic_bash_exit__export_to_sftp")
    ti = ctx["ti"]
    ti.start_date, ti.end_date = ti.end_date, ti.start_date
    [trigger] = triggers_from_context(ctx)
    assert (trigger.started_at, trigger.ended_at) == (None, None)
