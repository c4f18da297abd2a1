"""How the analyzer reads a failed task's log: a cause above a wrapper, prose without "error", connector
warnings, `airflow dags test` output, dbt tests named by the manifest, and never "no failure" for a log
that says the task failed."""

from __future__ import annotations

from pathlib import Path

from log_analyzer import analyze_log

TS = "[2026-11-23T10:00:00.000+0000]"
OWNERS_PROJECT = Path(__file__).resolve().parents[1] / "fixtures" / "dbt_owners" / "project"


def _airflow2(*lines: str) -> list[str]:
    return [f"{TS} {{{where}}} {level} - {text}" for where, level, text in (line.split("|", 2) for line in lines)]


BASH_SSH_TIMEOUT = _airflow2(
    "subprocess.py:75|INFO|Running command: ['/usr/bin/bash', '-c', 'sftp -b batch.txt etl@sftp.partner.example']",
    "subprocess.py:86|INFO|Output:",
    "subprocess.py:93|INFO|ssh: connect to host sftp.partner.example port 22: Connection timed out",
    "subprocess.py:93|INFO|Connection closed",
    "subprocess.py:97|INFO|Command exited with return code 255",
    "taskinstance.py:1937|ERROR|Task failed with exception",
) + [
    "Traceback (most recent call last):",
    '  File "/opt/airflow/providers/standard/operators/bash.py", line 240, in execute',
    "    raise AirflowException(",
    "airflow.exceptions.AirflowException: Bash command failed. The command returned a non-zero exit code 255.",
    *_airflow2("taskinstance.py:1400|INFO|Marking task as FAILED. dag_id=exports, task_id=push_to_sftp, run_id=r1"),
]


def test_an_exit_code_takes_its_class_from_the_stderr_line_above_it_citing_both() -> None:
    result = analyze_log(BASH_SSH_TIMEOUT)
    assert (result.error_class, result.failed_node, result.step) == (
        "connection_error",
        "push_to_sftp",
        "net.connect_timeout",
    )
    cited = {e.line: e.text for e in result.evidence}
    assert cited[3] == "ssh: connect to host sftp.partner.example port 22: Connection timed out"
    assert cited[5] == "Command exited with return code 255"  # the wrapper below it, cited too


def test_a_failed_log_no_signature_explains_names_its_last_exception_line() -> None:
    lines = [
        *_airflow2("taskinstance.py:1937|ERROR|Task failed with exception"),
        "Traceback (most recent call last):",
        '  File "/dags/quorum.py", line 12, in run',
        "acme.cluster.QuorumLostError",
        *_airflow2("taskinstance.py:1400|INFO|Marking task as FAILED. dag_id=ops, task_id=rebalance, run_id=r1"),
    ]
    result = analyze_log(lines)
    assert (result.error_class, result.failed_node, result.step) == (
        "unknown",
        "rebalance",
        "fallback: last exception line",
    )
    assert result.root_cause == "unknown in task rebalance: acme.cluster.QuorumLostError"
    assert [(e.line, e.text) for e in result.evidence] == [(4, "acme.cluster.QuorumLostError")]


def test_a_runner_exit_code_alone_cites_the_output_line_above_it() -> None:
    lines = _airflow2(
        'subprocess.py:93|INFO|rsync: change_dir "/exports" failed',
        "subprocess.py:93|INFO|partner host refused the batch",
        "local_task_job_runner.py:240|INFO|Task exited with return code 1",
    )
    result = analyze_log(lines)
    assert result.error_class == "unknown" and result.step and result.step.startswith("fallback:")
    assert [e.line for e in result.evidence] == [1, 3] or [e.line for e in result.evidence] == [2, 3]


def test_a_log_that_ends_in_a_failure_marker_always_gets_a_class() -> None:
    for lines in (
        _airflow2("taskinstance.py:1937|ERROR|Task failed with exception"),
        ["12:00:00  Completed with 1 error, 0 partial successes, and 0 warnings:"],
        _airflow2("taskinstance.py:1400|INFO|Marking task as FAILED. dag_id=d, task_id=t, run_id=r"),
    ):
        result = analyze_log(lines)
        assert result.failed and result.error_class == "unknown", lines
        assert result.evidence, lines


def test_a_log_that_shows_success_still_says_no_failure() -> None:
    lines = _airflow2(
        "subprocess.py:93|INFO|0 rows had an error flag",
        "subprocess.py:97|INFO|Command exited with return code 0",
        "taskinstance.py:1400|INFO|Marking task as SUCCESS. dag_id=d, task_id=t, run_id=r",
    )
    result = analyze_log(lines)
    assert (result.error_class, result.root_cause) == (None, "no failure found in the log")


