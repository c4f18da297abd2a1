"""The bundled incident (samples/hourly_marts): its trigger and the settings that point at it."""

from __future__ import annotations

import json
from pathlib import Path

from shared.airflow_logs import airflow_task_log_path
from shared.contracts import Trigger, TriggerSource

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SAMPLE = REPO_ROOT / "samples" / "hourly_marts"


def sample_env(sample: Path = DEFAULT_SAMPLE) -> dict[str, str]:
    """Point the specialists at the bundled incident's artifacts."""
    sample = sample.resolve()
    return {
        "DBT_PROJECT_DIR": str(sample / "dbt_project"),
        "AIRFLOW_LOG_FOLDER": str(sample / "airflow_logs"),
        "WAREHOUSE_URL": f"file://{sample / 'query_history.json'}",
    }


def sample_trigger(sample: Path = DEFAULT_SAMPLE, *, run_suffix: str = "") -> Trigger:
    """The bundled incident's trigger (``incident.json``), as Airflow would have sent it."""
    spec = json.loads((sample / "incident.json").read_text())
    fields = {
        k: spec[k]
        for k in (
            "dag_id",
            "task_id",
            "run_id",
            "try_number",
            "map_index",
            "model",
            "exception",
            "context",
            "failed_at",
            "started_at",
            "ended_at",
            "logical_date",
        )
        if spec.get(k) is not None
    }
    log = airflow_task_log_path(
        sample / "airflow_logs",
        dag_id=fields["dag_id"],
        run_id=fields["run_id"],
        task_id=fields["task_id"],
        map_index=fields.get("map_index", -1),
        try_number=fields.get("try_number", 1),
    )
    if log.is_file():
        fields["log_location"] = str(log.resolve())
    fields["run_id"] = fields["run_id"] + run_suffix
    return Trigger(**fields, source=TriggerSource.AIRFLOW)
