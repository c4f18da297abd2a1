"""Every file a trigger makes the log analyzer read stays inside its root.

A file outside the roots holds an error-looking line with a marker (``SECRET``). Each hostile
trigger or project below would have put that line in the finding before; now the finding names
what it did not use, and the marker appears nowhere in it (summary, details, evidence). Each
attack has a control: the same content inside the root *is* read, so the test would see a leak.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from incident_cli.sample import sample_env, sample_trigger
from log_analyzer.incident import analyze_incident
from shared.contracts import FindingStatus, Incident, LogFinding, Trigger
from shared.errors import SourceError
from shared.paths import PathRefused, inside
from shared.settings import Settings, load_settings

SECRET = "secret-outside-root"
SECRET_LOG = (
    "[2026-11-23T03:01:52+0000] {taskinstance.py:3311} ERROR - Task failed with exception\n"
    f"psycopg2.OperationalError: connection failed: {SECRET}\n"
)
DAG, TASK, RUN = "hourly_marts", "load_raw", "scheduled__2026-11-23T03:00:00+00:00"
# An artifact of this try: written inside SAMPLE_TRY, by the invocation dbt.log's header names.
INVOCATION = "28355dd7-690d-470d-90e6-913189a482b1"
BELONGING_METADATA = {"generated_at": "2026-11-23T03:01:55.327100Z", "invocation_id": INVOCATION}
DBT_LOG_HEADER = f"============================== 03:01:50.000000 | {INVOCATION} ==============================\n"


@pytest.fixture
def roots(tmp_path: Path) -> dict[str, Path]:
    """An empty AIRFLOW_LOG_FOLDER, and a file outside it (in a sibling folder) with the marker."""
    logs = tmp_path / "airflow_logs"
    logs.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    private = elsewhere / "private.log"
    private.write_text(SECRET_LOG)
    return {"logs": logs, "elsewhere": elsewhere, "private": private}


# The bundled sample's try (its Airflow 3 callback context): its run_results.json was written inside it.
SAMPLE_TRY = {"started_at": "2026-11-23T03:01:48.483905+00:00", "ended_at": "2026-11-23T03:02:06.983270+00:00"}


def _incident(trigger: Trigger | None = None, **fields: Any) -> Incident:
    trigger = trigger or Trigger(**{"dag_id": DAG, "task_id": TASK, "run_id": RUN, **SAMPLE_TRY, **fields})
    return Incident(incident_id="INC-20261123-0001", trigger=trigger, channel="#incidents")


def _settings(logs: Path | None = None, project: Path | None = None, **more: Any) -> Settings:
    return load_settings(
        AIRFLOW_LOG_FOLDER=str(logs) if logs else None, DBT_PROJECT_DIR=str(project) if project else None, **more
    )


def _assert_not_leaked(finding: LogFinding, marker: str = SECRET) -> None:
    assert marker not in finding.model_dump_json()  # summary, details and evidence alike


def _not_used(finding: LogFinding) -> list[str]:
    lines = finding.details.not_used
    assert lines, finding
    return list(lines)


def _attempt_path(logs: Path) -> Path:
    return logs / f"dag_id={DAG}" / f"run_id={RUN}" / f"task_id={TASK}" / "attempt=1.log"


# --- the helper --------------------------------------------------------------------------------


def test_inside_returns_the_resolved_path_and_refuses_what_leaves_the_root(roots: dict[str, Path]) -> None:
    logs = roots["logs"]
    (logs / "a.log").write_text("x")
    assert inside(logs, logs / "sub" / ".." / "a.log") == (logs / "a.log").resolve()
    assert inside(logs, Path("a.log")) == (logs / "a.log").resolve()  # relative: to the root, not the cwd
    expected = f"refused: {roots['private']} is outside AIRFLOW_LOG_FOLDER ({logs})"
    with pytest.raises(SourceError, match=f"^{re.escape(expected)}$"):
        inside(logs, roots["private"], label="AIRFLOW_LOG_FOLDER")
    with pytest.raises(PathRefused, match="is outside"):
        inside(logs, Path("../elsewhere/private.log"), label="AIRFLOW_LOG_FOLDER")
    (logs / "link.log").symlink_to(roots["private"])
    with pytest.raises(PathRefused, match="symlink .* outside AIRFLOW_LOG_FOLDER"):
        inside(logs, logs / "link.log", label="AIRFLOW_LOG_FOLDER")


def test_inside_accepts_a_root_that_is_itself_a_symlink(tmp_path: Path, roots: dict[str, Path]) -> None:
    alias = tmp_path / "logs_alias"
    alias.symlink_to(roots["logs"])
    (roots["logs"] / "a.log").write_text("x")
    assert inside(alias, alias / "a.log") == (roots["logs"] / "a.log").resolve()


# --- log_location ------------------------------------------------------------------------------


def test_a_log_location_inside_the_folder_is_read(roots: dict[str, Path]) -> None:
    # the control for the refusals below: the very same content, inside the root, is found
    log = _attempt_path(roots["logs"])
    log.parent.mkdir(parents=True)
    shutil.copy(roots["private"], log)
    finding = analyze_incident(_incident(log_location=str(log)), _settings(roots["logs"]))
    assert finding.status is FindingStatus.OK and SECRET in finding.summary
    assert finding.details.source == str(log.resolve()) and not finding.details.not_used


def test_a_relative_log_location_is_taken_inside_the_folder(roots: dict[str, Path]) -> None:
    log = _attempt_path(roots["logs"])
    log.parent.mkdir(parents=True)
    shutil.copy(roots["private"], log)
    relative = str(log.relative_to(roots["logs"]))
    finding = analyze_incident(_incident(run_id="manual__other", log_location=relative), _settings(roots["logs"]))
    assert finding.status is FindingStatus.OK and finding.details.source == str(log.resolve())


def test_a_log_location_under_dbt_project_logs_is_read(tmp_path: Path, roots: dict[str, Path]) -> None:
    project = tmp_path / "project"
    (project / "logs").mkdir(parents=True)
    log = project / "logs" / "task.log"
    shutil.copy(roots["private"], log)
    finding = analyze_incident(_incident(log_location=str(log)), _settings(roots["logs"], project))
    assert finding.status is FindingStatus.OK and finding.details.source == str(log.resolve())


def test_an_absolute_log_location_outside_the_folder_is_refused(roots: dict[str, Path]) -> None:
    finding = analyze_incident(_incident(log_location=str(roots["private"])), _settings(roots["logs"]))
    _assert_not_leaked(finding)
    assert finding.status is FindingStatus.UNAVAILABLE
    [line] = _not_used(finding)
    assert line == f"log_location: refused: {roots['private']} is outside AIRFLOW_LOG_FOLDER ({roots['logs']})"
    assert finding.summary.startswith(f"no log source could be read: {line}")


def test_a_relative_log_location_with_dotdot_is_refused(roots: dict[str, Path]) -> None:
    finding = analyze_incident(_incident(log_location="../elsewhere/private.log"), _settings(roots["logs"]))
    _assert_not_leaked(finding)
    [line] = _not_used(finding)
    assert line.startswith("log_location: refused: ../elsewhere/private.log is outside AIRFLOW_LOG_FOLDER")


def test_a_symlink_in_the_log_folder_pointing_outside_is_refused(roots: dict[str, Path]) -> None:
    # both ways in: named by log_location, and as the attempt's own path in the Airflow layout
    link = _attempt_path(roots["logs"])
    link.parent.mkdir(parents=True)
    link.symlink_to(roots["private"])
    for incident in (_incident(log_location=str(link)), _incident()):
        finding = analyze_incident(incident, _settings(roots["logs"]))
        _assert_not_leaked(finding)
        assert finding.status is FindingStatus.UNAVAILABLE
        assert any("symlink" in line and "outside AIRFLOW_LOG_FOLDER" in line for line in _not_used(finding))


def test_a_symlinked_folder_in_the_log_folder_is_refused(roots: dict[str, Path]) -> None:
    (roots["logs"] / f"dag_id={DAG}").symlink_to(roots["elsewhere"], target_is_directory=True)
    shutil.copy(roots["private"], roots["elsewhere"] / "attempt=1.log")
    finding = analyze_incident(_incident(log_location=f"dag_id={DAG}/attempt=1.log"), _settings(roots["logs"]))
    _assert_not_leaked(finding)
    assert "refused" in _not_used(finding)[0]


@pytest.mark.parametrize("url", ["file://{path}", "file:{path}", "FILE://localhost{path}", "ftp://example.com{path}"])
def test_a_non_http_url_is_refused(roots: dict[str, Path], url: str) -> None:
    location = url.format(path=roots["private"])
    finding = analyze_incident(_incident(log_location=location), _settings(roots["logs"]))
    _assert_not_leaked(finding)
    [line] = _not_used(finding)
    assert line.startswith(f"log_location: refused: {location} is a ") and " URL" in line
    assert location in finding.summary  # nothing else could be read: the summary says why


def test_no_local_log_location_is_trusted_without_a_configured_folder(roots: dict[str, Path]) -> None:
    finding = analyze_incident(_incident(log_location=str(roots["private"])), _settings())
    _assert_not_leaked(finding)
    assert "neither AIRFLOW_LOG_FOLDER nor DBT_PROJECT_DIR is set" in _not_used(finding)[0]


def test_a_hostile_log_location_becomes_one_printable_line(roots: dict[str, Path]) -> None:
    finding = analyze_incident(_incident(log_location="../x\x00y\nz"), _settings(roots["logs"]))
    [line] = _not_used(finding)
    assert line.startswith("log_location: refused: ../x?y z ") and line.isprintable()
    assert finding.summary.isprintable()


def test_a_run_id_that_climbs_out_of_the_folder_is_refused(roots: dict[str, Path]) -> None:
    # the contract refuses such run ids; built without validation, the point of use must refuse it too
    target = roots["elsewhere"] / "x" / f"task_id={TASK}" / "attempt=1.log"
    target.parent.mkdir(parents=True)
    shutil.copy(roots["private"], target)
    hostile = Trigger.model_construct(
        dag_id=DAG,
        task_id=TASK,
        run_id="manual__x/../../../elsewhere/x",
        try_number=1,
        map_index=-1,
        exception=None,
        log_location=None,
        model=None,
    )
    finding = analyze_incident(_incident(hostile), _settings(roots["logs"]))
    _assert_not_leaked(finding)
    [line] = _not_used(finding)
    assert line.startswith("task log path: refused:") and f"outside AIRFLOW_LOG_FOLDER ({roots['logs']})" in line


class _Server:
    """An HTTP server that answers every path with the marker, except Airflow's API log path."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                server.paths.append(self.path)
                body = (
                    b"Running dbt\nERROR - KeyError: 'customer_id'\n"
                    if self.path.startswith("/api/")
                    else SECRET_LOG.encode()
                )
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"


