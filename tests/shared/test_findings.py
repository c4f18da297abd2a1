"""Typed findings: one model per specialist, told apart by ``specialist``; an old version is named."""

from __future__ import annotations

import logging

import pytest
from pydantic import ValidationError

from commander.incidents import findings_from_results
from shared.contracts import (
    FindingStatus,
    LogFinding,
    OtherFinding,
    OwnerFinding,
    QueryFinding,
    Report,
    dump,
    parse_finding,
    unavailable,
)
from tests.slack import cases

V1_FINDING = {
    "schema_version": 1,
    "specialist": "owner_notifier",
    "status": "ok",
    "summary": "x",
    "details": {"owners": [{"slack": "<@U1>"}]},
}


@pytest.mark.parametrize(
    ("specialist", "kind"),
    [
        ("log_analyzer", LogFinding),
        ("query_profiler", QueryFinding),
        ("owner_notifier", OwnerFinding),
        ("cost_watcher", OtherFinding),
    ],
)
def test_the_specialist_decides_the_type_of_the_finding(specialist: str, kind: type) -> None:
    finding = parse_finding({"specialist": specialist, "status": "empty", "summary": "nothing"})
    assert type(finding) is kind and type(unavailable(specialist, "down")) is kind


def test_typed_details_round_trip_through_the_wire() -> None:
    for finding in (cases.log_finding(), cases.query_finding(), cases.owner_finding("<@U0MARIA>")):
        assert parse_finding(dump(finding)) == finding


def test_a_version_1_finding_meets_an_error_naming_its_version() -> None:
    with pytest.raises(ValidationError, match="finding schema_version 1 is not readable here: this version reads 2"):
        parse_finding(V1_FINDING)


def test_the_chord_callback_drops_a_version_1_finding_saying_why(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        found = findings_from_results([V1_FINDING, dump(cases.log_finding())])
    assert list(found) == ["log_analyzer"]  # the owner notifier is then reported unavailable
    assert "finding schema_version 1 is not readable here" in caplog.text


def test_a_version_1_report_meets_an_error_naming_its_version() -> None:
    stored = {**dump(cases.complete_report()), "schema_version": 1}
    with pytest.raises(ValidationError, match="report schema_version 1 is not readable here"):
        Report.model_validate(stored)


def test_a_built_in_specialist_cannot_hide_in_the_free_form_finding() -> None:
    with pytest.raises(ValidationError, match="have their own model"):
        OtherFinding(
            specialist="owner_notifier",
            status=FindingStatus.OK,
            summary="s",
            details={"owners": [{"slack": "<!channel>"}]},
        )


def test_a_malformed_detail_is_refused_not_carried() -> None:
    with pytest.raises(ValidationError):
        parse_finding(
            {
                "specialist": "owner_notifier",
                "status": "ok",
                "summary": "s",
                "details": {"owners": [{"model": "m", "failed_node": "m", "slack": "<!channel>"}]},
            }
        )
    with pytest.raises(ValidationError):
        parse_finding({"specialist": "log_analyzer", "status": "ok", "summary": "s", "details": {"typo": 1}})
