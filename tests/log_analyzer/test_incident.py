"""analyze_incident over real sources: the Airflow folder, a path in the trigger, the exception text."""

from __future__ import annotations

import shutil
from pathlib import Path

from log_analyzer import analyze_incident
from shared.contracts import FindingStatus, Incident, Specialist, Trigger
from shared.settings import Settings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
AIRFLOW3 = FIXTURES / "airflow" / "logs" / "airflow3"


def _incident(**trigger: object) -> Incident:
    base = {"dag_id": "pic_python_exception", "task_id": "enrich_orders", "run_id": "manual__x"}
    return Incident(incident_id="INC-20261123-0001", trigger=Trigger(**{**base, **trigger}), channel="#incidents")


def test_airflow_log_folder_layout() -> None:
    run = next((AIRFLOW3 / "dag_id=pic_python_exception").glob("run_id=*")).name[len("run_id=") :]
    finding = analyze_incident(_incident(run_id=run), Settings(AIRFLOW_LOG_FOLDER=AIRFLOW3))
    assert finding.specialist is Specialist.LOG_ANALYZER and finding.status is FindingStatus.OK
    assert finding.details.error_class == "code_error" and "customer_id" in finding.summary
    assert finding.details.failed_node and finding.details.source and not finding.details.not_used


def test_missing_file_is_unavailable_with_the_reason(tmp_path: Path) -> None:
    # a log_location is read only inside AIRFLOW_LOG_FOLDER: the folder is tmp_path, the file is missing
    finding = analyze_incident(
        _incident(log_location=str(tmp_path / "nope.log")), Settings(AIRFLOW_LOG_FOLDER=tmp_path)
    )
    assert finding.status is FindingStatus.UNAVAILABLE and "nope.log" in finding.summary
    assert "log file not found" in finding.summary and "refused" not in finding.summary


def test_exception_text_is_the_last_resort(tmp_path: Path) -> None:
    trig = {
        "log_location": str(tmp_path / "nope.log"),
        "exception": "snowflake.connector.errors.ProgrammingError: 000904 (42000): SQL compilation "
        "error: error line 1 at position 7 invalid identifier 'ORDER_TOTAL' pwd=hunter2",
    }
    finding = analyze_incident(_incident(**trig), Settings(AIRFLOW_LOG_FOLDER=tmp_path))
    assert finding.status is FindingStatus.OK and finding.details.error_class == "invalid_identifier"
    assert "ORDER_TOTAL" in finding.summary and "hunter2" not in finding.model_dump_json()


def test_success_log_is_empty(tmp_path: Path) -> None:
    log = tmp_path / "ok.log"
    shutil.copy(FIXTURES / "dbt_failures" / "success__build" / "console.log", log)
    finding = analyze_incident(_incident(log_location=str(log)), Settings(AIRFLOW_LOG_FOLDER=tmp_path))
    assert finding.status is FindingStatus.EMPTY