@pytest.fixture
def server() -> Iterator[_Server]:
    running = _Server()
    yield running
    running.httpd.shutdown()


def test_an_http_log_location_is_never_fetched_without_an_api(roots: dict[str, Path], server: _Server) -> None:
    location = f"{server.url}/log?dag_id={DAG}&task_id={TASK}"
    finding = analyze_incident(_incident(log_location=location), _settings(roots["logs"]))
    _assert_not_leaked(finding)
    assert server.paths == []
    [line] = _not_used(finding)
    assert location in line and "never fetched as given" in line and "AIRFLOW_API_URL is not set" in line


def test_an_http_log_location_is_read_through_the_configured_api(roots: dict[str, Path], server: _Server) -> None:
    location = f"{server.url}/somewhere/else?file=/etc/passwd"
    finding = analyze_incident(
        _incident(log_location=location), _settings(roots["logs"], AIRFLOW_API_URL=server.url, AIRFLOW_API_TOKEN="t")
    )
    _assert_not_leaked(finding)
    [path] = server.paths
    assert path.startswith(f"/api/v2/dags/{DAG}/dagRuns/") and f"/taskInstances/{TASK}/logs/1?" in path
    assert finding.status is FindingStatus.OK and "customer_id" in finding.summary


# --- dbt artifacts -----------------------------------------------------------------------------


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    (project / "target").mkdir(parents=True)
    (project / "logs").mkdir()
    (project / "dbt_project.yml").write_text("name: shop\nversion: '1.0'\n")
    return project


