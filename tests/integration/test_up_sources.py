"""``incident-commander up`` reads the user's pipeline, never the bundled sample behind their back.

Explicit configuration always wins: with DBT_PROJECT_DIR, AIRFLOW_LOG_FOLDER and WAREHOUSE_URL set,
``up`` (a real process: embedded Redis, four worker processes) triages the user's failure; the sample
is used only with ``--sample``, which refuses to replace a source the user set. Each worker says at
start what it reads (``shared.reads``), in its log and in ``up``'s output.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import FCT_ORDERS_OWNER, REPO_ROOT, SAMPLE
from tests.integration.up_process import UpProcess, clean_env
from tests.slack_server import SlackServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

FIXTURES = REPO_ROOT / "tests" / "fixtures"
# The user's failure: a real Airflow 3.3.2 task log (tests/fixtures/airflow: BashOperator `exit 3`
# after "checksum mismatch, aborting"), nothing to do with dbt or the sample's fct_orders.
USER_DAG, USER_TASK = "pic_bash_exit", "export_to_sftp"
USER_RUN = "manual__2026-11-23T10:59:22.634827+00:00"
USER_QUERY_ID = "01c0ffee-0000-user-0000-000000000042"
READY = "Ctrl-C stops it."


def Up(*args: str, env: dict[str, str]) -> UpProcess:  # noqa: N802 - reads like the class it builds
    """``up --no-flower`` on this test's variables only, read until it says how to stop it."""
    return UpProcess("--no-flower", *args, env=env, ready=READY)


@pytest.fixture
def users_pipeline(tmp_path: Path) -> dict[str, str]:
    """A pipeline that is not the sample, built from the project's real fixtures.

    AIRFLOW_LOG_FOLDER: Airflow 3.3.2's real log tree (tests/fixtures/airflow/logs/airflow3).
    DBT_PROJECT_DIR: a real failed dbt run (tests/fixtures/dbt_failures/data_error__string_to_int:
    its run_results.json and dbt.log) in the fixture project's dbt_project.yml.
    WAREHOUSE_URL: a query-history export with one failed query of the user's, minutes ago.
    """
    logs = tmp_path / "airflow-logs"
    shutil.copytree(FIXTURES / "airflow" / "logs" / "airflow3", logs)
    dbt = tmp_path / "dbt"
    (dbt / "target").mkdir(parents=True)
    (dbt / "logs").mkdir()
    case = FIXTURES / "dbt_failures" / "data_error__string_to_int"
    shutil.copy(FIXTURES / "dbt_failures" / "_project" / "base" / "dbt_project.yml", dbt / "dbt_project.yml")
    shutil.copy(case / "run_results.json", dbt / "target" / "run_results.json")
    shutil.copy(case / "dbt.log", dbt / "logs" / "dbt.log")
    started = datetime.now(UTC) - timedelta(minutes=2)
    history = tmp_path / "query_history.json"
    history.write_text(
        json.dumps(
            [
                {
                    "QUERY_ID": USER_QUERY_ID,
                    "QUERY_TEXT": "COPY INTO @EXPORTS.SFTP_STAGE/orders/ FROM EXPORTS.SFTP_BATCH",
                    "DATABASE_NAME": "EXPORTS",
                    "SCHEMA_NAME": "SFTP",
                    "QUERY_TYPE": "UNLOAD",
                    "USER_NAME": "AIRFLOW_SVC",
                    "WAREHOUSE_NAME": "EXPORT_WH",
                    "EXECUTION_STATUS": "FAILED_WITH_ERROR",
                    "ERROR_CODE": "000904",
                    "ERROR_MESSAGE": "SQL compilation error: invalid identifier 'CHECKSUM_V2'",
                    "START_TIME": started.isoformat(),
                    "END_TIME": (started + timedelta(seconds=3)).isoformat(),
                    "TOTAL_ELAPSED_TIME": 3000,
                    "BYTES_SCANNED": 1024,
                }
            ]
        )
    )
    return {
        "AIRFLOW_LOG_FOLDER": str(logs),
        "DBT_PROJECT_DIR": str(dbt),
        "WAREHOUSE_URL": f"file://{history}",
    }


