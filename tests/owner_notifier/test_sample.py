"""The demo incident (samples/hourly_marts, built by another module): fct_orders has its owner in SQL."""

from __future__ import annotations

from pathlib import Path

from owner_notifier.owners import open_project, resolve_owner

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "hourly_marts" / "dbt_project"


def test_fct_orders_owner_of_the_demo_project() -> None:
    resolution = resolve_owner(open_project(SAMPLE), "fct_orders")
    [declared] = resolution.declared
    assert declared.owner == "priya.shah@example.com"
    # from the manifest when the sample ships one (dbt merges the SQL config() into config.meta), else the SQL
    assert declared.source in ("manifest:config.meta.owner", "model_sql")


def test_the_demo_incident_pings_the_fct_orders_owner_and_lists_the_impact() -> None:
    from incident_cli.sample import sample_trigger
    from owner_notifier.service import notify_owners
    from shared.contracts import FindingStatus
    from shared.settings import load_settings
    from tests.owner_notifier.conftest import DictDirectory, RecordingSink, make_incident, memory_once

    # Given the sample's own run_results.json (fct_orders errored), written inside the try the
    # trigger names, and no model in the trigger
    settings = load_settings(DBT_PROJECT_DIR=str(SAMPLE))
    sink = RecordingSink()
    window = sample_trigger()
    finding = notify_owners(
        make_incident(started_at=window.started_at, ended_at=window.ended_at),
        settings,
        sink=sink,
        once=memory_once(),
        directory=DictDirectory({"priya.shah@example.com": "U0PRIYA"}),
    )
    assert finding.status is FindingStatus.OK
    assert finding.summary.startswith("fct_orders → <@U0PRIYA> (")
    assert [p["text"].split()[0] for p in sink.posts] == ["<@U0PRIYA>"]
    downstream = finding.details.downstream
    assert "orders_daily" in downstream.models
    assert downstream.exposures  # the sample's dashboards hang off fct_orders
