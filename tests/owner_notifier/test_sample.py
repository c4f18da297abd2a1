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
