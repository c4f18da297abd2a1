"""Data-driven accuracy tests over the real fixtures (dbt runs, Airflow logs, warehouse error lines).

Every fixture on disk is checked against its expectation; a fixture without one fails, naming the file.
Cases the analyzer is known to get wrong are listed in ``DBT_KEY_MISSES`` with the reason, as strict
expected failures: when the analyzer learns them, the XPASS fails and the entry must be removed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from log_analyzer import analyze_log
from log_analyzer.models import LogAnalysis

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
DBT = FIXTURES / "dbt_failures"
PROJECT = DBT / "_project" / "base"
VARIANTS = DBT / "_project" / "variants"
DBT_LOGS = ("console.log", "dbt.log", "dbt.jsonl")
DBT_LABELS = {"error_class", "failed_node", "key_object", "note"}
AIRFLOW = FIXTURES / "airflow"
# the fixture trees (logs/<airflow version>/dag_id=...) and the bundled sample's tree
AIRFLOW_LOG_GLOBS = ((AIRFLOW / "logs", "*/dag_id=*"), (REPO / "samples" / "hourly_marts" / "airflow_logs", "dag_id=*"))
WAREHOUSE = FIXTURES / "warehouse_errors" / "errors.jsonl"

# Given the DAG each Airflow fixture ran (tests/fixtures/airflow/dags/): the class of each task's failure,
# None for a task that succeeded
AIRFLOW_CLASS = {
    ("pic_python_exception", "enrich_orders"): "code_error",
    ("pic_bash_exit", "export_to_sftp"): "code_error",
    ("pic_execution_timeout", "slow_aggregate"): "timeout",
    ("pic_sensor_timeout", "wait_for_partner_file"): "timeout",
    ("pic_sigkill", "load_big_table"): "resource_exhausted",
    ("pic_retries", "call_flaky_api"): "connection_error",
    ("pic_bash_killed", "spark_submit_daily"): "resource_exhausted",
    ("pic_memory_error", "build_wide_matrix"): "resource_exhausted",
    ("pic_upstream_failed", "parse_amounts"): "code_error",
    # samples/hourly_marts: `dbt seed`, then `dbt build` where fct_orders selects the renamed amount_usd
    ("hourly_marts", "load_raw"): None,
    ("hourly_marts", "dbt_build_marts"): "invalid_identifier",
}

_TEST_FAILURE_MISS = (
    "dbt's message for a failing test ('Got N results, configured to fail if != 0') names no column: the "
    "column is only encoded in the generic test's name, which the analyzer cannot split into model and "
    "column without the manifest"
)
_TEMP_LIMIT_MISS = (
    "the setting is named on the line below the Out of Memory Error; the analyzer finds such a detail line "
    "only strictly below the root line, and {where}"
)
_TIMEOUT_MISS = (
    "the root line is 'CANCEL query model.pic_failures.order_pairs'; the analyzer does not add that a "
    "KeyboardInterrupt (SIGINT) caused it, which the log says only further down ('Exited because of "
    "keyboard interrupt', the KeyboardInterrupt traceback)"
)
# (case, log) -> why the root cause does not name the case's key_object (a known analyzer miss)
DBT_KEY_MISSES = {
    **{
        (case, log): _TEST_FAILURE_MISS
        for case in ("test_failure__not_null_store_failures", "test_failure__relationships", "test_failure__unique")
        for log in DBT_LOGS
    },
    ("resource_exhausted__temp_directory_full", "dbt.jsonl"): _TEMP_LIMIT_MISS.format(
        where="the JSON log carries the whole message in one event, so both lines share one line number"
    ),
    ("timeout__sigint_long_query", "console.log"): _TIMEOUT_MISS,
    ("timeout__sigint_long_query", "dbt.log"): _TIMEOUT_MISS,
}


def _dbt_case_dirs() -> list[Path]:
    return sorted(p for p in DBT.glob("*__*") if p.is_dir())


def _expected(case: Path) -> dict[str, str | None]:
    path = case / "expected.json"
    assert path.is_file(), f"{path}: a dbt fixture without its expected.json"
    expected: dict[str, str | None] = json.loads(path.read_text())
    return expected


def _names(text: str, key: str) -> bool:
    """``key`` is in ``text`` as a whole token, not inside a longer name (``events`` is not in ``stg_events``)."""
    return re.search(rf"(?<!\w){re.escape(key)}(?!\w)", text) is not None


def _detail(root_cause: str, error_class: str | None) -> str:
    """The root cause without its ``<class> in <node>: `` prefix: what the analyzer says about the error."""
    prefix = re.match(rf"{re.escape(str(error_class))}(?: in [^:]+)?: ", root_cause)
    assert prefix, root_cause
    return root_cause[prefix.end() :]


@pytest.mark.parametrize("case", _dbt_case_dirs(), ids=lambda p: p.name)
def test_dbt_fixture_labels(case: Path) -> None:
    expected = _expected(case)
    assert set(expected) == DBT_LABELS, case / "expected.json"
    # generate.sh copies the variant's expected.json: the checked-in copy must be that file
    variant = VARIANTS / case.name / "expected.json"
    assert expected == json.loads(variant.read_text()), f"{case / 'expected.json'} differs from {variant}"
    assert (case / "console.log").is_file() and (case / "dbt.jsonl").is_file(), case
    key, node = expected["key_object"], expected["failed_node"]
    if expected["error_class"] is None:
        assert key is None and node is None, case / "expected.json"
        return
    assert key, f"{case / 'expected.json'}: a failure without a key_object"
    # the key object is what the error names, never the failed node's own name (that check would pass by itself)
    if node is not None:
        parts = node.split(".")
        assert key != parts[3 if parts[0] == "source" else 2], f"{case / 'expected.json'}: key_object is the node"
    for log in DBT_LOGS:
        if (case / log).is_file():
            assert key.encode() in (case / log).read_bytes(), f"{case / log} never names {key!r}"


def _dbt_logs() -> list[tuple[Path, str]]:
    return [(case, log) for case in _dbt_case_dirs() for log in DBT_LOGS if (case / log).is_file()]


def _analyze_dbt(case: Path, log: str) -> LogAnalysis:
    run_results = case / "run_results.json"
    return analyze_log(case / log, run_results=run_results if run_results.is_file() else None, dbt_project_dir=PROJECT)


@pytest.mark.parametrize(("case", "log"), _dbt_logs(), ids=lambda v: v.name if isinstance(v, Path) else v)
def test_dbt_failure_fixture(case: Path, log: str) -> None:
    expected = _expected(case)
    # When: the log (and run_results.json, when dbt wrote one) is analyzed
    result = _analyze_dbt(case, log)
    # Then: the class and the failing node are right, with evidence lines when something failed
    assert result.error_class == expected["error_class"]
    assert result.failed_node == expected["failed_node"]
    if expected["error_class"] is None:
        assert not result.evidence
    else:
        assert result.evidence and all(e.line and e.line >= 1 for e in result.evidence)


def _is_success(case: Path) -> bool:
    """The case's label says nothing failed (a case without a label is not one: its tests fail, naming it)."""
    path = case / "expected.json"
    return path.is_file() and json.loads(path.read_text())["error_class"] is None


