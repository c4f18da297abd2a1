"""``incident-commander db upgrade``, ``incidents`` and ``history`` through Typer's runner, on real databases."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from rich.console import Console
from typer.testing import CliRunner

from incident_cli.app import EXIT_CONFIG, EXIT_FAILED, EXIT_UNREACHABLE
from incident_cli.history_commands import app, dag_task_candidates, incidents_table, parse_since
from shared.incident_db import head_revision, open_store
from tests.store.conftest import incident, member

NOW = datetime.now(UTC)


def run(url: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env={"INCIDENT_DB_URL": url})
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def seeded(db_url: str) -> str:
    """Three incidents: an old resolved one, an open one of a task in a TaskGroup, one of another DAG."""
    store = open_store(db_url)
    store.record_opened(
        incident("INC-20261101-0001", opened_at=NOW - timedelta(days=40)),
        member("r-old", failed_at=NOW - timedelta(days=40)),
    )
    store.resolve("INC-20261101-0001", "fixed", at=NOW - timedelta(days=39))
    store.record_opened(
        incident("INC-20261130-0001", opened_at=NOW - timedelta(hours=1), owner="[red]<@U0PRIYA>[/red]"),
        member("r-new", task_id="transform.fct_orders", failed_at=NOW - timedelta(hours=1)),
    )
    store.set_cause("INC-20261130-0001", error_class="invalid_identifier", root_cause="amount_usd not found")
    store.record_opened(incident("INC-20261130-0002", opened_at=NOW), member("r-b", dag_id="billing", failed_at=NOW))
    store.close()
    return db_url


def test_db_upgrade_creates_the_database_and_prints_its_revision(empty_url: str) -> None:
    code, out, _ = run(empty_url, "db", "upgrade", "--json")
    assert code == 0
    answer = json.loads(out)
    assert (answer["revision"], answer["head"]) == (head_revision(), head_revision())
    assert answer["database"].startswith("INCIDENT_DB_URL=")
    # Again: nothing to do, same answer; and the human form names the database and the revision
    code, out, _ = run(empty_url, "db", "upgrade")
    assert code == 0 and f"at revision {head_revision()}" in out and "INCIDENT_DB_URL=" in out


def test_incidents_json_open_and_since(seeded: str) -> None:
    code, out, _ = run(seeded, "incidents", "--json")
    assert code == 0
    assert [i["id"] for i in json.loads(out)] == ["INC-20261130-0002", "INC-20261130-0001", "INC-20261101-0001"]
    _, out, _ = run(seeded, "incidents", "--open", "--json")
    assert [i["id"] for i in json.loads(out)] == ["INC-20261130-0002", "INC-20261130-0001"]
    _, out, _ = run(seeded, "incidents", "--since", "7d", "--json")
    rows = json.loads(out)
    assert [i["id"] for i in rows] == ["INC-20261130-0002", "INC-20261130-0001"]
    assert rows[1]["status"] == "open" and rows[1]["error_class"] == "invalid_identifier"
    assert rows[1]["task_id"] == "transform.fct_orders" and rows[1]["member_count"] == 1


def test_incidents_table(seeded: str) -> None:
    code, out, _ = run(seeded, "incidents", "--open")
    assert code == 0
    assert "INC-20261130-0001" in out and "INC-20261101-0001" not in out
    code, out, _ = run(seeded, "incidents", "--since", "2000-01-01T00:00:00", "--open", "--limit", "1")
    assert code == 0 and "INC-20261130-0002" in out and "INC-20261130-0001" not in out


def test_the_table_prints_untrusted_text_as_text(seeded: str) -> None:
    store = open_store(seeded)
    found = store.list_incidents(open_only=True)
    store.close()
    console = Console(file=io.StringIO(), width=200, color_system=None)
    console.print(incidents_table(found))
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert "[red]<@U0PRIYA>[/red]" in out  # rich markup in an owner is shown, not applied
    assert "invalid_identifier: amount_usd not found" in out and "hourly_marts.transform.fct_orders" in out


def test_history_of_a_dag_a_task_in_a_task_group_and_since(seeded: str) -> None:
    _, out, _ = run(seeded, "history", "hourly_marts", "--since", "90d", "--json")
    assert [i["id"] for i in json.loads(out)] == ["INC-20261130-0001", "INC-20261101-0001"]
    _, out, _ = run(seeded, "history", "hourly_marts", "--json")  # the default window: 30 days
    assert [i["id"] for i in json.loads(out)] == ["INC-20261130-0001"]
    # DAG.TASK where the task id itself has a dot (a TaskGroup): found by trying each dot
    _, out, _ = run(seeded, "history", "hourly_marts.transform.fct_orders", "--json")
    assert [i["id"] for i in json.loads(out)] == ["INC-20261130-0001"]
    _, out, _ = run(seeded, "history", "hourly_marts", "--task", "transform.fct_orders", "--json")
    assert [i["id"] for i in json.loads(out)] == ["INC-20261130-0001"]
    code, out, _ = run(seeded, "history", "billing.dbt_build_marts")
    assert code == 0 and "INC-20261130-0002" in out
    code, out, _ = run(seeded, "history", "no_such_dag")
    assert code == 0 and "No incidents of no_such_dag since" in out


def test_a_missing_database_is_one_line_naming_the_variable_and_the_fix(sqlite_url: str) -> None:
    code, out, err = run(sqlite_url, "incidents")
    assert code == EXIT_FAILED and out == ""
    assert err.startswith("error: no incident database at ") and "`incident-commander db upgrade`" in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_an_unreachable_or_unusable_database_exits_with_the_project_codes() -> None:
    code, _, err = run("postgresql://etl:pw-secret@127.0.0.1:1/incidents", "incidents", "--json")
    assert code == EXIT_UNREACHABLE and "did not answer" in err and "pw-secret" not in err
    code, _, err = run("mysql://db/incidents", "incidents")
    assert code == EXIT_CONFIG and "INCIDENT_DB_URL=" in err


def test_a_bad_since_is_a_usage_error(seeded: str) -> None:
    code, _, err = run(seeded, "incidents", "--since", "last tuesday")
    assert code == 2 and "use 30m, 12h, 7d, 2w or an ISO 8601 time" in err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", NOW - timedelta(days=7)),
        ("12h", NOW - timedelta(hours=12)),
        ("30m", NOW - timedelta(minutes=30)),
        ("2w", NOW - timedelta(weeks=2)),
        ("2026-11-01", datetime(2026, 11, 1, tzinfo=UTC)),
        ("2026-11-01T10:00:00+01:00", datetime(2026, 11, 1, 9, tzinfo=UTC)),
        (None, None),
    ],
)
def test_parse_since(text: str | None, expected: datetime | None) -> None:
    assert parse_since(text, now=NOW) == expected


def test_dag_task_candidates_try_each_dot() -> None:
    assert dag_task_candidates("a.b.c", None) == [("a.b.c", None), ("a", "b.c"), ("a.b", "c")]
    assert dag_task_candidates("a.b", "t") == [("a.b", "t")]
    assert dag_task_candidates("dag", None) == [("dag", None)]


def test_show_gives_one_incident_with_its_failures_and_timeline(seeded: str) -> None:
    code, out, _ = run(seeded, "show", "INC-20261130-0001", "--json")
    assert code == 0
    shown = json.loads(out)
    assert shown["id"] == "INC-20261130-0001" and shown["error_class"] == "invalid_identifier"
    assert [m["run_id"] for m in shown["members"]] == ["r-new"]
    assert shown["events"][0]["kind"] == "opened"
    code, out, _ = run(seeded, "show", "INC-20261130-0001")
    assert code == 0
    assert "invalid_identifier: amount_usd not found" in out and "[red]<@U0PRIYA>[/red]" in out  # text, not markup
    assert "hourly_marts.transform.fct_orders" in out and "r-new" in out


def test_show_of_an_unknown_incident_is_one_line_and_exit_1(seeded: str) -> None:
    code, out, err = run(seeded, "show", "INC-20261130-0999")
    assert code == EXIT_FAILED
    assert (out + err).strip().startswith("error: INC-20261130-0999 is not in the history (INCIDENT_DB_URL=")
