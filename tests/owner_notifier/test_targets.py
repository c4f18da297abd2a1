"""What failed (run_results.json, sources.json, task id), on real dbt artifacts (the manifest: tests/shared)."""

from __future__ import annotations

import json
from pathlib import Path

from owner_notifier.owners import open_project
from owner_notifier.targets import failure_class, find_targets
from shared.contracts import Trigger
from shared.provenance import TaskLogDbt
from tests.owner_notifier.conftest import FIXTURE_EXCEPTION, FIXTURE_TRY, PROJECT

RAN_DBT = TaskLogDbt.scan(["[0m10:58:30  Running with dbt=1.11.16"])


def _trigger(**fields: object) -> Trigger:
    base = {"dag_id": "hourly_marts", "task_id": "dbt_build", "run_id": "manual__1", **FIXTURE_TRY}
    return Trigger(**{**base, **fields})  # type: ignore[arg-type]


# No task log read: the trigger stands in, naming fct_orders as Airflow's exception text does
UNREAD = TaskLogDbt.stand_in(_trigger(exception=FIXTURE_EXCEPTION))


def test_trigger_model_wins() -> None:
    targets, looked_in = find_targets(
        _trigger(model="fct_revenue", exception="Database Error in model"),
        open_project(PROJECT),
        target_dir=PROJECT / "target",
        task_log=UNREAD,
    )
    assert [(t.name, t.found_by, t.failure_class) for t in targets] == [
        ("fct_revenue", "trigger.model", "Database Error")
    ]
    assert looked_in == ["trigger.model"]


def test_run_results_failed_model_and_test_on_an_owned_model() -> None:
    # Given the real `dbt build`: fct_orders errors, not_null on dim_customers.email fails
    targets, _ = find_targets(_trigger(), open_project(PROJECT), target_dir=PROJECT / "target", task_log=UNREAD)
    by_name = {t.name: t for t in targets}
    assert set(by_name) == {"fct_orders", "not_null_dim_customers_email"}
    assert by_name["fct_orders"].owner_of == ("model.dbt_owners.fct_orders",)
    assert by_name["fct_orders"].failure_class == "Runtime Error"
    # Then the test answers to the owner of the model it tests
    test = by_name["not_null_dim_customers_email"]
    assert test.resource_type == "test"
    assert test.owner_of == ("model.dbt_owners.dim_customers",)
    assert test.failure_class == "test failed (1 failing rows)"


def test_source_freshness_failures_answer_to_the_source(project_copy: Path) -> None:
    # Given run_results.json without failures, and the real sources.json of `dbt source freshness`
    run_results = project_copy / "target" / "run_results.json"
    doc = json.loads(run_results.read_text())
    doc["results"] = [r for r in doc["results"] if r["status"] not in ("error", "fail")]
    run_results.write_text(json.dumps(doc))
    # (this try's log was read and shows a dbt run; it names no failed node, so the time decides)
    targets, _ = find_targets(
        _trigger(), open_project(project_copy), target_dir=project_copy / "target", task_log=RAN_DBT
    )
    assert {(t.unique_id, t.found_by, t.failure_class) for t in targets} == {
        ("source.dbt_owners.raw.raw_orders", "sources.json", "source freshness: stale"),
        ("source.dbt_owners.raw.raw_customers", "sources.json", "source freshness: stale"),
    }


def test_task_id_matches_a_manifest_node(no_manifest_project: Path) -> None:
    # Given no run_results.json: only the manifest and the task id are left
    project = open_project(no_manifest_project, manifest_path=PROJECT / "target" / "manifest.json")
    for task_id in ("fct_revenue", "marts.fct_revenue_run", "fct_revenue.run", "run_fct_revenue"):
        targets, _ = find_targets(
            _trigger(task_id=task_id), project, target_dir=no_manifest_project / "target", task_log=RAN_DBT
        )
        assert [(t.name, t.found_by) for t in targets] == [("fct_revenue", "task_id")], task_id


def test_with_no_task_log_an_artifact_the_trigger_does_not_name_is_not_used(project_copy: Path) -> None:
    # A bash task fails while another run's dbt build writes its artifacts; no log can be read:
    # the time alone does not make that build's failures this task's
    bash = _trigger(task_id="export_to_sftp", exception="AirflowException: Bash command failed. exit code 3.")
    targets, looked_in = find_targets(
        bash, open_project(project_copy), target_dir=project_copy / "target", task_log=TaskLogDbt.stand_in(bash)
    )
    assert targets == []
    assert any("no task log was read for this try" in line for line in looked_in)


def test_nothing_found_says_where_it_looked(no_manifest_project: Path) -> None:
    targets, looked_in = find_targets(
        _trigger(task_id="unrelated_task"),
        open_project(no_manifest_project),
        target_dir=no_manifest_project / "target",
        task_log=UNREAD,
    )
    assert targets == []
    assert "target/run_results.json (not found)" in looked_in


def test_failure_class() -> None:
    assert failure_class("Runtime Error in model x (models/x.sql)\n  Binder Error: ...") == "Runtime Error"
    assert failure_class("airflow.exceptions.AirflowException: dbt exited 1") == "AirflowException"
    assert failure_class("exit code 2") is None
    assert failure_class(None) is None


def test_an_unusable_run_results_is_noted_and_sources_json_still_read(project_copy: Path) -> None:
    # Given a run_results.json cut short, and the real sources.json of `dbt source freshness`
    (project_copy / "target" / "run_results.json").write_text('{"results": [')
    targets, looked_in = find_targets(
        _trigger(), open_project(project_copy), target_dir=project_copy / "target", task_log=RAN_DBT
    )
    assert "target/run_results.json (unusable: SourceError)" in looked_in
    assert {t.name for t in targets} == {"raw_orders", "raw_customers"}
    assert {t.found_by for t in targets} == {"sources.json"}
