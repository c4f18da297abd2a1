"""shared.dbt_artifacts on real dbt artifacts: node names, the manifest index, run_results and sources.

The real files: tests/fixtures/dbt_owners/project/target (a `dbt build` with an error, a failed test
and skipped children, plus `dbt source freshness`), samples/hourly_marts, tests/fixtures/dbt_failures.
Oversized artifacts are sparse files (``truncate``): no test writes 256 MB.
"""

from __future__ import annotations

import json
import os
import shutil
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared import bounded_files, dbt_artifacts
from shared.airflow_logs import airflow_task_log_path
from shared.bounded_files import MAX_MANIFEST_BYTES, ArtifactTooBig
from shared.dbt_artifacts import clear_cache, load_manifest, node_name, read_results
from shared.dbt_manifest_decode import decode
from shared.errors import SourceError
from shared.paths import PathRefused
from tests.requirements import require_module

REPO = Path(__file__).resolve().parents[2]
OWNERS_TARGET = REPO / "tests" / "fixtures" / "dbt_owners" / "project" / "target"
SAMPLE_TARGET = REPO / "samples" / "hourly_marts" / "dbt_project" / "target"
FAILURES = REPO / "tests" / "fixtures" / "dbt_failures"
MB = 1024 * 1024


def _sparse(path: Path, size: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        f.truncate(size)  # the size is there, the blocks are not
    return path


# --- node names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("unique_id", "name"),
    [
        ("model.shop.fct_orders", "fct_orders"),
        ("model.shop.fct_orders.v2", "fct_orders"),  # a versioned model
        ("seed.shop.raw_orders", "raw_orders"),
        ("snapshot.shop.orders_snapshot", "orders_snapshot"),
        ("analysis.shop.revenue_check", "revenue_check"),
        ("test.dbt_owners.not_null_dim_customers_email.ed68b54d1a", "not_null_dim_customers_email"),
        ("test.shop.assert_positive_amounts", "assert_positive_amounts"),  # a singular test: no hash
        ("source.dbt_owners.raw.raw_orders", "raw_orders"),
        ("exposure.hourly_marts.revenue_dashboard", "revenue_dashboard"),
        ("macro.dbt.run_query", "macro.dbt.run_query"),  # other kinds stay whole
        ("metric.shop.revenue", "metric.shop.revenue"),
        ("fct_orders", "fct_orders"),  # a bare name
        ("model.shop", "model.shop"),  # too short to be an id
        ("", ""),
    ],
)
def test_node_name(unique_id: str, name: str) -> None:
    assert node_name(unique_id) == name


# --- run_results.json and sources.json --------------------------------------------------------------


def test_run_results_of_a_real_build_failed_and_skipped() -> None:
    # Given the real `dbt build`: fct_orders errors, not_null on dim_customers.email fails on 1 row
    results = read_results(OWNERS_TARGET / "run_results.json", root=OWNERS_TARGET.parent)
    # Then the failed nodes come error first, with the test's failing rows
    assert [(r.unique_id, r.status, r.failures) for r in results.failed] == [
        ("model.dbt_owners.fct_orders", "error", None),
        ("test.dbt_owners.not_null_dim_customers_email.ed68b54d1a", "fail", 1),
    ]
    assert "Runtime Error" in results.failed[0].message
    assert [r.name for r in results.failed] == ["fct_orders", "not_null_dim_customers_email"]
    assert [r.unique_id for r in results.skipped] == [
        "model.dbt_owners.rpt_daily_revenue",
        "exposure.dbt_owners.finance_dashboard",
    ]
    assert len(results.results) == 14 and not any(r.is_source_freshness for r in results.results)
    # And the file-level time and invocation are carried
    assert results.generated_at == datetime(2026, 11, 23, 10, 58, 35, 541849, tzinfo=UTC)
    assert results.invocation_id == "fdc04376-f43f-493d-9cbf-1092db1b9d1f"


def test_the_bundled_sample_fct_orders_errored_and_its_children_were_skipped() -> None:
    results = read_results(SAMPLE_TARGET / "run_results.json", root=SAMPLE_TARGET.parent)
    assert [r.name for r in results.failed] == ["fct_orders"]  # the warn is not a failure
    skipped = {r.name for r in results.skipped}
    assert {"orders_daily", "customer_ltv", "revenue_dashboard", "not_null_fct_orders_amount"} <= skipped


