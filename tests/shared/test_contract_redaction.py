"""Untrusted text is redacted where it enters a contract, so no copy of it holds the raw value."""

from __future__ import annotations

import types
import typing
from datetime import datetime

import pytest
from pydantic import BaseModel

from shared.contracts import (
    Downstream,
    Evidence,
    FailedNode,
    FindingStatus,
    LogDetails,
    LogFinding,
    OtherFinding,
    OwnerDetails,
    OwnerEntry,
    OwnerLine,
    QueryDetail,
    QueryDetails,
    Trigger,
    parse_finding_json,
)
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


def _secret_payload(model: type[BaseModel]) -> dict[str, object]:
    """A value for every field of ``model``: the secret in each free-text one, nested models filled too."""
    payload: dict[str, object] = {}
    for name, info in model.model_fields.items():
        payload[name] = _secret_value(info.annotation)
    return payload


def _secret_value(annotation: object) -> object:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return args[0]
    if origin in (typing.Union, types.UnionType):
        return _secret_value(args[0])
    if origin is tuple:
        return (_secret_value(args[0]),)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _secret_payload(annotation)
    if annotation is str or typing.get_origin(annotation) is typing.Annotated:
        return "<@U0SECRET>" if "mention" in repr(annotation).lower() else f"password={SECRET}"
    return {bool: False, float: 0.0, int: 0, datetime: None}.get(annotation)  # type: ignore[call-overload]


@pytest.mark.parametrize(
    "model", [LogDetails, QueryDetails, OwnerDetails, Downstream, FailedNode, OwnerEntry, QueryDetail, OwnerLine]
)
def test_every_free_text_field_of_the_typed_details_is_redacted(model: type[BaseModel]) -> None:
    # Given the secret in every string field a specialist fills from outside (files, logs, the warehouse)
    details = model.model_validate(_secret_payload(model))
    # Then no copy of it survives: a plain ``str`` field added later without ``Redacted`` fails here
    assert SECRET not in details.model_dump_json()
