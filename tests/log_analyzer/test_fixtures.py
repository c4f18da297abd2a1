"""Data-driven accuracy tests over the real fixtures (dbt runs, Airflow logs, warehouse error lines)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from log_analyzer import analyze_log

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
DBT = FIXTURES / "dbt_failures"
PROJECT = DBT / "_project" / "base"
WAREHOUSE = FIXTURES / "warehouse_errors" / "errors.jsonl"

# Given the DAG each Airflow fixture ran (tests/fixtures/airflow/dags/pic_failure_kinds.py)
AIRFLOW_CLASS = {
    "pic_python_exception": "code_error",
    "pic_bash_exit": "code_error",
    "pic_execution_timeout": "timeout",
    "pic_sensor_timeout": "timeout",
    "pic_sigkill": "resource_exhausted",
    "pic_retries": "connection_error",
    "pic_bash_killed": "resource_exhausted",
    "pic_memory_error": "resource_exhausted",
    "pic_upstream_failed": "code_error",
}


def _dbt_cases() -> list[tuple[Path, str]]:
    cases = []
    for case in sorted(DBT.glob("*__*")):
        if (case / "expected.json").is_file():
            cases += [(case, f) for f in ("console.log", "dbt.log", "dbt.jsonl") if (case / f).is_file()]
    return cases


@pytest.mark.parametrize(("case", "log"), _dbt_cases(), ids=lambda v: v.name if isinstance(v, Path) else v)
def test_dbt_failure_fixture(case: Path, log: str) -> None:
    expected = json.loads((case / "expected.json").read_text())
    if "FILLED_BELOW" in str(expected.get("failed_node")):
        pytest.skip("fixture expected.json not finished by its generator")
    run_results = case / "run_results.json"
    # When: the log (and run_results.json, when dbt wrote one) is analyzed
    result = analyze_log(
        case / log, run_results=run_results if run_results.is_file() else None, dbt_project_dir=PROJECT
    )
    # Then: the class, the failing node and the key object are right
    assert result.error_class == expected["error_class"]
    assert result.failed_node == expected["failed_node"]
    key = expected.get("key_object")
    if key and key.encode() in (case / log).read_bytes():  # a key the log never names cannot be reported
        assert key in result.root_cause
    if expected["error_class"] is not None:
        assert result.evidence and all(e.line and e.line >= 1 for e in result.evidence)


def _airflow_logs() -> list[Path]:
    return sorted((FIXTURES / "airflow" / "logs").glob("*/dag_id=*/run_id=*/task_id=*/**/attempt=*.log"))


@pytest.mark.parametrize("log", _airflow_logs(), ids=lambda p: "/".join(p.parts[-5:-3] + p.parts[-1:]))
def test_airflow_log_fixture(log: Path) -> None:
    dag = next(p for p in log.parts if p.startswith("dag_id="))[len("dag_id=") :]
    task = next(p for p in log.parts if p.startswith("task_id="))[len("task_id=") :]
    if dag not in AIRFLOW_CLASS:
        pytest.skip(f"no expectation for {dag}")
    result = analyze_log(log)
    assert result.error_class == AIRFLOW_CLASS[dag]
    assert result.failed_node == task
    assert task in result.root_cause


def test_airflow_expected_json_when_present() -> None:
    expected_path = FIXTURES / "airflow" / "expected.json"
    if not expected_path.is_file():
        pytest.skip("tests/fixtures/airflow/expected.json not generated yet")
    expected = json.loads(expected_path.read_text())
    items = expected.items() if isinstance(expected, dict) else ((e.get("log"), e) for e in expected)
    for rel, exp in items:
        if not isinstance(exp, dict) or not rel:
            continue
        options = (FIXTURES / "airflow" / rel, FIXTURES / "airflow" / "logs" / rel)
        path = next((p for p in options if p.is_file()), None)
        if path is None:
            continue
        result = analyze_log(path)
        assert result.error_class == exp.get("error_class"), rel
        # failed_node is the dbt unique_id when the task ran dbt (entries then give "failed_node"),
        # else the Airflow task id
        node = exp.get("failed_node") or exp.get("failed_task")
        if node:
            assert result.failed_node == node, rel
        # key_object is descriptive ("exit code -9 (SIGKILL)"): each of its words must be in the root cause
        words = (exp.get("key_object") or "").replace("(", " ").replace(")", " ").split()
        missing = [w for w in words if w.lower() not in result.root_cause.lower()]
        assert not missing, (rel, missing, result.root_cause)
        if exp.get("error_class") is None:
            assert not result.evidence, rel


def _warehouse_lines() -> list[dict[str, str]]:
    if not WAREHOUSE.is_file():
        return []
    return [json.loads(line) for line in WAREHOUSE.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("case", _warehouse_lines(), ids=lambda c: f"{c['origin']}:{c['text'][:40]}")
def test_warehouse_error_line(case: dict[str, str]) -> None:
    result = analyze_log(case["text"].splitlines() or [case["text"]])
    assert result.error_class == case["error_class"]
    if case.get("key_object"):
        assert case["key_object"].lower() in result.root_cause.lower()
