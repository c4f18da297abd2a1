"""The cause fingerprint on real logs: one cause, one fingerprint; two causes, two.

Every log here was written by real Airflow 2.10/3.3 runs or real dbt (tests/fixtures), analysed by the
real log analyzer, as the log_analyzer worker does.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from log_analyzer.analyzer import analyze_log
from log_analyzer.incident import to_finding
from shared.contracts import Trigger
from shared.fingerprint import VERSION, cause_of, explain, fingerprint

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
AIRFLOW = FIXTURES / "airflow" / "logs"
DBT = FIXTURES / "dbt_failures"


def _fingerprint(log: Path | str, trigger: Trigger) -> str:
    cause = cause_of(to_finding(analyze_log(log, task=trigger.task_id)), trigger)
    assert cause is not None, log
    return cause.fingerprint


def _trigger(dag: str = "pic_retries", task: str = "call_flaky_api", run: str = "manual__1") -> Trigger:
    return Trigger(dag_id=dag, task_id=task, run_id=run)


def test_the_same_failure_on_two_tries_of_one_task_gives_one_fingerprint() -> None:
    tries = sorted((AIRFLOW / "airflow2").glob("dag_id=pic_retries/*/task_id=call_flaky_api/attempt=*.log"))
    assert len(tries) == 2
    first, second = (_fingerprint(log, _trigger(run=f"manual__{n}")) for n, log in enumerate(tries))
    assert first == second and first.startswith(f"{VERSION}-")


def test_one_unreachable_host_from_thirty_tasks_gives_one_fingerprint(tmp_path: Path) -> None:
    # The real refused-connection log, as thirty different tasks of different DAGs would write it
    [log] = (AIRFLOW / "airflow2").glob("dag_id=pic_retries/*/task_id=call_flaky_api/attempt=2.log")
    text = log.read_text()
    prints = set()
    for n in range(30):
        dag, task = f"ingest_{n % 7}", f"pull_partner_{n}"
        own = text.replace("pic_retries", dag).replace("call_flaky_api", task)
        prints.add(_fingerprint(own, _trigger(dag, task, f"scheduled__2026-11-23T{n % 24:02d}:00:00+00:00")))
    assert len(prints) == 1


def test_another_host_is_another_cause() -> None:
    message = "ConnectionError: HTTPSConnectionPool(host='{}', port=443): Max retries exceeded with url: /v1/orders"
    one = fingerprint(error_class="connection_error", key_object="ConnectionError", message=message.format("a.example"))
    other = fingerprint(
        error_class="connection_error", key_object="ConnectionError", message=message.format("b.example")
    )
    assert one != other


def test_two_different_missing_columns_give_two_fingerprints() -> None:
    model = _fingerprint(DBT / "invalid_identifier__model_column" / "console.log", _trigger("dbt", "build"))
    test = _fingerprint(DBT / "invalid_identifier__test_column" / "console.log", _trigger("dbt", "build"))
    assert model != test


def test_every_distinct_dbt_failure_of_the_fixtures_has_its_own_fingerprint() -> None:
    prints: dict[str, str] = {}
    for case in sorted(p for p in DBT.iterdir() if (p / "expected.json").is_file()):
        if json.loads((case / "expected.json").read_text()).get("error_class") in (None, "success"):
            continue
        found = cause_of(to_finding(analyze_log(case / "console.log")), _trigger("dbt", "build"))
        if found is None:
            continue
        assert found.fingerprint not in prints, f"{case.name} collides with {prints.get(found.fingerprint)}"
        prints[found.fingerprint] = case.name
    assert len(prints) >= 30


@pytest.mark.parametrize(
    ("varying", "message"),
    [
        ("a timestamp", "[2026-11-23T11:02:13.711+0000] {taskinstance.py:3311} ERROR - Task failed: timed out"),
        ("a duration", "AirflowSensorTimeout: Sensor has timed out; run duration of 5.024183940000057 seconds"),
        ("a query id", "Query 01b8e7c2-0000-6f21-0000-0001e0a2b3c6 failed: timed out"),
        ("a path", "FileNotFoundError: /data/landing/2026/11/23/partner.csv"),
    ],
)
def test_what_varies_between_runs_of_one_cause_is_masked(varying: str, message: str) -> None:
    template = explain(error_class="timeout", key_object=None, message=message).template
    assert not any(ch.isdigit() for ch in template), (varying, template)


def test_the_parts_are_shown_for_the_grouped_because_line() -> None:
    cause = explain(
        error_class="invalid_identifier",
        key_object="amount_usd",
        message='Binder Error: Referenced column "amount_usd" not found in FROM clause!',
        own_ids=("hourly_marts", "fct_orders"),
    )
    assert (cause.error_class, cause.key_object) == ("invalid_identifier", "amount_usd")
    assert cause.template == 'binder error: referenced column "<key>" not found in from clause!'


def test_quoted_names_and_small_codes_are_causes_and_own_ids_only_whole_tokens() -> None:
    def fp(message: str, *own: str) -> str:
        return fingerprint(error_class="code_error", key_object=None, message=message, own_ids=own)

    # two missing files, quoted: two causes (the path mask does not reach inside quotes)
    assert fp('FileNotFoundError: "/data/in/f5.csv"') != fp('FileNotFoundError: "/data/in/f9.csv"')
    # exit 137 (killed) is not exit 1
    assert fp("Command exited with return code 137") != fp("Command exited with return code 1")
    # task "load" and task "transform" failing on one cause: "load" inside the message is not the task
    assert fp("failed to load table raw.orders", "load") == fp("failed to load table raw.orders", "transform")
