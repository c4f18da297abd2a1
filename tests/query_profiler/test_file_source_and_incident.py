"""FileSource on JSON, JSON Lines and CSV exports; attribution; the incident-level finding; the CLI."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from query_profiler.attribution import model_for
from query_profiler.cli import profile_queries_command
from query_profiler.profiler import NO_WAREHOUSE, profile_incident, profile_queries
from query_profiler.sources import make_source
from query_profiler.sources.file_export import FileSource
from shared.contracts import FindingStatus, Incident, Specialist, Trigger
from shared.errors import SourceError
from shared.settings import Settings
from tests.query_profiler.conftest import BASE_TIME, dbt_comment, incident_rows

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "hourly_marts" / "query_history.json"
EXPECTED_TOP = ["q-failed", "q-spill", "q-queued"]


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}


def _write_json(path: Path) -> Path:
    path.write_text(json.dumps([_jsonable(r) for r in incident_rows()], indent=2))
    return path


def _write_csv(path: Path) -> Path:
    rows = [_jsonable(r) for r in incident_rows()]
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows([{k: "" if v is None else v for k, v in r.items()} for r in rows])
    return path


def _window() -> tuple[datetime, datetime]:
    return BASE_TIME - timedelta(minutes=10), BASE_TIME + timedelta(hours=1)


@pytest.mark.parametrize("writer", [_write_json, _write_csv], ids=["json", "csv"])
def test_file_exports_rank_like_the_warehouse(tmp_path: Path, writer: Any) -> None:
    path = writer(tmp_path / ("history.json" if writer is _write_json else "history.csv"))
    start, end = _window()
    profiles = profile_queries(make_source(str(path)), start=start, end=end)
    assert [p.query_id for p in profiles] == EXPECTED_TOP
    assert [p.model for p in profiles] == ["fct_orders", "orders_daily", "stg_orders"]


def test_json_lines_and_file_urls(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    path.write_text("\n".join(json.dumps(_jsonable(r)) for r in incident_rows()))
    start, end = _window()
    profiles = profile_queries(make_source(path.as_uri()), start=start, end=end, top=1)
    assert [p.query_id for p in profiles] == ["q-failed"]


def test_window_excludes_queries_that_ended_before_it(tmp_path: Path) -> None:
    path = _write_json(tmp_path / "history.json")
    start = BASE_TIME + timedelta(minutes=45)
    profiles = profile_queries(FileSource(path), start=start, end=start + timedelta(minutes=30), top=10)
    assert "q-spill" not in [p.query_id for p in profiles]  # ended at +30 min


def test_broken_and_missing_files_are_source_errors(tmp_path: Path) -> None:
    start, end = _window()
    with pytest.raises(SourceError, match="not found"):
        list(FileSource(tmp_path / "nope.json").queries(start=start, end=end))
    broken = tmp_path / "broken.json"
    broken.write_text('[{"QUERY_ID": "a"}, {"QUERY_ID": ')
    with pytest.raises(SourceError, match="truncated or invalid"):
        list(FileSource(broken).queries(start=start, end=end))


@pytest.mark.parametrize(
    ("text", "tag", "model"),
    [
        (f"{dbt_comment('model.shop.fct_orders')}\nselect 1", None, "fct_orders"),  # prefix (Postgres)
        (f"select 1\n{dbt_comment('model.shop.fct_orders.v2')};", None, "fct_orders"),  # suffix (Snowflake)
        ("select 1", '{"dbt_model": "orders_daily"}', "orders_daily"),
        ("select 1", "model.shop.dim_customers", "dim_customers"),
        ("select 1", "stg_orders", "stg_orders"),
        ("select 1", "tableau:extract-refresh:revenue", "unattributed"),
        ('/* {"app": "looker"} */ select 1', None, "unattributed"),
    ],
)
def test_attribution(text: str, tag: str | None, model: str) -> None:
    assert model_for(text, tag) == model


def _incident(model: str | None = "fct_orders", failed_at: datetime | None = None) -> Incident:
    trigger = Trigger(
        dag_id="shop",
        task_id="dbt_run",
        run_id="r1",
        model=model,
        failed_at=failed_at or BASE_TIME + timedelta(minutes=51),
    )
    return Incident(incident_id="INC-20260501-0001", channel="#incidents", trigger=trigger)


def test_incident_finding_from_a_file(tmp_path: Path) -> None:
    settings = Settings(WAREHOUSE_URL=str(_write_json(tmp_path / "history.json")))
    finding = profile_incident(_incident(), settings)
    assert (finding.specialist, finding.status) == (Specialist.QUERY_PROFILER, FindingStatus.OK)
    expected = "fct_orders failed: 000904 invalid identifier 'AMOUNT_USD'; orders_daily spilled 12 GB"
    assert finding.summary.startswith(expected)
    details = finding.details
    assert details.source == "file"
    assert [q.query_id for q in details.queries] == EXPECTED_TOP
    first = details.queries[0]
    assert set(first.model_dump()) == {
        "query_id",
        "model",
        "status",
        "elapsed_ms",
        "error",
        "diagnosis",
        "blocked_by",
        "warehouse",
        "started_at",
    }
    failed_at = BASE_TIME + timedelta(minutes=51)
    assert details.window_start == failed_at - timedelta(hours=2)
    assert details.window_end == failed_at + timedelta(minutes=5)
    assert len(finding.evidence) == 3
    assert finding.evidence[0].source == "query_history"
    assert finding.evidence[0].text.startswith("q-failed fct_orders failed, elapsed 1.2 s: failed: 000904")


def test_incident_scoped_to_the_model_and_its_neighbours(tmp_path: Path) -> None:
    project = tmp_path / "dbt"
    (project / "target").mkdir(parents=True)
    (project / "target" / "manifest.json").write_text(
        json.dumps(
            {
                "nodes": {
                    "model.shop.fct_orders": {"name": "fct_orders"},
                    "model.shop.stg_orders": {"name": "stg_orders"},
                },
                "parent_map": {"model.shop.fct_orders": ["model.shop.stg_orders", "source.shop.raw.orders"]},
                "child_map": {"model.shop.fct_orders": []},
            }
        )
    )
    settings = Settings(WAREHOUSE_URL=str(_write_json(tmp_path / "history.json")), DBT_PROJECT_DIR=str(project))
    finding = profile_incident(_incident(), settings)
    assert finding.details.scope == "model"
    assert [q.model for q in finding.details.queries] == ["fct_orders", "stg_orders"]


def test_no_warehouse_is_an_empty_finding() -> None:
    finding = profile_incident(_incident(), Settings())
    assert (finding.status, finding.summary) == (FindingStatus.EMPTY, NO_WAREHOUSE)


def test_missing_file_is_unavailable_with_the_reason(tmp_path: Path) -> None:
    finding = profile_incident(_incident(), Settings(WAREHOUSE_URL=str(tmp_path / "gone.json")))
    assert finding.status is FindingStatus.UNAVAILABLE
    assert "query history file not found" in finding.summary


def test_secrets_in_warehouse_text_are_redacted(tmp_path: Path) -> None:
    rows = [_jsonable(incident_rows()[0]) | {"ERROR_MESSAGE": "login failed for snowflake://bob:hunter2@acct"}]
    path = tmp_path / "history.json"
    path.write_text(json.dumps(rows))
    finding = profile_incident(_incident(), Settings(WAREHOUSE_URL=str(path)))
    assert "hunter2" not in json.dumps(finding.model_dump(mode="json"))


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.command("profile-queries")(profile_queries_command)
    return app


def test_cli_json_and_table(tmp_path: Path) -> None:
    path = _write_json(tmp_path / "history.json")
    start, end = (t.isoformat() for t in _window())
    runner = CliRunner()
    result = runner.invoke(_cli(), ["--warehouse-url", str(path), "--start", start, "--end", end, "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["query_id"] for r in rows] == EXPECTED_TOP
    assert set(rows[0]) == {"query_id", "model", "status", "elapsed_ms", "error", "diagnosis", "blocked_by"}
    table = runner.invoke(_cli(), ["--warehouse-url", str(path), "--start", start, "--end", end, "--top", "1"])
    assert table.exit_code == 0 and "fct_orders" in table.output and "q-spill" not in table.output
    scoped = runner.invoke(
        _cli(),
        ["--warehouse-url", str(path), "--start", start, "--end", end, "--model", "orders_daily", "--json"],
    )
    assert [r["model"] for r in json.loads(scoped.output)] == ["orders_daily"]


def test_cli_reports_a_source_error_without_a_traceback(tmp_path: Path) -> None:
    result = CliRunner().invoke(_cli(), ["--warehouse-url", str(tmp_path / "none.json"), "--since", "1h"])
    assert result.exit_code == 2
    assert "query history file not found" in result.output


def test_reads_the_demo_sample() -> None:
    incident_file = SAMPLE.parent / "incident.json"
    trigger = Trigger.model_validate_json(incident_file.read_text())
    finding = profile_incident(
        Incident(incident_id="INC-20261123-0001", channel="#incidents", trigger=trigger),
        Settings(WAREHOUSE_URL=str(SAMPLE)),
    )
    assert finding.status is FindingStatus.OK
    assert finding.summary.startswith("fct_orders failed: 000904 invalid identifier 'AMOUNT_USD'")
    assert all(r["QUERY_ID"] for r in FileSource(SAMPLE).rows())