def test_a_failed_test_carries_its_failing_rows() -> None:
    case = FAILURES / "test_failure__unique"
    [failed] = read_results(case / "run_results.json", root=case).failed
    assert (failed.name, failed.status, failed.failures) == ("unique_stg_orders_order_id", "fail", 1)


def test_failed_statuses_in_order_of_preference(tmp_path: Path) -> None:
    # Given a failed test, a runtime error and an error, in that file order
    doc = {
        "metadata": {"generated_at": "2026-11-23T10:58:35"},  # naive: dbt writes UTC
        "results": [
            {"unique_id": "test.p.t.abc", "status": "fail", "failures": 3, "message": "Got 3 results"},
            {"unique_id": "model.p.b", "status": "runtime error", "message": None},
            {"unique_id": "model.p.a", "status": "error", "message": "Database Error"},
            {"unique_id": "model.p.ok", "status": "success"},
            {"status": "error"},  # no unique_id: not a node
            "not an object",
        ],
    }
    path = tmp_path / "run_results.json"
    path.write_text(json.dumps(doc))
    results = read_results(path, root=tmp_path)
    assert [(r.unique_id, r.status) for r in results.failed] == [
        ("model.p.a", "error"),
        ("model.p.b", "runtime error"),
        ("test.p.t.abc", "fail"),
    ]
    assert results.failed[1].message == ""
    assert results.generated_at == datetime(2026, 11, 23, 10, 58, 35, tzinfo=UTC)
    assert results.invocation_id is None


def test_sources_json_freshness_results() -> None:
    # Given the real `dbt source freshness`: app.payments stale (error), app.events fresh
    case = FAILURES / "freshness_failure__one_of_two_stale"
    results = read_results(case / "sources.json", root=case)
    [stale] = results.failed
    assert (stale.unique_id, stale.name, stale.status) == ("source.pic_failures.app.payments", "payments", "error")
    assert all(r.is_source_freshness for r in results.results)
    assert results.invocation_id == "389a8a9e-2521-4527-8592-0fbf1f2500fb"
    owners = read_results(OWNERS_TARGET / "sources.json", root=OWNERS_TARGET.parent)
    assert {r.name for r in owners.failed} == {"raw_orders", "raw_customers"}


def test_a_results_file_outside_the_root_is_refused(tmp_path: Path) -> None:
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    (project / "target").mkdir(parents=True)
    elsewhere.mkdir()
    shutil.copy(OWNERS_TARGET / "run_results.json", elsewhere / "run_results.json")
    # When the path climbs out, or a symlink inside the project points out, it is not read
    with pytest.raises(PathRefused, match="is outside DBT_PROJECT_DIR"):
        read_results(project / "target" / ".." / ".." / "elsewhere" / "run_results.json", root=project)
    (project / "target" / "run_results.json").symlink_to(elsewhere / "run_results.json")
    with pytest.raises(PathRefused, match="symlink"):
        read_results(project / "target" / "run_results.json", root=project)
    # Control: the same file inside the project is read; root=None reads a path as given
    (project / "target" / "run_results.json").unlink()
    shutil.copy(elsewhere / "run_results.json", project / "target" / "run_results.json")
    assert read_results(project / "target" / "run_results.json", root=project).failed
    assert read_results(elsewhere / "run_results.json", root=None).failed


def test_an_oversized_results_file_is_refused_before_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _sparse(tmp_path / "run_results.json", MAX_MANIFEST_BYTES + 10 * MB)

    def no_read(*_args: object, **_kwargs: object) -> bytes:
        raise AssertionError("an oversized artifact must not be read")

    monkeypatch.setattr(dbt_artifacts, "_read", no_read)
    with pytest.raises(ArtifactTooBig) as caught:
        read_results(path, root=tmp_path)
    assert str(caught.value).startswith("dbt's run_results.json over 256 MB: not read")
    assert "is 266 MB (limit 256 MB" in str(caught.value)


def test_a_missing_or_unusable_results_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_results(tmp_path / "run_results.json", root=tmp_path)
    path = tmp_path / "run_results.json"
    for text in ('{"results": [', '{"metadata": {}}', '{"results": {}}', "[]"):
        path.write_text(text)
        with pytest.raises(SourceError, match="is not a dbt run_results.json"):
            read_results(path, root=tmp_path)


# --- the manifest index -------------------------------------------------------------------------------


def test_the_limit_is_256_mb() -> None:
    assert MAX_MANIFEST_BYTES == 256 * 1024 * 1024


