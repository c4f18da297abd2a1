"""The producer runs inside Airflow: it must stay small and must not drag in our workers' clients."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = (
    "slack_sdk",
    "snowflake",
    "sqlalchemy",
    "sqlglot",
    "psycopg",
    "commander.tasks",
    "log_analyzer",
    "query_profiler",
    "owner_notifier",
)


def test_importing_the_producer_imports_no_worker_clients() -> None:
    code = (
        "import json, sys; from commander.producer import trigger_incident_commander; "
        f"print(json.dumps([m for m in sys.modules if m.split('.')[0] in {HEAVY!r} or m in {HEAVY!r}]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
