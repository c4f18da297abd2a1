"""The ``incident-commander`` command, run as a user runs it: a real process, real stack, real artifacts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from incident_cli.stack import Stack
from tests.conftest import SAMPLE
from tests.slack_server import SlackServer

pytestmark = pytest.mark.integration


def cli(*args: str, env: dict[str, str] | None = None, timeout_s: float = 90) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "SLACK_", "INCIDENT_"))}
    full_env.update(env or {})
    full_env["COLUMNS"] = "200"
    return subprocess.run([sys.executable, "-m", "incident_cli", *args], capture_output=True, text=True,
                          env=full_env, timeout=timeout_s)


def test_trigger_wait_json_prints_each_finding_then_the_report(
        make_stack: Callable[..., Stack], env: dict[str, str], slack_api: SlackServer) -> None:
    stack = make_stack(env)
    wenv = {**env, "CELERY_BROKER_URL": stack.worker_env["CELERY_BROKER_URL"],
            "CELERY_RESULT_BACKEND": stack.worker_env["CELERY_RESULT_BACKEND"]}
    log = SAMPLE / "airflow_logs" / "dag_id=hourly_marts" / "run_id=scheduled__2026-11-23T03:00:00+00:00" \
        / "task_id=dbt_build_marts" / "attempt=1.log"

    done = cli("trigger", "--dag", "hourly_marts", "--task", "dbt_build_marts", "--run-id", "manual__cli-1",
               "--model", "fct_orders", "--context", "Failed 3 times in 30 minutes", "--log", str(log),
               "--wait", "--json", env=wenv)

    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "opened" and kinds[-1] == "report"
    assert sorted(e["data"]["specialist"] for e in events if e["event"] == "finding") == \
        ["log_analyzer", "owner_notifier", "query_profiler"]
    report = events[-1]["data"]
    assert report["trigger"]["source"] == "cli"
    assert report["trigger"]["context"] == "Failed 3 times in 30 minutes"
    assert "amount_usd" in report["root_cause"]

    # watch replays the same incident's events
    watched = cli("watch", report["incident_id"], "--json", env=wenv)
    assert watched.returncode == 0, watched.stderr
    assert json.loads(watched.stdout.splitlines()[-1])["event"] == "report"
    assert len(slack_api.top_level_messages("#incidents")) == 1


def test_config_masks_secrets_and_a_bad_value_names_the_variable() -> None:
    shown = cli("config", "--json", env={"SLACK_BOT_TOKEN": "xoxb-very-secret",
                                         "WAREHOUSE_URL": "postgresql://u:hunter2@db/x"})
    assert shown.returncode == 0, shown.stderr
    config = json.loads(shown.stdout)
    assert config["SLACK_BOT_TOKEN"] == "**********"
    assert config["WAREHOUSE_URL"] == "**********"
    assert "hunter2" not in shown.stdout and "very-secret" not in shown.stdout

    bad = cli("config", env={"SPECIALIST_SOFT_TIME_LIMIT_S": "soon", "CELERY_BROKER_URL": "amqp://x"})
    assert bad.returncode == 2
    assert "SPECIALIST_SOFT_TIME_LIMIT_S" in bad.stderr and "CELERY_BROKER_URL" in bad.stderr


def test_trigger_with_the_broker_down_spools_and_says_so(tmp_path: Path) -> None:
    done = cli("trigger", "--dag", "d", "--task", "t", "--json",
               env={"CELERY_BROKER_URL": "redis://127.0.0.1:1/0", "INCIDENT_SPOOL_DIR": str(tmp_path)})
    assert done.returncode == 1
    assert json.loads(done.stdout)["status"] == "spooled"
    assert len(list(tmp_path.glob("*.json"))) == 1


def test_specialist_commands_run_by_hand_on_the_bundled_incident() -> None:
    dbt = SAMPLE / "dbt_project"
    analysed = cli("analyze-log", str(dbt / "logs" / "dbt.log"), "--run-results",
                   str(dbt / "target" / "run_results.json"), "--json")
    assert analysed.returncode == 0, analysed.stderr
    finding = json.loads(analysed.stdout)
    assert finding["error_class"] == "invalid_identifier"
    assert finding["failed_node"] == "model.hourly_marts.fct_orders"

    owner = cli("owner", "fct_orders", "--project-dir", str(dbt), "--json")
    assert owner.returncode == 0, owner.stderr
    assert json.loads(owner.stdout)["owner"] == "priya.shah@example.com"

    queries = cli("profile-queries", "--warehouse-url", f"file://{SAMPLE / 'query_history.json'}",
                  "--start", "2026-11-23T02:00:00+00:00", "--end", "2026-11-23T04:00:00+00:00",
                  "--model", "fct_orders", "--json")
    assert queries.returncode == 0, queries.stderr
    rows = json.loads(queries.stdout)
    assert rows[0]["model"] == "fct_orders" and rows[0]["status"] == "failed"


def test_help_explains_every_command() -> None:
    shown = cli("--help")
    assert shown.returncode == 0
    for command in ("demo", "up", "trigger", "watch", "analyze-log", "profile-queries", "owner", "config",
                    "flush-spool", "failures"):
        assert command in shown.stdout
