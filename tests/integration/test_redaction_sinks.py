"""The redaction table against every sink, on real parts.

Every secret shape of ``tests/redaction_cases.py`` enters where untrusted text enters (a task log,
the trigger's exception and context, a rejected trigger), and none may come out anywhere: Slack,
Redis (every key of the broker and state databases), the worker logs, ``watch --json``, the spool
and ``failures``. Look-alikes (ids, hashes, run ids) must survive where they were shown.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from commander.producer import send_trigger
from incident_cli.stack import Stack, free_port
from shared.celery_app import TaskName, make_app
from shared.contracts import Trigger
from shared.incident_store import IncidentStore
from shared.settings import load_settings
from tests.integration.conftest import settings_for, wait_for_incident_id, wait_for_report
from tests.redaction_cases import SECRET_CASES
from tests.slack_server import SlackServer

pytestmark = pytest.mark.integration

SECRETS = [secret for _, _, secret in SECRET_CASES]


def _leaks(text: str) -> list[str]:
    return [name for name, _, secret in SECRET_CASES if secret in text]


def _redis_dump(url: str) -> str:
    """Every value in the database, whatever its type."""
    client = redis.Redis.from_url(url)
    out = []
    for key in client.scan_iter(count=1000):
        kind = client.type(key).decode()
        if kind == "string":
            out.append(str(client.get(key)))
        elif kind == "hash":
            out.append(str(client.hgetall(key)))
        elif kind == "list":
            out.append(str(client.lrange(key, 0, -1)))
        elif kind == "stream":
            out.append(str(client.xrange(key)))
        elif kind == "set":
            out.append(str(client.smembers(key)))
        elif kind == "zset":
            out.append(str(client.zrange(key, 0, -1)))
    return "\n".join(out)


def test_no_secret_shape_reaches_any_sink(
    make_stack: Callable[..., Stack], env: dict[str, str], slack_api: SlackServer, tmp_path: Path
) -> None:
    # Given a failed task whose log, exception and context carry every secret shape
    log_dir = tmp_path / "logs" / "dag_id=hourly_marts" / "run_id=manual__secrets" / "task_id=load_raw"
    log_dir.mkdir(parents=True)
    (log_dir / "attempt=1.log").write_text(
        "".join(
            f"[2026-11-23T03:01:{i % 60:02d}+0000] {{taskinstance.py:3311}} ERROR - connection failed: {text}\n"
            for i, (_, text, _) in enumerate(SECRET_CASES)
        )
    )
    env = {**env, "AIRFLOW_LOG_FOLDER": str(tmp_path / "logs")}
    stack = make_stack(env)
    settings = settings_for(stack, env)
    everything = "\n".join(text for _, text, _ in SECRET_CASES)
    trigger = Trigger(
        dag_id="hourly_marts",
        task_id="load_raw",
        run_id="manual__secrets",
        exception=everything[:8_000],
        context=everything[-2_000:],
    )
    send_trigger(trigger, settings=settings)
    # and a trigger the commander rejects (it lands in failures with its payload)
    sender = make_app("secrets-sender", settings=settings)
    sender.send_task(
        TaskName.TRIAGE.value,
        args=({"dag_id": "not valid!", "task_id": "t", "run_id": "r", "exception": everything[:3_000]},),
        queue="commander",
    )
    sender.close()
    store = IncidentStore.from_url(stack.worker_env["CELERY_RESULT_BACKEND"])
    incident_id = wait_for_incident_id(store, trigger.dedup_key)
    wait_for_report(store, incident_id)

    # Then no sink holds any of them: Slack,
    assert _leaks(" ".join(json.dumps(c.params) for c in slack_api.calls())) == []
    # Redis (broker and state),
    assert _leaks(_redis_dump(stack.worker_env["CELERY_BROKER_URL"])) == []
    assert _leaks(_redis_dump(stack.worker_env["CELERY_RESULT_BACKEND"])) == []
    # failures (the rejected trigger is there, redacted),
    assert any("invalid trigger" in f["what"] for f in store.failures())
    assert _leaks(json.dumps(store.failures(limit=1_000))) == []
    # the worker logs (where a specialist's lines name the incident they were about),
    logs = "\n".join(p.read_text(errors="replace") for p in stack.log_dir.glob("*.log"))
    assert incident_id in logs and _leaks(logs) == []
    analyzer_log = (stack.log_dir / "log_analyzer.log").read_text(errors="replace").splitlines()
    assert any(
        f"[{incident_id}]" in line and "pic.log_analyzer.analyze_logs" in line and "succeeded" in line
        for line in analyzer_log
    ), "\n".join(analyzer_log[-20:])
    # and `watch --json`
    watched = subprocess.run(
        [sys.executable, "-m", "incident_cli", "watch", incident_id, "--json", "--timeout", "20"],
        env={**os.environ, **stack.worker_env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert watched.returncode == 0, watched.stderr
    assert '"event": "report"' in watched.stdout and _leaks(watched.stdout) == []


def test_a_spooled_trigger_holds_no_secret_and_only_its_owner_can_read_it(tmp_path: Path) -> None:
    # Given the broker is unreachable, the producer spools the trigger
    dead = f"redis://127.0.0.1:{free_port()}"
    settings = load_settings(
        CELERY_BROKER_URL=f"{dead}/0",
        CELERY_RESULT_BACKEND=f"{dead}/1",
        INCIDENT_SPOOL_DIR=str(tmp_path / "spool"),
        INCIDENT_PUBLISH_TIMEOUT_S="1",
    )
    everything = "\n".join(text for _, text, _ in SECRET_CASES)
    trigger = Trigger(
        dag_id="hourly_marts",
        task_id="load_raw",
        run_id="manual__spooled",
        exception=everything[:8_000],
        context=everything[-2_000:],
    )
    delivery = send_trigger(trigger, settings=settings)
    assert delivery.status == "spooled" and delivery.spool_path is not None
    # Then the file holds no secret and is the owner's alone
    assert _leaks(delivery.spool_path.read_text()) == []
    assert stat.S_IMODE(delivery.spool_path.stat().st_mode) == 0o600
