"""The ``incident-commander`` command, run as a user runs it: a real process, real stack, real artifacts."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from incident_cli.stack import RedisServer, Stack, free_port
from tests.conftest import SAMPLE
from tests.integration.up_process import UpProcess
from tests.slack_server import SlackServer

pytestmark = pytest.mark.integration


def cli(*args: str, env: dict[str, str] | None = None, timeout_s: float = 90) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "SLACK_", "INCIDENT_"))}
    full_env.update(env or {})
    full_env["COLUMNS"] = "200"
    return subprocess.run(
        [sys.executable, "-m", "incident_cli", *args], capture_output=True, text=True, env=full_env, timeout=timeout_s
    )


def test_trigger_wait_json_prints_each_finding_then_the_report(
    make_stack: Callable[..., Stack], env: dict[str, str], slack_api: SlackServer
) -> None:
    stack = make_stack(env)
    wenv = {
        **env,
        "CELERY_BROKER_URL": stack.worker_env["CELERY_BROKER_URL"],
        "CELERY_RESULT_BACKEND": stack.worker_env["CELERY_RESULT_BACKEND"],
    }
    log = (
        SAMPLE
        / "airflow_logs"
        / "dag_id=hourly_marts"
        / "run_id=scheduled__2026-11-23T03:00:00+00:00"
        / "task_id=dbt_build_marts"
        / "attempt=1.log"
    )

    done = cli(
        "trigger",
        "--dag",
        "hourly_marts",
        "--task",
        "dbt_build_marts",
        "--run-id",
        "manual__cli-1",
        "--model",
        "fct_orders",
        "--context",
        "Failed 3 times in 30 minutes",
        "--log",
        str(log),
        "--wait",
        "--json",
        env=wenv,
    )

    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "opened" and kinds[-1] == "report"
    assert sorted(e["data"]["specialist"] for e in events if e["event"] == "finding") == [
        "log_analyzer",
        "owner_notifier",
        "query_profiler",
    ]
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
    shown = cli(
        "config", "--json", env={"SLACK_BOT_TOKEN": "xoxb-very-secret", "WAREHOUSE_URL": "postgresql://u:hunter2@db/x"}
    )
    assert shown.returncode == 0, shown.stderr
    config = json.loads(shown.stdout)
    assert config["SLACK_BOT_TOKEN"] == "**********"
    assert config["WAREHOUSE_URL"] == "**********"
    assert "hunter2" not in shown.stdout and "very-secret" not in shown.stdout

    bad = cli("config", env={"SPECIALIST_SOFT_TIME_LIMIT_S": "soon", "CELERY_BROKER_URL": "amqp://x"})
    assert bad.returncode == 2
    assert "SPECIALIST_SOFT_TIME_LIMIT_S" in bad.stderr and "CELERY_BROKER_URL" in bad.stderr


def test_trigger_with_the_broker_down_spools_and_says_so(tmp_path: Path) -> None:
    done = cli(
        "trigger",
        "--dag",
        "d",
        "--task",
        "t",
        "--json",
        env={"CELERY_BROKER_URL": "redis://127.0.0.1:1/0", "INCIDENT_SPOOL_DIR": str(tmp_path)},
    )
    assert done.returncode == 1
    assert json.loads(done.stdout)["status"] == "spooled"
    assert len(list(tmp_path.glob("*.json"))) == 1


def test_specialist_commands_run_by_hand_on_the_bundled_incident() -> None:
    dbt = SAMPLE / "dbt_project"
    analysed = cli(
        "analyze-log",
        str(dbt / "logs" / "dbt.log"),
        "--run-results",
        str(dbt / "target" / "run_results.json"),
        "--json",
    )
    assert analysed.returncode == 0, analysed.stderr
    finding = json.loads(analysed.stdout)
    assert finding["error_class"] == "invalid_identifier"
    assert finding["failed_node"] == "model.hourly_marts.fct_orders"

    owner = cli("owner", "fct_orders", "--project-dir", str(dbt), "--json")
    assert owner.returncode == 0, owner.stderr
    assert json.loads(owner.stdout)["owner"] == "priya.shah@example.com"

    queries = cli(
        "profile-queries",
        "--warehouse-url",
        f"file://{SAMPLE / 'query_history.json'}",
        "--start",
        "2026-11-23T02:00:00+00:00",
        "--end",
        "2026-11-23T04:00:00+00:00",
        "--model",
        "fct_orders",
        "--json",
    )
    assert queries.returncode == 0, queries.stderr
    rows = json.loads(queries.stdout)
    assert rows[0]["model"] == "fct_orders" and rows[0]["status"] == "failed"


def test_help_explains_every_command() -> None:
    shown = cli("--help")
    assert shown.returncode == 0
    for command in (
        "demo",
        "up",
        "trigger",
        "watch",
        "analyze-log",
        "profile-queries",
        "owner",
        "config",
        "flush-spool",
        "failures",
    ):
        assert command in shown.stdout


def test_config_shows_the_broker_url_with_its_password_masked() -> None:
    env = {
        "CELERY_BROKER_URL": "rediss://:hunter2@redis.example:6380/0?ssl_cert_reqs=required",
        "SLACK_API_URL": "https://bot:hunter3@slack.internal/api/",
    }
    shown = cli("config", "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    config = json.loads(shown.stdout)
    assert config["CELERY_BROKER_URL"] == "rediss://:**********@redis.example:6380/0?ssl_cert_reqs=required"
    assert config["SLACK_API_URL"] == "https://bot:**********@slack.internal/api/"
    human = cli("config", env=env)
    assert "hunter" not in shown.stdout + human.stdout + human.stderr
    assert "rediss://:**********@redis.example:6380/0" in human.stdout


@pytest.mark.parametrize(
    "value", ["", "admin:change-me", "admin:admin", "flower:flower", "user:password", "admin:", "no-colon"]
)
def test_up_refuses_flower_credentials_that_leave_it_open_before_starting_anything(value: str) -> None:
    done = cli("up", env={"FLOWER_BASIC_AUTH": value}, timeout_s=30)
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: FLOWER_BASIC_AUTH"), done.stderr
    assert "up." not in done.stdout  # refused before Redis, the workers or Flower started


def Up(*args: str, env: dict[str, str], ready: str) -> UpProcess:  # noqa: N802 - reads like the class it builds
    """``up --no-sample`` on this test's variables only, read until a line holds ``ready``."""
    return UpProcess("--no-sample", *args, env=env, ready=ready)