def _outside_artifact(roots: dict[str, Path], relative: str) -> Path:
    """The outside file a hostile project links to, each with the marker in what the analyzer reports."""
    path = roots["elsewhere"] / Path(relative).name
    if relative.endswith("run_results.json"):
        path.write_text(
            json.dumps(
                {
                    "metadata": BELONGING_METADATA,
                    "results": [
                        {
                            "unique_id": "model.shop.fct_orders",
                            "status": "error",
                            "message": f"Database Error in model fct_orders (models/fct_orders.sql)\n"
                            f"  psycopg2.OperationalError: connection failed: {SECRET}",
                        }
                    ],
                }
            )
        )
    else:
        path.write_text(DBT_LOG_HEADER + SECRET_LOG)
    return path


@pytest.mark.parametrize("relative", ["target/run_results.json", "logs/dbt.log"])
def test_a_dbt_artifact_symlinked_outside_the_project_is_refused(
    tmp_path: Path, roots: dict[str, Path], relative: str
) -> None:
    project = _project(tmp_path)
    outside = _outside_artifact(roots, relative)
    (project / relative).symlink_to(outside)
    finding = analyze_incident(_incident(model="fct_orders"), _settings(roots["logs"], project))
    _assert_not_leaked(finding)
    assert any(
        line.startswith(f"{relative}: refused:") and "outside DBT_PROJECT_DIR" in line for line in _not_used(finding)
    )

    # control: the same file, inside the project, is read (so the assertion above would see a leak);
    # dbt.log is read for the invocation a run_results.json of this try names
    (project / relative).unlink()
    shutil.copy(outside, project / relative)
    if relative == "logs/dbt.log":
        failed = [{"unique_id": "model.shop.fct_orders", "status": "error", "message": "Database Error"}]
        (project / "target/run_results.json").write_text(
            json.dumps({"metadata": BELONGING_METADATA, "results": failed})
        )
    finding = analyze_incident(_incident(model="fct_orders"), _settings(roots["logs"], project))
    assert SECRET in finding.model_dump_json() and not finding.details.not_used


