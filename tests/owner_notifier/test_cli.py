"""``incident-commander owner`` through typer's runner (registered here as the CLI module will)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from owner_notifier.cli import owner_command
from shared.settings import get_settings
from tests.owner_notifier.conftest import PROJECT

app = typer.Typer()
app.command("owner")(owner_command)
app.command("noop")(lambda: None)  # two commands, so "owner" is a sub-command as in the real CLI


@pytest.fixture(autouse=True)
def _fresh_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DBT_PROJECT_DIR", raising=False)
    monkeypatch.delenv("OWNERS_FILE", raising=False)
    get_settings.cache_clear()


def _json(*args: str) -> dict[str, object]:
    result = CliRunner().invoke(app, ["owner", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_json_by_project_dir() -> None:
    out = _json("fct_orders", "--project-dir", str(PROJECT))
    assert (out["model"], out["owner"], out["source"], out["slack"]) == (
        "fct_orders",
        "maria@example.com",
        "manifest:config.meta.owner",
        None,
    )  # no Slack in the CLI
    assert out["looked_in"] == ["target/manifest.json:nodes.model.dbt_owners.fct_orders"]


def test_json_by_manifest_and_unique_id_with_a_mention() -> None:
    out = _json("model.dbt_owners.stg_customers", "--manifest", str(PROJECT / "target" / "manifest.json"))
    assert (out["owner"], out["source"], out["slack"]) == (
        "<@U0CARLOS>",
        "manifest:config.meta.owner",
        "<@U0CARLOS>",
    )


def test_json_lists_every_owner() -> None:
    out = _json("dim_customers", "--project-dir", str(PROJECT))
    assert [o["owner"] for o in out["owners"]] == ["ann@example.com", "@bob"]  # type: ignore[index]


def test_no_owner_is_null_and_exit_code_1_in_text_mode(no_manifest_project: Path) -> None:
    out = _json("orphan_model", "--project-dir", str(no_manifest_project))
    assert out["owner"] is None and out["source"] is None and out["slack"] is None
    assert "target/manifest.json (not found)" in out["looked_in"]  # type: ignore[operator]
    result = CliRunner().invoke(app, ["owner", "orphan_model", "--project-dir", str(no_manifest_project)])
    assert result.exit_code == 1
    assert result.output.startswith("no owner declared for model orphan_model (looked in: ")


def test_text_mode() -> None:
    result = CliRunner().invoke(app, ["owner", "fin_ledger", "--project-dir", str(PROJECT)])
    assert result.exit_code == 0
    assert (
        result.output.strip() == "fin_ledger: finance-team  [manifest:config.meta.owner]  -> no Slack mention "
        "('finance-team' is not an email or Slack mention and is not in OWNERS_FILE)"
    )


def test_a_test_answers_with_the_owner_of_the_model_it_tests() -> None:
    out = _json("not_null_dim_customers_email", "--project-dir", str(PROJECT))
    assert (out["model"], out["owner"]) == ("dim_customers", "ann@example.com")