def test_up_with_the_users_sources_reports_the_users_failure_not_the_samples(
    users_pipeline: dict[str, str], slack_api: SlackServer, tmp_path: Path
) -> None:
    env = {
        **users_pipeline,
        "SLACK_BOT_TOKEN": slack_api.token,
        "SLACK_API_URL": slack_api.base_url,
        "INCIDENT_SPOOL_DIR": str(tmp_path / "spool"),
        "SPECIALIST_SOFT_TIME_LIMIT_S": "15",
        "REPORT_DEADLINE_S": "60",
    }
    up = Up(env=env)
    try:
        assert "samples/" not in up.stdout
        assert f"task logs from AIRFLOW_LOG_FOLDER={users_pipeline['AIRFLOW_LOG_FOLDER']}" in up.line("log_analyzer")
        assert f"WAREHOUSE_URL={users_pipeline['WAREHOUSE_URL']}" in up.line("query_profiler")
        assert f"DBT_PROJECT_DIR={users_pipeline['DBT_PROJECT_DIR']}" in up.line("owner_notifier")

        done = subprocess.run(
            [sys.executable, "-m", "incident_cli", "trigger", "--dag", USER_DAG, "--task", USER_TASK]
            + ["--run-id", USER_RUN, "--wait", "--json", "--timeout", "90"],
            capture_output=True,
            text=True,
            timeout=120,
            env=clean_env(
                {
                    "CELERY_BROKER_URL": up.exported("CELERY_BROKER_URL"),
                    "CELERY_RESULT_BACKEND": up.exported("CELERY_RESULT_BACKEND"),
                    "INCIDENT_SPOOL_DIR": str(tmp_path / "spool"),
                }
            ),
        )
        assert done.returncode == 0, done.stdout + done.stderr
        events = [json.loads(line) for line in done.stdout.splitlines()]
        report = events[-1]["data"]
        assert events[-1]["event"] == "report"
        findings = {e["data"]["specialist"]: e["data"] for e in events if e["event"] == "finding"}

        # the user's failure: their task's own log, its exit code and the line that explains it
        assert "exit code 3" in report["root_cause"], report["root_cause"]
        log = findings["log_analyzer"]
        assert log["details"]["source"] and "samples" not in json.dumps(log)
        # the user's warehouse export was read
        assert USER_QUERY_ID in json.dumps(findings["query_profiler"])
        # and nothing of the sample: not its model, not its error, not its owner
        everything = json.dumps(events)
        for sample_mark in ("fct_orders", "amount_usd", "hourly_marts", FCT_ORDERS_OWNER, str(SAMPLE)):
            assert sample_mark not in everything, sample_mark
        posted = json.dumps([c.params for c in slack_api.calls()])
        assert "fct_orders" not in posted and FCT_ORDERS_OWNER not in posted
        assert USER_TASK in posted

        # each specialist logged, at start, the same line up printed
        for service in ("log_analyzer", "query_profiler", "owner_notifier"):
            assert f"pic.reads: {up.line(service)}" in up.worker_log(service)
    finally:
        up.stop()


def test_up_without_sample_or_sources_reads_nothing_of_the_sample_and_says_what_is_not_set(tmp_path: Path) -> None:
    up = Up(env={"INCIDENT_OUTBOX": str(tmp_path / "outbox.jsonl"), "INCIDENT_SPOOL_DIR": str(tmp_path / "spool")})
    try:
        assert "samples/" not in up.stdout and "hourly_marts" not in up.stdout
        assert up.line("log_analyzer") == (
            "log_analyzer reads: task logs: AIRFLOW_LOG_FOLDER not set, Airflow API: AIRFLOW_API_URL not set, "
            "dbt artifacts: DBT_PROJECT_DIR not set - only the trigger's exception text"
        )
        assert up.line("query_profiler").startswith("query_profiler reads: query history: WAREHOUSE_URL not set")
        assert up.line("owner_notifier").startswith("owner_notifier reads: owners: DBT_PROJECT_DIR not set")
        assert "No source is configured" in up.stdout and "up --sample" in up.stdout
        assert "export DBT_PROJECT_DIR" not in up.stdout and "--dag hourly_marts" not in up.stdout
        # the workers say the same, in their own logs
        assert f"pic.reads: {up.line('log_analyzer')}" in up.worker_log("log_analyzer")
        assert "samples/" not in up.worker_log("log_analyzer") + up.worker_log("owner_notifier")
    finally:
        up.stop()


@pytest.mark.parametrize(
    "users",
    [
        {"DBT_PROJECT_DIR": "/srv/dbt/marts"},
        {"AIRFLOW_LOG_FOLDER": "/srv/airflow/logs", "WAREHOUSE_URL": "postgresql://etl:hunter2@db.internal/wh"},
    ],
)
def test_up_sample_refuses_to_replace_a_source_the_user_set(users: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "incident_cli", "up", "--sample", "--no-flower"],
        capture_output=True,
        text=True,
        timeout=30,
        env=clean_env(users),
    )
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --sample"), done.stderr
    for name in users:
        assert name in lines[0]
    assert "hunter2" not in done.stderr
    assert "up" not in done.stdout  # refused before Redis or a worker started