def _dbt_key_params() -> list[object]:
    # success__build has no key object: test_dbt_failure_fixture checks that nothing is reported
    failures = [(case, log) for case, log in _dbt_logs() if not _is_success(case)]
    return [
        pytest.param(
            case,
            log,
            marks=[pytest.mark.xfail(strict=True, reason=DBT_KEY_MISSES[(case.name, log)])]
            if (case.name, log) in DBT_KEY_MISSES
            else [],
            id=f"{case.name}-{log}",
        )
        for case, log in failures
    ]


def test_dbt_key_misses_name_real_logs() -> None:
    missing = [k for k in DBT_KEY_MISSES if not (DBT / k[0] / k[1]).is_file()]
    assert not missing, missing


@pytest.mark.parametrize(("case", "log"), _dbt_key_params())
def test_dbt_fixture_key_object(case: Path, log: str) -> None:
    key = _expected(case)["key_object"]
    assert key is not None
    result = _analyze_dbt(case, log)
    # Then: what the root cause says about the error (not the node label) names the key object
    assert _names(_detail(result.root_cause, result.error_class), key), (key, result.root_cause)


def _airflow_expectations() -> dict[Path, dict[str, object]]:
    path = AIRFLOW / "expected.json"
    return {(AIRFLOW / e["log"]).resolve(): e for e in json.loads(path.read_text())}