def test_a_manifest_over_the_limit_is_refused_by_its_size_without_reading_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _sparse(tmp_path / "target" / "manifest.json", MAX_MANIFEST_BYTES + 10 * MB)

    def no_read(*_args: object, **_kwargs: object) -> bytes:
        raise AssertionError("an oversized manifest must not be read")

    monkeypatch.setattr(dbt_artifacts, "_read", no_read)
    with pytest.raises(ArtifactTooBig) as caught:
        load_manifest(path, instead="We do without it.")
    message = str(caught.value)
    assert message.startswith("dbt's manifest.json over 256 MB: not read")
    assert str(path.resolve()) in message  # which file
    assert "is 266 MB (limit 256 MB, shared/bounded_files.py MAX_MANIFEST_BYTES)" in message  # size and limit
    assert "We do without it." in message  # what the caller does instead
    assert "dbt parse" in message and "raise the limit" in message  # what to do


def test_a_manifest_at_the_limit_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "manifest.json"
    path.write_text('{"nodes": {}, "metadata": {"project_name": "p"}}')
    monkeypatch.setattr(bounded_files, "MAX_MANIFEST_BYTES", path.stat().st_size)
    assert load_manifest(path).project_name == "p"


def test_the_read_itself_stops_at_the_limit_if_the_file_grew_after_stat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "manifest.json"
    path.write_text('{"nodes": {}}' + " " * 1_000)
    monkeypatch.setattr(bounded_files, "MAX_MANIFEST_BYTES", 100)
    with pytest.raises(ArtifactTooBig, match="manifest.json over .* MB: not read"):
        dbt_artifacts._read(path)


