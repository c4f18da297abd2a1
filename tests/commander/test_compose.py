"""compose(): the four sections from the findings, including missing, unavailable and misfiled ones."""

from __future__ import annotations

from datetime import UTC, datetime

from commander.compose import compose
from shared.contracts import (
    Downstream,
    FindingStatus,
    Incident,
    LogDetails,
    LogFinding,
    OwnerDetails,
    OwnerFinding,
    QueryDetail,
    QueryDetails,
    QueryFinding,
    ReportStatus,
    Specialist,
    Trigger,
    unavailable,
)

TRIGGER = Trigger(
    dag_id="hourly_marts",
    task_id="fct_orders",
    run_id="scheduled__2026-11-23T03:00:00+00:00",
    logical_date=datetime(2026, 11, 23, 3, tzinfo=UTC),
    exception="Traceback...\nAirflowException: Bash command failed. The command returned a non-zero exit code 1.",
)
INCIDENT = Incident(incident_id="INC-20261123-0001", trigger=TRIGGER, channel="C1", thread_ts="1.1")

LOG = LogFinding(
    status=FindingStatus.OK,
    summary="model.hourly_marts.fct_orders: column amount_usd not found in stg_payments",
    details=LogDetails(
        error_class="invalid_identifier",
        failed_node="model.hourly_marts.fct_orders",
        skipped=("model.hourly_marts.customer_ltv", "model.hourly_marts.orders_daily"),
        runbook="Fix the column reference (renamed or dropped upstream?) and re-run.",
    ),
)
QUERIES = QueryFinding(
    status=FindingStatus.OK,
    summary="fct_orders failed: 000904 invalid identifier 'AMOUNT_USD'",
    details=QueryDetails(
        queries=(QueryDetail(query_id="01b2", model="fct_orders", status="failed", diagnosis="failed: 000904"),)
    ),
)
OWNERS = OwnerFinding(
    status=FindingStatus.OK,
    summary="fct_orders → maria.lopez@example.com (manifest:meta.owner)",
    details=OwnerDetails(
        downstream=Downstream(
            models=("model.hourly_marts.customer_ltv", "model.hourly_marts.orders_daily"),
            exposures=("exposure.hourly_marts.revenue_dashboard",),
            from_manifest=True,
        )
    ),
)
SLOW = QueryFinding(
    status=FindingStatus.OK,
    summary="orders_daily queued 40 s",
    details=QueryDetails(
        queries=(
            QueryDetail(
                query_id="01b3",
                model="orders_daily",
                status="queued",
                diagnosis="queued 40 s: the warehouse is overloaded",
            ),
        )
    ),
)


def test_complete_report_has_the_four_sections() -> None:
    report = compose(INCIDENT, {f.specialist: f for f in (LOG, QUERIES, OWNERS)})
    assert report.status is ReportStatus.COMPLETE
    assert "amount_usd" in report.root_cause
    assert "2 downstream models (customer_ltv, orders_daily)" in report.impact
    assert "1 exposure (revenue_dashboard)" in report.impact
    assert "dbt skipped 2 nodes" in report.impact
    assert "000904" in report.impact
    assert "maria.lopez@example.com" in report.owner
    assert report.next_action.startswith("Fix the column reference")
    assert "airflow tasks clear hourly_marts -t '^fct_orders$'" in report.next_action
    assert [f.specialist for f in report.findings] == list(Specialist)


def test_missing_specialists_are_named_unavailable_and_the_report_still_comes() -> None:
    report = compose(INCIDENT, {Specialist.OWNER_NOTIFIER: OWNERS})
    assert report.status is ReportStatus.DEGRADED
    unavailable = {f.specialist for f in report.findings if f.status is FindingStatus.UNAVAILABLE}
    assert unavailable == {Specialist.LOG_ANALYZER, Specialist.QUERY_PROFILER}
    # falls back to the exception Airflow reported, saying why
    assert report.root_cause.startswith("Airflow reported: AirflowException: Bash command failed")
    assert "log analysis unavailable" in report.root_cause


def test_unavailable_owner_is_said_plainly() -> None:
    owners = unavailable(Specialist.OWNER_NOTIFIER, "DBT_PROJECT_DIR is not set")
    report = compose(
        INCIDENT, {Specialist.LOG_ANALYZER: LOG, Specialist.QUERY_PROFILER: QUERIES, Specialist.OWNER_NOTIFIER: owners}
    )
    assert report.owner == "Owner lookup unavailable: DBT_PROJECT_DIR is not set"
    assert report.status is ReportStatus.DEGRADED


def test_no_logical_date_gives_a_ui_rerun_hint() -> None:
    manual = INCIDENT.model_copy(update={"trigger": TRIGGER.model_copy(update={"logical_date": None})})
    report = compose(manual, {})
    assert "from the Airflow UI" in report.next_action


def test_impact_does_not_claim_no_dependents_when_it_could_not_look() -> None:
    no_manifest = OWNERS.model_copy(update={"details": OwnerDetails(downstream=Downstream(from_manifest=False))})
    looked = OWNERS.model_copy(update={"details": OwnerDetails(downstream=Downstream(from_manifest=True))})
    assert compose(INCIDENT, {Specialist.OWNER_NOTIFIER: no_manifest}).impact.startswith("Downstream impact unknown")
    assert compose(INCIDENT, {Specialist.OWNER_NOTIFIER: looked}).impact.startswith(
        "No downstream dependents in the dbt manifest."
    )


def test_a_slow_query_becomes_a_next_step_but_a_failed_one_does_not() -> None:
    # The failed query is the root cause already; a queued or slow one is a separate thing to check.
    slow = compose(INCIDENT, {Specialist.LOG_ANALYZER: LOG, Specialist.QUERY_PROFILER: SLOW})
    failed = compose(INCIDENT, {Specialist.LOG_ANALYZER: LOG, Specialist.QUERY_PROFILER: QUERIES})
    assert "Check query 01b3: queued 40 s: the warehouse is overloaded." in slow.next_action
    assert "Check query" not in failed.next_action


def test_a_finding_under_the_wrong_name_is_not_read_as_another_specialists() -> None:
    # A log finding filed under the owner notifier's name is not its finding: owners are then unknown.
    report = compose(INCIDENT, {Specialist.OWNER_NOTIFIER: LOG})
    assert report.owner.startswith("Owner lookup unavailable") and report.status is ReportStatus.DEGRADED
    assert [f.specialist for f in report.findings] == list(Specialist)  # one each, none doubled
