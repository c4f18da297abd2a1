"""The start-up line of each worker (``shared.reads``): what it reads, what is not set, no secret shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.reads import SOURCE_VARIABLES, reads_line, reads_lines, sources_set
from shared.settings import MASK, Settings, load_settings
from shared.specialists import SPECIALISTS, SpecialistSpec

SECRET = "hunter2-not-for-logs"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what a test passes counts: no DBT_PROJECT_DIR etc. from the shell running pytest."""
    for field in Settings.model_fields.values():
        if field.alias:
            monkeypatch.delenv(field.alias, raising=False)


@pytest.fixture
def pipeline(tmp_path: Path) -> dict[str, Path]:
    dbt, logs = tmp_path / "dbt", tmp_path / "airflow-logs"
    dbt.mkdir()
    logs.mkdir()
    export = tmp_path / "history.json"
    export.write_text("[]")
    return {"dbt": dbt, "logs": logs, "export": export}


def test_log_analyzer_names_its_folder_its_project_and_the_api_with_its_password_masked(
    pipeline: dict[str, Path],
) -> None:
    settings = load_settings(
        AIRFLOW_LOG_FOLDER=str(pipeline["logs"]),
        DBT_PROJECT_DIR=str(pipeline["dbt"]),
        AIRFLOW_API_URL=f"https://ops:{SECRET}@airflow.internal/",
        AIRFLOW_API_TOKEN=SECRET,
    )
    line = reads_line(settings, "log_analyzer")
    assert line == (
        f"log_analyzer reads: task logs from AIRFLOW_LOG_FOLDER={pipeline['logs']}, task logs over the Airflow API "
        f"at AIRFLOW_API_URL=https://ops:{MASK}@airflow.internal/ (with AIRFLOW_API_TOKEN), "
        f"dbt artifacts from DBT_PROJECT_DIR={pipeline['dbt']}"
    )
    assert SECRET not in line

    bare = reads_line(load_settings(), "log_analyzer")
    assert bare == (
        "log_analyzer reads: task logs: AIRFLOW_LOG_FOLDER not set, Airflow API: AIRFLOW_API_URL not set, "
        "dbt artifacts: DBT_PROJECT_DIR not set - only the trigger's exception text"
    )


def test_log_analyzer_says_when_a_folder_it_was_given_is_not_there(tmp_path: Path) -> None:
    line = reads_line(load_settings(AIRFLOW_LOG_FOLDER=str(tmp_path / "gone")), "log_analyzer")
    assert f"task logs from AIRFLOW_LOG_FOLDER={tmp_path / 'gone'} (not found)" in line
    assert "dbt artifacts: DBT_PROJECT_DIR not set" in line
    assert " - " not in line  # a log folder is configured: no "only the exception text"


def test_query_profiler_shows_the_warehouse_url_with_its_password_and_secret_parameters_masked(
    pipeline: dict[str, Path],
) -> None:
    url = f"snowflake://etl:{SECRET}@acme-xy12345/ANALYTICS?warehouse=TRIAGE_WH&private_key_file_pwd={SECRET}"
    line = reads_line(load_settings(WAREHOUSE_URL=url, DBT_PROJECT_DIR=str(pipeline["dbt"])), "query_profiler")
    assert line == (
        f"query_profiler reads: query history from WAREHOUSE_URL=snowflake://etl:{MASK}@acme-xy12345/ANALYTICS"
        f"?warehouse=TRIAGE_WH&private_key_file_pwd={MASK}, dbt manifest from DBT_PROJECT_DIR={pipeline['dbt']}"
    )
    assert SECRET not in line

    export = reads_line(load_settings(WAREHOUSE_URL=f"file://{pipeline['export']}"), "query_profiler")
    assert f"query history from WAREHOUSE_URL=file://{pipeline['export']}," in export
    missing = reads_line(load_settings(WAREHOUSE_URL=f"file://{pipeline['export']}.old"), "query_profiler")
    assert f"WAREHOUSE_URL=file://{pipeline['export']}.old (not found)" in missing

    assert reads_line(load_settings(), "query_profiler") == (
        "query_profiler reads: query history: WAREHOUSE_URL not set, dbt manifest: DBT_PROJECT_DIR not set"
        " - no query history (its finding says no warehouse is configured)"
    )


