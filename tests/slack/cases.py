"""Reports, findings and incidents to render: fixed values, so the golden files are stable."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from shared.contracts import (
    Evidence,
    FindingStatus,
    Incident,
    LogDetails,
    LogFinding,
    OwnerDetails,
    OwnerEntry,
    OwnerFinding,
    QueryDetail,
    QueryDetails,
    QueryFinding,
    Report,
    ReportStatus,
    Specialist,
    Trigger,
    unavailable,
)

AT = datetime(2024, 5, 1, 3, 12, tzinfo=UTC)
HOSTILE = "boom <!channel> @here <@U123> & <https://evil|click> ``` done"
# Run ids may not hold '/' (they become folder names), so the hostile one drops it.
HOSTILE_RUN_ID = "manual__" + HOSTILE.replace("/", "")
# Each would format itself in Slack's mrkdwn (or mention, or link) if it were not neutralised.
FORMATTING_ATTACKS = ("*bold*", "_x_", "~x~", "`x`", "```x```", "<!channel>", "<@U123>", "<https://evil|click>", "&")
FORMATTING = "see " + " ".join(FORMATTING_ATTACKS) + " in fct_orders and _tmp_"


def trigger(**overrides: object) -> Trigger:
    values: dict[str, object] = {
        "dag_id": "daily_orders",
        "task_id": "dbt_run_orders",
        "run_id": "scheduled__2024-05-01T03:00:00+00:00",
        "try_number": 2,
        "exception": "dbt.exceptions.DbtRuntimeError: Database Error in model fct_orders",
        "model": "fct_orders",
        "failed_at": AT,
    }
    values.update(overrides)
    return Trigger.model_validate(values)


def incident(**overrides: object) -> Incident:
    return Incident(incident_id="INC-20240501-0001", trigger=trigger(**overrides), channel="C0INCIDENTS", opened_at=AT)


def log_finding(text: str = 'invalid identifier "ORDERS.AMOUNT_USD"') -> LogFinding:
    return LogFinding(
        status=FindingStatus.OK,
        elapsed_ms=412.3,
        summary=f"dbt model fct_orders failed: {text}",
        details=LogDetails(error_class="invalid_identifier", failed_node="model.shop.fct_orders"),
        evidence=(
            Evidence(
                source="logs/dag_id=daily_orders/attempt=2.log",
                line=118,
                text=f"Database Error in model fct_orders: {text}",
            ),
        ),
    )


def query_finding() -> QueryFinding:
    return QueryFinding(
        status=FindingStatus.OK,
        elapsed_ms=903.0,
        summary="1 failed query in the last hour (01b2c3d4, 0.4 s, failed on compile).",
        details=QueryDetails(queries=(QueryDetail(query_id="01b2c3d4", model="fct_orders", status="failed"),)),
    )


def owner_entry(slack: str | None, i: int = 0, model: str = "fct_orders") -> OwnerEntry:
    return OwnerEntry(
        model=model,
        failed_node="fct_orders",
        owner=f"owner{i}@example.com",
        source="manifest:config.meta.owner",
        slack=slack,
        resolved_by="user_directory",
    )


def owner_finding(*slack: str, summary: str = "fct_orders is owned by Maria Lopez (analytics-eng).") -> OwnerFinding:
    return OwnerFinding(
        status=FindingStatus.OK,
        elapsed_ms=35.0,
        summary=summary,
        details=OwnerDetails(owners=tuple(owner_entry(s, i) for i, s in enumerate(slack))),
    )


def owner_fields(owners: OwnerFinding) -> dict[str, object]:
    """What compose() takes from an owner finding: OWNER as text and as lines."""
    lines = owners.details.lines()
    return {
        "owner": "; ".join(line.plain() for line in lines),
        "owner_lines": lines,
        "owner_notes": owners.details.no_owner,
    }


def complete_report() -> Report:
    owners = owner_finding("<@U0MARIA>", "<!subteam^S0ANALYTICS>")
    return Report(
        incident_id="INC-20240501-0001",
        trigger=trigger(),
        status=ReportStatus.COMPLETE,
        root_cause='dbt model fct_orders failed: invalid identifier "ORDERS.AMOUNT_USD".',
        impact="Blocks 2 downstream models (orders_daily, revenue_weekly). Warehouse: 1 failed query.",
        next_action="Fix the column reference (renamed or dropped upstream?) and re-run the model. "
        "Then re-run: `airflow tasks clear daily_orders -t '^dbt_run_orders$' -y`",
        findings=(log_finding(), query_finding(), owners),
        composed_at=AT,
        **owner_fields(owners),  # type: ignore[arg-type]
    )


def degraded_report() -> Report:
    return complete_report().model_copy(
        update={
            "status": ReportStatus.DEGRADED,
            "impact": "No downstream dependents found. Warehouse activity unavailable: timed out after 20 s",
            "findings": (
                log_finding(),
                unavailable(Specialist.QUERY_PROFILER, "timed out after 20 s", elapsed_ms=20_000.0),
                owner_finding("<@U0MARIA>"),
            ),
            **owner_fields(owner_finding("<@U0MARIA>")),
        }
    )


def hostile_owners() -> OwnerFinding:
    """One real mention; markup and a copy of that mention forged in every other owner field
    (forged mentions cannot be an owner's ``slack`` at all: ``SlackMention`` refuses them)."""
    real = OwnerEntry(
        model="fct_orders",
        failed_node="fct_orders",
        owner="maria@example.com",
        source=f"models/{HOSTILE}.yml",
        slack="<@U0MARIA>",
        resolved_by="user_directory",
    )
    forged = OwnerEntry(
        model=HOSTILE,
        failed_node="fct_orders",
        owner=f"team <@U0MARIA> <@U999> {HOSTILE}",
        source="manifest:config.meta.owner",
        note="not a Slack mention",
    )
    nobody = OwnerEntry(model="dim_x", failed_node="fct_orders", note=f"no owner declared for model {HOSTILE}")
    return OwnerFinding(
        status=FindingStatus.OK, elapsed_ms=35.0, summary="owners", details=OwnerDetails(owners=(real, forged, nobody))
    )


def hostile_report() -> Report:
    """Every untrusted field carries markup; one owner mention is real, the others are forged."""
    owners = hostile_owners()
    return Report(
        incident_id="INC-20240501-0002",
        trigger=trigger(run_id=HOSTILE_RUN_ID, model=HOSTILE),
        status=ReportStatus.COMPLETE,
        root_cause=HOSTILE,
        impact=f"Impact: {HOSTILE}",
        next_action=f"Run `{HOSTILE}`",
        findings=(log_finding(HOSTILE), query_finding(), owners),
        composed_at=AT,
        **owner_fields(owners),  # type: ignore[arg-type]
    )


def hostile_finding() -> LogFinding:
    return LogFinding(
        status=FindingStatus.OK,
        elapsed_ms=12.0,
        summary=HOSTILE,
        evidence=tuple(
            Evidence(source="task.log", line=i, text=f"line {i}: {HOSTILE}\nsecond line") for i in range(1, 8)
        ),
    )


def formatting_trigger(attack: str = FORMATTING) -> Trigger:
    """``attack`` in every untrusted trigger field; dag and task ids are Airflow ids: '_' is all they can try."""
    run_id = "manual__" + re.sub(r"[/\\\x00-\x1f\x7f]", " ", attack)  # what a run id may hold
    return trigger(
        dag_id="_tmp_orders",
        task_id="dbt_run_",
        run_id=run_id,
        model=attack,
        exception=f"{attack}\nTraceback (most recent call last):",
    )


def formatting_incident(attack: str = FORMATTING) -> Incident:
    return Incident(
        incident_id="INC-20240501-0003", trigger=formatting_trigger(attack), channel="C0INCIDENTS", opened_at=AT
    )


def formatting_owners(attack: str) -> OwnerFinding:
    """``attack`` in every text field of the owner lines (model, owner, source, no-owner note)."""
    entries = (
        OwnerEntry(
            model=attack, failed_node="fct_orders", owner="maria@example.com", source=attack, slack="<@U0MARIA>"
        ),
        OwnerEntry(model="fct_orders", failed_node="fct_orders", owner=attack, source=attack),
        OwnerEntry(model="dim_x", failed_node="fct_orders", note=f"no owner declared for {attack}"),
    )
    return OwnerFinding(status=FindingStatus.OK, summary=attack, elapsed_ms=35.0, details=OwnerDetails(owners=entries))


def formatting_report(attack: str = FORMATTING) -> Report:
    """``attack`` in every untrusted field, an unavailable specialist's reason included."""
    owners = formatting_owners(attack)
    return Report(
        incident_id="INC-20240501-0003",
        trigger=formatting_trigger(attack),
        status=ReportStatus.DEGRADED,
        root_cause=attack,
        impact=f"Impact: {attack}",
        next_action=f"Run {attack}",
        findings=(log_finding(attack), unavailable(Specialist.QUERY_PROFILER, attack, elapsed_ms=5.0), owners),
        composed_at=AT,
        **owner_fields(owners),  # type: ignore[arg-type]
    )


def unavailable_owner_report(attack: str = FORMATTING) -> Report:
    """The owner lookup unavailable: OWNER is the composed sentence, ``attack`` in it."""
    return formatting_report(attack).model_copy(
        update={"owner": f"Owner lookup unavailable: {attack}", "owner_lines": (), "owner_notes": ()}
    )


def formatting_finding(attack: str = FORMATTING) -> LogFinding:
    """``attack`` as the summary (prose) and in an evidence line (code)."""
    return LogFinding(
        status=FindingStatus.OK,
        elapsed_ms=12.0,
        summary=attack,
        evidence=(Evidence(source="task.log", line=7, text=f"ERROR {attack}"),),
    )