def test_manifest_is_parsed_once_per_file_version(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.json"
    manifest.write_bytes((OWNERS_TARGET / "manifest.json").read_bytes())
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
    assert load_manifest(manifest) is second


def test_downstream_models_and_exposures() -> None:
    index = load_manifest(OWNERS_TARGET / "manifest.json")
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


def test_neighbours_one_hop_up_and_down_models_only() -> None:
    index = load_manifest(SAMPLE_TARGET / "manifest.json")
    # fct_orders: stg_orders, stg_payments upstream; orders_daily, customer_ltv downstream (not its tests
    # nor the revenue_dashboard exposure)
    assert index.neighbours("fct_orders") == {"stg_orders", "stg_payments", "orders_daily", "customer_ltv"}
    assert index.lineage_nodes("fct_orders") == ("model.hourly_marts.fct_orders",)
    assert index.neighbours("util_calendar") == {"orders_daily"}
    assert index.neighbours("no_such_model") == frozenset()
    assert index.lineage_nodes("no_such_model") == ()
    owners = load_manifest(OWNERS_TARGET / "manifest.json")
    assert owners.neighbours("stg_orders") == {"fct_orders", "fct_revenue", "fin_ledger", "pay_settlements"}
    assert owners.lineage_nodes("raw_orders") == ("seed.dbt_owners.raw_orders",)  # not the source of that name


def test_neighbours_of_a_versioned_model_by_name(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_text(
        json.dumps(
            {
                "nodes": {
                    "model.shop.fct_orders.v2": {"name": "fct_orders", "resource_type": "model"},
                    "model.shop.stg_orders": {"name": "stg_orders", "resource_type": "model"},
                    "test.shop.not_null_fct_orders_id.abc": {"name": "not_null_fct_orders_id", "resource_type": "test"},
                },
                "parent_map": {"model.shop.fct_orders.v2": ["model.shop.stg_orders", "source.shop.raw.orders"]},
                "child_map": {
                    "model.shop.fct_orders.v2": ["test.shop.not_null_fct_orders_id.abc", "model.shop.rpt.v1"]
                },
            }
        )
    )
    index = load_manifest(path)
    assert index.neighbours("fct_orders") == {"stg_orders", "rpt"}  # rpt is not in nodes: named from its id
    assert index.parent_map["model.shop.fct_orders.v2"][0] == "model.shop.stg_orders"


def test_the_stdlib_and_msgspec_decoders_build_the_same_index() -> None:
    # msgspec is an optional accelerator: without it the stdlib path must give the same answers
    require_module("msgspec", "pip install -e . (msgspec is a dependency)")
    path = OWNERS_TARGET / "manifest.json"
    raw = path.read_bytes()
    fast, slow = dbt_artifacts._index(path, decode(raw)), dbt_artifacts._index(path, json.loads(raw))
    assert fast.nodes == slow.nodes
    assert fast.by_name == slow.by_name
    assert (fast.groups, fast.exposures, fast.child_map, fast.parent_map) == (
        slow.groups,
        slow.exposures,
        slow.child_map,
        slow.parent_map,
    )
    assert fast.parent_map  # the real manifest has one


def test_a_corrupt_manifest_is_a_source_error(tmp_path: Path) -> None:
    bad = tmp_path / "manifest.json"
    bad.write_text('{"nodes": {"model.x.y": ')
    with pytest.raises(SourceError, match="not valid JSON"):
        load_manifest(bad)
    bad.write_text('{"metadata": {}}')
    with pytest.raises(SourceError, match="not a dbt manifest"):
        load_manifest(bad)


# --- Airflow's task-log layout --------------------------------------------------------------------------


def test_airflow_task_log_path() -> None:
    folder = Path("/opt/airflow/logs")
    base = folder / "dag_id=hourly_marts" / "run_id=scheduled__2026-11-23T03:00:00+00:00" / "task_id=dbt_build"
    fields = {"dag_id": "hourly_marts", "run_id": "scheduled__2026-11-23T03:00:00+00:00", "task_id": "dbt_build"}
    assert airflow_task_log_path(folder, **fields, map_index=-1, try_number=2) == base / "attempt=2.log"
    assert airflow_task_log_path(folder, **fields, map_index=0, try_number=1) == base / "map_index=0" / "attempt=1.log"


def test_a_small_artifact_is_read_into_a_small_buffer(tmp_path: Path) -> None:
    # The read is bounded by the limit, but its buffer is sized by the file (not 256 MB up front)
    path = tmp_path / "run_results.json"
    shutil.copy(OWNERS_TARGET / "run_results.json", path)
    tracemalloc.start()
    try:
        read_results(path, root=tmp_path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * MB


def test_a_file_that_grew_after_its_size_was_taken_is_read_whole_up_to_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "manifest.json"
    path.write_text('{"nodes": {}}' + " " * 1_000)
    real_fstat = os.fstat

    def stale_fstat(fd: int) -> os.stat_result:  # the size before the file grew by 1,000 bytes
        s = real_fstat(fd)
        return os.stat_result(
            (s.st_mode, s.st_ino, s.st_dev, s.st_nlink, s.st_uid, s.st_gid, 13, s.st_atime, s.st_mtime, s.st_ctime)
        )

    monkeypatch.setattr(os, "fstat", stale_fstat)
    assert len(bounded_files.read_at_most(path, limit=2_000, setting="s", instead="i")) == 1_013
    with pytest.raises(ArtifactTooBig, match="over .* MB: not read"):
        bounded_files.read_at_most(path, limit=100, setting="s", instead="i")


@pytest.mark.parametrize(
    ("text", "package", "kind", "short"),
    [
        ("model.shop.fct_orders", "shop", "model", "fct_orders"),
        ("model.shop.fct_orders.v2", "shop", "model", "fct_orders"),
        ("test.shop.not_null_fct_orders_id.4f2a", "shop", "test", "not_null_fct_orders_id"),
        ("source.shop.raw.orders", "shop", "source", "orders"),
        ("raw.raw_orders", None, None, "raw_orders"),  # a source written source_name.table: not an id
        ("fct_orders", None, None, "fct_orders"),
        ("nodot", None, None, "nodot"),
    ],
)
def test_the_parts_of_a_unique_id(text: str, package: str | None, kind: str | None, short: str) -> None:
    assert (dbt_artifacts.package_of(text), dbt_artifacts.resource_type_of(text)) == (package, kind)
    assert dbt_artifacts.short_name(text) == short


def test_a_manifest_with_sections_of_the_wrong_shape_is_read_not_raised(tmp_path: Path) -> None:
    # Given a manifest whose optional sections are lists where dbt writes objects
    path = tmp_path / "manifest.json"
    node = {"name": "fct_orders", "resource_type": "model", "depends_on": {"nodes": []}}
    path.write_text(
        json.dumps(
            {
                "nodes": {"model.shop.fct_orders": node},
                "sources": [],
                "groups": [],
                "exposures": [],
                "child_map": [],
                "parent_map": [],
            }
        )
    )
    # Then the index has what is usable and nothing of the rest
    index = load_manifest(path)
    assert [n.name for n in index.lookup("fct_orders")] == ["fct_orders"]
    assert index.groups == {} and index.exposures == {} and index.neighbours("fct_orders") == frozenset()