def _airflow_logs() -> list[Path]:
    return sorted(
        log.resolve()
        for tree, dags in AIRFLOW_LOG_GLOBS
        for log in tree.glob(f"{dags}/run_id=*/task_id=*/**/attempt=*.log")
    )


def test_every_airflow_expectation_has_its_log() -> None:
    missing = [str(p) for p in _airflow_expectations() if not p.is_file()]
    assert not missing, f"tests/fixtures/airflow/expected.json names logs that do not exist: {missing}"


@pytest.mark.parametrize("log", _airflow_logs(), ids=lambda p: "/".join(p.parts[-5:-3] + p.parts[-2:]))
def test_airflow_log_fixture(log: Path) -> None:
    dag = next(p for p in log.parts if p.startswith("dag_id="))[len("dag_id=") :]
    task = next(p for p in log.parts if p.startswith("task_id="))[len("task_id=") :]
    assert (dag, task) in AIRFLOW_CLASS, f"{log}: no expectation for its DAG and task in AIRFLOW_CLASS"
    expected = _airflow_expectations().get(log)
    assert expected is not None, f"{log}: no entry in tests/fixtures/airflow/expected.json"
    assert expected["error_class"] == AIRFLOW_CLASS[(dag, task)], log
    # the dbt unique_id when the task ran dbt (entries then give failed_node), else the Airflow task id
    node = expected["failed_node"] if "failed_node" in expected else expected["failed_task"]
    # When: the task log is analyzed
    result = analyze_log(log)
    # Then: the class and the failing node are right; the root cause names the node and the key object
    assert result.error_class == expected["error_class"]
    assert result.failed_node == node
    if expected["error_class"] is None:
        assert expected["key_object"] is None and not result.evidence
        return
    assert isinstance(node, str) and node.split(".")[-1] in result.root_cause
    # key_object is descriptive ("exit code -9 (SIGKILL)"): each of its words must be in the root cause
    key = expected["key_object"]
    assert isinstance(key, str) and key
    words = key.replace("(", " ").replace(")", " ").split()
    missing = [w for w in words if w.lower() not in result.root_cause.lower()]
    assert not missing, (missing, result.root_cause)


def test_hourly_marts_sample_incident_is_its_log_expectation() -> None:
    # Given: the bundled sample's trigger, its Airflow log and the run_results.json of the same build
    sample = REPO / "samples" / "hourly_marts"
    trigger = json.loads((sample / "incident.json").read_text())
    log = (sample / trigger["log_location"]).resolve()
    expected = _airflow_expectations()[log]
    assert (expected["dag_id"], expected["failed_task"]) == (trigger["dag_id"], trigger["task_id"])
    assert (expected["run_id"], expected["try_number"]) == (trigger["run_id"], trigger["try_number"])
    # When: analyzed as analyze_incident does, with run_results.json and the trigger's model
    result = analyze_log(
        log,
        run_results=sample / "dbt_project" / "target" / "run_results.json",
        model=trigger["model"],
        dbt_project_dir=sample / "dbt_project",
    )
    # Then: the same failure as the log alone, and fct_orders' children skipped
    assert result.error_class == expected["error_class"]
    assert result.failed_node == expected["failed_node"] == f"model.hourly_marts.{trigger['model']}"
    assert "amount_usd" in result.root_cause
    assert {"model.hourly_marts.orders_daily", "model.hourly_marts.customer_ltv"} <= set(result.skipped)


def _warehouse_lines() -> list[dict[str, str]]:
    return [json.loads(line) for line in WAREHOUSE.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("case", _warehouse_lines(), ids=lambda c: f"{c['origin']}:{c['text'][:40]}")
def test_warehouse_error_line(case: dict[str, str]) -> None:
    result = analyze_log(case["text"].splitlines() or [case["text"]])
    assert result.error_class == case["error_class"]
    if case.get("key_object"):
        assert case["key_object"].lower() in result.root_cause.lower()