def _http_status(url: str, auth: str | None = None, timeout_s: float = 30) -> int:
    """The HTTP status of a GET, waiting for the server to listen first."""
    request = urllib.request.Request(url)
    if auth is not None:
        request.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_up_runs_flower_behind_the_configured_basic_auth_and_prints_urls_masked(tmp_path: Path) -> None:
    password = "redis-pw-not-for-the-terminal"
    redis_port, flower_port = free_port(), free_port()
    redis_server = RedisServer(port=redis_port, password=password).start()
    credentials = "ops:flower-pw-chosen-by-ops"
    up = None
    try:
        up = Up(
            f"--flower-port={flower_port}",
            ready="Flower login",
            env={
                "CELERY_BROKER_URL": f"redis://:{password}@127.0.0.1:{redis_port}/0",
                "FLOWER_BASIC_AUTH": credentials,
            },
        )
        # the workers came up on the password-protected Redis; the terminal shows neither password
        assert f"export CELERY_BROKER_URL='redis://:**********@127.0.0.1:{redis_port}/0'" in up.stdout
        assert f"export CELERY_RESULT_BACKEND='redis://:**********@127.0.0.1:{redis_port}/1'" in up.stdout
        assert "password masked: use your own CELERY_BROKER_URL" in up.stdout
        assert password not in up.stdout and "flower-pw" not in up.stdout

        base = f"http://127.0.0.1:{flower_port}/"
        assert _http_status(base) == 401
        assert _http_status(base + "api/tasks") == 401
        assert _http_status(base, auth="admin:change-me") == 401
        assert _http_status(base, auth=credentials) == 200
        _, cmdline = up.child_cmdline("flower")
        assert "flower-pw" not in cmdline and "basic" not in cmdline.lower()  # not in `ps`
    finally:
        if up is not None:
            up.stop()
        redis_server.stop()


def test_up_without_flower_credentials_generates_them_and_prints_them_once() -> None:
    flower_port = free_port()
    up = Up(f"--flower-port={flower_port}", env={}, ready="Flower login")
    try:
        login = [line for line in up.lines if "Flower login" in line]
        assert len(login) == 1 and "generated for this run" in login[0]
        user, password = re.findall(r"user (\S+), password (\S+)", login[0])[0]
        assert len(password) >= 20
        assert "password masked" not in up.stdout  # the embedded Redis has no password: nothing to mask
        base = f"http://127.0.0.1:{flower_port}/"
        assert _http_status(base) == 401
        assert _http_status(base, auth=f"{user}:{password}") == 200
        _, cmdline = up.child_cmdline("flower")
        assert password not in cmdline
    finally:
        rest = up.stop()
    assert password not in rest  # printed once
