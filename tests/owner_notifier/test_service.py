"""notify_owners end to end with in-process ports (the Slack tests use the real adapters)."""

from __future__ import annotations

from pathlib import Path

from owner_notifier.service import notify_owners
from shared.contracts import Downstream, FindingStatus, Specialist
from shared.settings import load_settings
from tests.owner_notifier.conftest import (
    OWNERS_FILE,
    PROJECT,
    DictDirectory,
    RecordingSink,
    make_incident,
    memory_once,
)

USERS = {"maria@example.com": "U0MARIA", "ann@example.com": "U0ANN"}


def _run(incident_fields: dict[str, object], project: Path | None = PROJECT, **kwargs: object):  # noqa: ANN202
    settings = load_settings(DBT_PROJECT_DIR=str(project) if project else None, OWNERS_FILE=str(OWNERS_FILE))
    sink = kwargs.pop("sink", None) or RecordingSink()
    once = kwargs.pop("once", None) or memory_once()
    finding = notify_owners(
        make_incident(**incident_fields), settings, sink=sink, directory=DictDirectory(USERS), once=once
    )
    return finding, sink


def test_the_model_in_the_trigger_gets_its_owner_pinged_once() -> None:
    finding, sink = _run({"model": "fct_orders", "exception": "Database Error in model fct_orders"})
    assert finding.specialist is Specialist.OWNER_NOTIFIER
    assert finding.status is FindingStatus.OK
    assert finding.summary == "fct_orders → <@U0MARIA> (manifest:config.meta.owner)"
    [post] = sink.posts
    assert post["channel"] == "#incidents" and post["thread_ts"] == "1700000000.000100"
    assert post["text"].startswith("<@U0MARIA> ")
    assert "fct_orders" in post["text"] and "Database Error" in post["text"] and "INC-20261123-0001" in post["text"]
    [owner] = finding.details.owners
    assert owner.owner == "maria@example.com" and owner.slack == "<@U0MARIA>" and owner.pinged is True
    assert finding.details.downstream == Downstream(
        models=("rpt_daily_revenue",), exposures=("finance_dashboard",), from_manifest=True
    )
    assert finding.evidence[0].source == "target/manifest.json:nodes.model.dbt_owners.fct_orders.config.meta.owner"


def test_run_results_failures_ping_each_owner_once_across_runs() -> None:
    # Given the real run_results: fct_orders (maria) and a test on dim_customers (ann, @bob)
    once = memory_once()
    first, sink = _run({}, once=once)
    second, _ = _run({}, once=once, sink=sink)  # a redelivered task
    assert sorted(p["text"].split()[0] for p in sink.posts) == ["<@U0ANN>", "<@U0MARIA>"]
    owners = {(o.model, o.owner): o for o in first.details.owners}
    assert owners[("dim_customers", "@bob")].slack is None
    assert owners[("dim_customers", "@bob")].pinged is False
    assert "plain text" in owners[("dim_customers", "@bob")].note
    assert {n.name for n in first.details.failed_nodes} == {
        "fct_orders",
        "not_null_dim_customers_email",
    }
    assert all(o.pinged for o in second.details.owners if o.slack)
    assert "@bob (manifest:config.meta.owner, not a Slack mention: not pinged)" in first.summary


def test_no_owner_declared_is_empty_and_pings_nobody() -> None:
    finding, sink = _run({"model": "orphan_model"})
    assert finding.status is FindingStatus.EMPTY
    assert finding.summary.startswith("no owner declared for model orphan_model (looked in: target/manifest.json")
    assert sink.posts == []


def test_team_owner_through_the_owners_file_pings_the_user_group() -> None:
    finding, sink = _run({"model": "fin_ledger"})
    assert finding.summary == "fin_ledger → <!subteam^S0FINANCE> (manifest:config.meta.owner)"
    assert finding.details.owners[0].resolved_by == "owners_file"
    assert sink.posts[0]["text"].startswith("<!subteam^S0FINANCE> ")  # the label dropped: one mention form


def test_unavailable_without_a_dbt_project(tmp_path: Path) -> None:
    finding, _ = _run({"model": "fct_orders"}, project=None)
    assert finding.status is FindingStatus.UNAVAILABLE
    assert "DBT_PROJECT_DIR" in finding.summary
    finding, _ = _run({"model": "fct_orders"}, project=tmp_path / "missing")
    assert finding.status is FindingStatus.UNAVAILABLE
    finding, _ = _run({"model": "fct_orders"}, project=tmp_path)
    assert finding.status is FindingStatus.UNAVAILABLE
    assert "neither target/manifest.json nor dbt_project.yml" in finding.summary


def test_without_a_manifest_the_schema_yaml_still_names_the_owner(no_manifest_project: Path) -> None:
    finding, sink = _run({"model": "fct_orders"}, project=no_manifest_project)
    assert finding.summary == "fct_orders → <@U0MARIA> (model_sql)"
    assert finding.evidence[0].source == "models/marts/fct_orders.sql:config(meta).owner"
    assert len(sink.posts) == 1


class _BrokenSink(RecordingSink):
    def post(self, **kwargs: object):  # type: ignore[override]  # noqa: ANN201
        from shared.errors import SlackPermanent

        raise SlackPermanent("channel_not_found")


def test_a_failed_ping_is_reported_not_raised() -> None:
    finding, _ = _run({"model": "fct_orders"}, sink=_BrokenSink())
    assert finding.status is FindingStatus.OK
    assert finding.details.owners[0].pinged is False
    assert "ping failed" in finding.details.owners[0].note