def test_owner_notifier_names_the_project_and_the_owners_file(pipeline: dict[str, Path]) -> None:
    owners = pipeline["dbt"] / "owners.yml"
    owners.write_text("finance-team: '<@U0FIN>'\n")
    line = reads_line(load_settings(DBT_PROJECT_DIR=str(pipeline["dbt"]), OWNERS_FILE=str(owners)), "owner_notifier")
    assert line == (
        f"owner_notifier reads: owners from the dbt artifacts in DBT_PROJECT_DIR={pipeline['dbt']}, "
        f"owners file OWNERS_FILE={owners}, this try's task log: AIRFLOW_LOG_FOLDER not set"
    )
    # an OWNERS_FILE alone still names owners of tasks (its tasks: rules), so nothing is said to be lost
    assert reads_line(load_settings(OWNERS_FILE=str(pipeline["dbt"])), "owner_notifier") == (
        f"owner_notifier reads: owners: DBT_PROJECT_DIR not set, owners file OWNERS_FILE={pipeline['dbt']} "
        "(not a file), this try's task log: AIRFLOW_LOG_FOLDER not set"
    )
    assert reads_line(load_settings(), "owner_notifier").endswith(
        "- only the Airflow task's own owner argument can name an owner"
    )


def test_the_commander_says_where_it_posts_without_the_slack_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("INCIDENT_DB_URL", raising=False)  # the default history
    console = reads_line(load_settings(INCIDENT_OUTBOX=str(tmp_path / "outbox.jsonl")), "commander")
    assert console.startswith(
        f"commander posts to: the console sink INCIDENT_OUTBOX={tmp_path / 'outbox.jsonl'} (SLACK_BOT_TOKEN not set)"
    )
    assert console.endswith("; history in INCIDENT_DB_URL=sqlite:///.incident-commander/incidents.db")
    slack = reads_line(
        load_settings(SLACK_BOT_TOKEN=f"xoxb-{SECRET}", SLACK_API_URL=f"https://bot:{SECRET}@slack.internal/api/"),
        "commander",
    )
    assert slack.startswith(
        f"commander posts to: Slack INCIDENT_SLACK_CHANNEL=#incidents at SLACK_API_URL=https://bot:{MASK}@slack.internal/api/;"
    )


def test_one_line_per_worker_in_the_stacks_order_and_a_new_specialist_is_not_left_out() -> None:
    settings = load_settings()
    assert [line.split(" ", 1)[0] for line in reads_lines(settings)] == [
        "commander",
        "log_analyzer",
        "query_profiler",
        "owner_notifier",
    ]
    with SPECIALISTS.registered(SpecialistSpec("cost_watcher", "pic.cost_watcher.watch", "Cost watcher")):
        assert reads_lines(settings)[-1] == "cost_watcher reads: not described (add it to shared/reads.py)"


def test_sources_set_names_the_users_own_source_variables(pipeline: dict[str, Path]) -> None:
    assert sources_set(load_settings()) == ()
    settings = load_settings(WAREHOUSE_URL="postgresql://u@db/x", DBT_PROJECT_DIR=str(pipeline["dbt"]))
    assert sources_set(settings) == ("DBT_PROJECT_DIR", "WAREHOUSE_URL")
    every = {name: "x" for name in SOURCE_VARIABLES} | {"AIRFLOW_API_URL": "https://airflow.internal/"}
    assert sources_set(load_settings(**every)) == SOURCE_VARIABLES


def test_an_empty_variable_is_not_set(monkeypatch: pytest.MonkeyPatch) -> None:
    # `DBT_PROJECT_DIR=` in an env file would otherwise be Path("."), and `SLACK_BOT_TOKEN=` an empty token
    from shared.settings import Settings

    for name in ("DBT_PROJECT_DIR", "WAREHOUSE_URL", "SLACK_BOT_TOKEN", "OWNERS_FILE"):
        monkeypatch.setenv(name, "")
    settings = Settings()
    assert (settings.dbt_project_dir, settings.warehouse_url, settings.slack_bot_token, settings.owners_file) == (
        None,
        None,
        None,
        None,
    )


@pytest.mark.parametrize("name", ["INCIDENT_SPOOL_DIR", "INCIDENT_OUTBOX", "INCIDENT_DB_URL"])
def test_an_empty_location_is_refused_naming_the_variable(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # `INCIDENT_SPOOL_DIR=` would otherwise spool into whatever directory Airflow runs from
    from shared.errors import ConfigError
    from shared.settings import get_settings

    monkeypatch.setenv(name, "")
    get_settings.cache_clear()
    try:
        with pytest.raises(ConfigError, match=f"{name}: Value error, is empty"):
            get_settings()
    finally:
        get_settings.cache_clear()