def test_warehouse_prose_without_an_error_word_is_classified() -> None:
    cases = {
        "Warehouse 'TRANSFORMING' cannot be resumed because resource monitor 'RM_DAILY' has exceeded its quota.": (
            "resource_exhausted"
        ),
        "View 'ANALYTICS.MARTS.ORDERS_V' does not exist or not authorized.": "missing_object",
        "No active warehouse selected in the current session.": "config_error",
        "Insufficient privileges to operate on view 'ORDERS_V'": "permission_denied",
    }
    for line, error_class in cases.items():
        assert analyze_log([line]).error_class == error_class, line


def test_connector_retry_warnings_are_the_evidence_when_nothing_stronger_exists() -> None:
    lines = [
        "2026-11-23 10:00:00,030 - MainThread connectionpool.py:812 - urlopen() - WARNING - Retrying "
        "(Retry(total=0, connect=None, read=None, redirect=None, status=None)) after connection broken by "
        "'ConnectTimeoutError(<HTTPSConnection object at 0x7f>, 'Connection to acme.snowflakecomputing.com "
        "timed out. (connect timeout=5)')': /session/v1/login-request",
        "2026-11-23 10:00:15,055 - MainThread network.py:1090 - _request_exec() - DEBUG - Hit a timeout error "
        "while logging in. Will be handled by authenticator. Ignore the following.",
    ]
    result = analyze_log(lines)
    assert result.error_class == "connection_error"
    assert 1 in [e.line for e in result.evidence]


def test_a_message_wrapped_over_two_lines_is_read_whole() -> None:
    result = analyze_log(
        [
            "Cannot perform Merge as multiple source rows matched and attempted to modify the same",
            "target row in the Delta table in possibly conflicting ways.",
        ]
    )
    assert (result.error_class, result.step) == ("duplicate_row", "databricks.merge_multiple_matches")
    assert [e.line for e in result.evidence] == [1]


def test_airflow_2_dags_test_output_names_the_task_that_failed() -> None:
    lines = _airflow2(
        "dag.py:3960|INFO|dagrun id: exports",
        "dag.py:3926|INFO|*****************************************************",
        "dag.py:3926|INFO|Running task extract",
        "taskinstance.py:1400|INFO|Marking task as SUCCESS. dag_id=exports, task_id=extract, run_id=manual__1",
        "dag.py:3930|INFO|extract ran successfully!",
        "dag.py:3926|INFO|Running task load",
        "taskinstance.py:1937|ERROR|Task failed with exception",
    ) + [
        "Traceback (most recent call last):",
        'psycopg2.errors.UndefinedTable: relation "raw.orders" does not exist',
        *_airflow2(
            "taskinstance.py:1400|INFO|Marking task as FAILED. dag_id=exports, task_id=load, run_id=manual__1",
            "dagrun.py:823|ERROR|Marking run <DagRun exports @ 2026-11-23: manual__1, state:running> failed",
        ),
    ]
    result = analyze_log(lines)
    assert (result.error_class, result.failed_node) == ("missing_object", "load")
    assert "raw.orders" in result.root_cause


def test_airflow_3_dags_test_console_output_is_read_like_a_task_log() -> None:
    lines = [
        "2026-11-23 10:00:08 [info     ] Task started                   hostname=w1 previous_state=queued ti_id=01",
        "2026-11-23 10:00:09 [error    ] Task failed with exception     [task] dag_id=exports task_id=enrich",
        "Traceback (most recent call last):",
        '  File "/dags/exports.py", line 30, in enrich',
        "KeyError: 'customer_id'",
        "2026-11-23 10:00:09 [info     ] DagRun Finished: dag_id=exports, run_id=manual__1, state=failed",
    ]
    result = analyze_log(lines)
    assert (result.error_class, result.failed_node) == ("code_error", "enrich")
    assert "customer_id" in result.root_cause


def test_a_dbt_test_gets_its_full_unique_id_from_the_manifest() -> None:
    lines = [
        "12:00:01  Failure in test not_null_dim_customers_email (models/schema.yml)",
        "12:00:01    Got 2 results, configured to fail if != 0",
    ]
    result = analyze_log(lines, dbt_project_dir=OWNERS_PROJECT)
    assert (result.error_class, result.failed_node) == (
        "test_failure",
        "test.dbt_owners.not_null_dim_customers_email.ed68b54d1a",
    )
    # without a manifest: the unique_id without its hash
    assert analyze_log(lines).failed_node == "test.not_null_dim_customers_email"


def test_a_macro_failing_inside_a_model_is_charged_to_the_model() -> None:
    lines = [
        "00:08:05  1 of 2 START table model main.ingest............................................ [RUN]",
        "00:08:05  1 of 2 ERROR creating table model main.ingest................................... [ERROR in 0.08s]",
        "00:08:05  Completed with 1 error and 0 warnings:",
        "00:08:05  Compilation Error in macro statement (macros/etc/statement.sql)",
        "00:08:05    'dict object' has no attribute 'table'",
    ]
    result = analyze_log(lines)
    assert (result.error_class, result.failed_node) == ("compilation_error", "model.ingest")
