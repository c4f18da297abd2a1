"""What failed (run_results.json, sources.json, task id) and the manifest cache, on real dbt artifacts."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from owner_notifier.manifest import _index, clear_cache, load_manifest
from owner_notifier.manifest_decode import decode
from owner_notifier.owners import open_project
from owner_notifier.targets import failure_class, find_targets
from shared.contracts import Trigger
from shared.errors import SourceError
from tests.owner_notifier.conftest import PROJECT


def _trigger(**fields: object) -> Trigger:
    base = {"dag_id": "hourly_marts", "task_id": "dbt_build", "run_id": "manual__1"}
    return Trigger(**{**base, **fields})  # type: ignore[arg-type]


def test_trigger_model_wins() -> None:
    targets, looked_in = find_targets(
        _trigger(model="fct_revenue", exception="Database Error in model"),
        open_project(PROJECT),
        target_dir=PROJECT / "target",
    )
    assert [(t.name, t.found_by, t.failure_class) for t in targets] == [
        ("fct_revenue", "trigger.model", "Database Error")
    ]
    assert looked_in == ["trigger.model"]


def test_run_results_failed_model_and_test_on_an_owned_model() -> None:
    # Given the real `dbt build`: fct_orders errors, not_null on dim_customers.email fails
    targets, _ = find_targets(_trigger(), open_project(PROJECT), target_dir=PROJECT / "target")
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
    targets, _ = find_targets(_trigger(), open_project(project_copy), target_dir=project_copy / "target")
    assert {(t.unique_id, t.found_by, t.failure_class) for t in targets} == {
        ("source.dbt_owners.raw.raw_orders", "sources.json", "source freshness: stale"),
        ("source.dbt_owners.raw.raw_customers", "sources.json", "source freshness: stale"),
    }


def test_task_id_matches_a_manifest_node(no_manifest_project: Path) -> None:
    # Given no run_results.json: only the manifest and the task id are left
    project = open_project(no_manifest_project, manifest_path=PROJECT / "target" / "manifest.json")
    for task_id in ("fct_revenue", "marts.fct_revenue_run", "fct_revenue.run", "run_fct_revenue"):
        targets, _ = find_targets(_trigger(task_id=task_id), project, target_dir=no_manifest_project / "target")
        assert [(t.name, t.found_by) for t in targets] == [("fct_revenue", "task_id")], task_id


def test_nothing_found_says_where_it_looked(no_manifest_project: Path) -> None:
    targets, looked_in = find_targets(
        _trigger(task_id="unrelated_task"),
        open_project(no_manifest_project),
        target_dir=no_manifest_project / "target",
    )
    assert targets == []
    assert "target/run_results.json (not found)" in looked_in


def test_failure_class() -> None:
    assert failure_class("Runtime Error in model x (models/x.sql)\n  Binder Error: ...") == "Runtime Error"
    assert failure_class("airflow.exceptions.AirflowException: dbt exited 1") == "AirflowException"
    assert failure_class("exit code 2") is None
    assert failure_class(None) is None


def test_manifest_is_parsed_once_per_file_version(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.json"
    manifest.write_bytes((PROJECT / "target" / "manifest.json").read_bytes())
    clear_cache()
    first = load_manifest(manifest)
    assert load_manifest(manifest) is first  # same version: the cached index
    # When the file is rewritten (new mtime and size), it is parsed again
    doc = json.loads(manifest.read_text())
    doc["nodes"]["model.dbt_owners.orphan_model"]["config"]["meta"] = {"owner": "<@U0NEW>"}
    manifest.write_text(json.dumps(doc))
    stat = manifest.stat()
    os.utime(manifest, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    second = load_manifest(manifest)
    assert second is not first
    assert second.nodes["model.dbt_owners.orphan_model"].config_meta == {"owner": "<@U0NEW>"}


def test_downstream_models_and_exposures() -> None:
    index = load_manifest(PROJECT / "target" / "manifest.json")
    impact = index.downstream("model.dbt_owners.fct_orders")
    assert impact["models"] == ["rpt_daily_revenue"]
    assert impact["exposures"] == ["finance_dashboard"]
    assert index.downstream("model.dbt_owners.stg_orders")["models"] == [
        "fct_orders",
        "fct_revenue",
        "fin_ledger",
        "pay_settlements",
        "rpt_daily_revenue",
    ]


def test_the_stdlib_and_msgspec_decoders_build_the_same_index() -> None:
    # msgspec is an optional accelerator: without it the stdlib path must give the same answers
    pytest.importorskip("msgspec")
    path = PROJECT / "target" / "manifest.json"
    raw = path.read_bytes()
    fast, slow = _index(path, decode(raw)), _index(path, json.loads(raw))
    assert fast.nodes == slow.nodes
    assert fast.by_name == slow.by_name
    assert (fast.groups, fast.exposures, fast.child_map) == (slow.groups, slow.exposures, slow.child_map)


def test_a_corrupt_manifest_is_a_source_error(tmp_path: Path) -> None:
    bad = tmp_path / "manifest.json"
    bad.write_text('{"nodes": {"model.x.y": ')
    with pytest.raises(SourceError, match="not valid JSON"):
        load_manifest(bad)
    bad.write_text('{"metadata": {}}')
    with pytest.raises(SourceError, match="not a dbt manifest"):
        load_manifest(bad)