def test_a_dbt_project_yml_symlinked_outside_is_not_read(tmp_path: Path, roots: dict[str, Path]) -> None:
    project = _project(tmp_path)
    (project / "dbt_project.yml").unlink()
    (roots["elsewhere"] / "dbt_project.yml").write_text("name: secret_outside_root\n")
    (project / "dbt_project.yml").symlink_to(roots["elsewhere"] / "dbt_project.yml")
    log = _attempt_path(roots["logs"])
    log.parent.mkdir(parents=True)
    log.write_text(
        "1 of 1 START sql table model main.fct_orders ... [RUN]\n"
        "1 of 1 ERROR creating sql table model main.fct_orders ... [ERROR in 0.1s]\n"
        "Runtime Error in model fct_orders (models/fct_orders.sql)\n"
        '  Binder Error: Referenced column "amount_usd" not found in FROM clause!\n'
    )
    finding = analyze_incident(_incident(model="fct_orders"), _settings(roots["logs"], project))
    _assert_not_leaked(finding, "secret_outside_root")
    assert finding.status is FindingStatus.OK and "amount_usd" in finding.summary
    assert any(line.startswith("dbt_project.yml: refused:") for line in _not_used(finding))


def test_a_dbt_project_dir_that_is_itself_a_symlink_works(tmp_path: Path) -> None:
    env = sample_env()
    alias = tmp_path / "dbt"
    alias.symlink_to(env["DBT_PROJECT_DIR"], target_is_directory=True)
    trigger = sample_trigger().model_copy(update={"log_location": None})
    finding = analyze_incident(_incident(trigger), _settings(tmp_path / "no-logs", alias))
    assert finding.status is FindingStatus.OK and "amount_usd" in finding.summary
    assert not finding.details.not_used


# --- the normal cases and the local CLI --------------------------------------------------------


def test_the_bundled_sample_is_analysed_as_before() -> None:
    env = sample_env()
    finding = analyze_incident(
        _incident(sample_trigger()), _settings(Path(env["AIRFLOW_LOG_FOLDER"]), Path(env["DBT_PROJECT_DIR"]))
    )
    assert finding.status is FindingStatus.OK
    assert finding.details.failed_node == "model.hourly_marts.fct_orders" and "amount_usd" in finding.summary
    assert str(finding.details.source).startswith(env["AIRFLOW_LOG_FOLDER"])
    assert not finding.details.not_used


def test_analyze_log_on_the_command_line_reads_any_path(
    roots: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # a user naming a file on their own machine is not a trigger: no root applies
    from incident_cli.main import app

    monkeypatch.setenv("AIRFLOW_LOG_FOLDER", str(roots["logs"]))
    result = CliRunner().invoke(app, ["analyze-log", str(roots["private"]), "--json"], env=dict(os.environ))
    assert result.exit_code == 0, result.output
    assert SECRET in result.output
