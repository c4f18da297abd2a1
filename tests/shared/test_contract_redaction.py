"""Untrusted text is redacted where it enters a contract, so no copy of it holds the raw value."""

from __future__ import annotations

import pytest

from shared.contracts import Evidence, FindingStatus, LogDetails, LogFinding, OtherFinding, Trigger, parse_finding_json
from shared.errors import SourceError

SECRET = "hunter2hunter2"


def test_a_trigger_redacts_its_exception_context_and_log_location() -> None:
    trigger = Trigger(
        dag_id="d",
        task_id="t",
        run_id="r",
        exception=f"failed: password={SECRET}",
        context=f"PGPASSWORD={SECRET}",
        log_location=f"https://u:{SECRET}@airflow/log",
    )
    assert SECRET not in trigger.model_dump_json()


def test_a_finding_redacts_its_summary_details_and_evidence() -> None:
    finding = LogFinding(
        status=FindingStatus.OK,
        summary=f"postgres://etl:{SECRET}@db/x refused",
        details=LogDetails(root_cause=f"password={SECRET}", not_used=(f"PGPASSWORD={SECRET}",)),
        evidence=(Evidence(source="log", line=1, text=f"--password {SECRET}"),),
    )
    assert SECRET not in finding.model_dump_json()
    # and a value read back from the wire is redacted again (idempotent), as the same type
    assert parse_finding_json(finding.model_dump_json()) == finding


def test_an_added_specialists_free_form_details_are_redacted_at_any_depth() -> None:
    finding = OtherFinding(
        specialist="cost_watcher",
        status=FindingStatus.OK,
        summary="s",
        details={"a": [{"b": f"password={SECRET}"}], "n": 3},
    )
    assert SECRET not in finding.model_dump_json()
    assert finding.details["n"] == 3


def test_our_exceptions_redact_their_message() -> None:
    assert SECRET not in str(SourceError(f"cannot connect to postgres://etl:{SECRET}@db/x"))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("dag_id", ".."),
        ("dag_id", "."),
        ("task_id", ".."),
        ("run_id", "scheduled__2026-11-23T03:00:00+00:00/../../etc"),
        ("run_id", ".."),
        ("run_id", "a\\b"),
        ("run_id", "a\x00b"),
    ],
)
def test_ids_that_could_name_a_folder_outside_the_logs_are_refused(field: str, value: str) -> None:
    ids = {"dag_id": "d", "task_id": "t", "run_id": "r", field: value}
    with pytest.raises(ValueError):
        Trigger(**ids)


def test_real_airflow_ids_are_accepted() -> None:
    Trigger(dag_id="hourly_marts.v2", task_id="dbt-build_marts", run_id="scheduled__2026-11-23T03:00:00+00:00")
    Trigger(dag_id="d", task_id="t", run_id="manual__2026-11-30T15:57:03.123456+00:00")
