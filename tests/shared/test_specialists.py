"""The one table of specialists: a fourth one, registered there alone, is routed, dispatched and reported."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from commander.compose import compose
from commander.tasks import chord_header
from shared.celery_app import make_app, queues
from shared.contracts import FindingStatus, OtherFinding, Report, ReportStatus, dump
from shared.settings import load_settings
from shared.slack_format import opening_blocks, report_blocks
from shared.specialists import SPECIALISTS, SpecialistSpec
from tests.slack import cases

COMPOSE_FILE = Path(__file__).resolve().parents[2] / "docker-compose.yml"
FOURTH = SpecialistSpec("cost_watcher", "pic.cost_watcher.watch_costs", "Cost watcher")
SETTINGS = load_settings(CELERY_BROKER_URL="redis://127.0.0.1:1/0")


def _three() -> dict[str, object]:
    return {f.specialist: f for f in (cases.log_finding(), cases.query_finding(), cases.owner_finding("<@U0MARIA>"))}


def test_a_fourth_specialist_registered_in_the_table_alone_is_routed_to_its_own_queue() -> None:
    app = make_app("test", settings=SETTINGS)  # built before the row exists: routes are read at each send
    with SPECIALISTS.registered(FOURTH):
        route = app.amqp.router.route({}, FOURTH.task)  # Celery's own router, from our config
        header = chord_header(app, dump(cases.incident()))
        assert route["queue"].name == "cost_watcher"
        assert [sig.task for sig in header][-1] == FOURTH.task  # its place: last, as in the table
        assert queues()[-1] == "cost_watcher"  # the queues the embedded stack starts workers for
    # Gone with its row: an unknown task falls to the default queue, where no specialist consumes it.
    assert app.amqp.router.route({}, FOURTH.task)["queue"].name == "commander"
    assert app.amqp.router.route({}, "pic.log_analyzer.analyze_logs")["queue"].name == "log_analyzer"


def test_a_fourth_specialists_finding_is_in_the_composed_report_and_the_post() -> None:
    found = OtherFinding(
        specialist="cost_watcher",
        status=FindingStatus.OK,
        summary="credits 3x the daily median",
        elapsed_ms=41.0,
        details={"credits": 312.5},
    )
    with SPECIALISTS.registered(FOURTH):
        report = compose(cases.incident(), {**_three(), "cost_watcher": found})  # type: ignore[dict-item]
        _, blocks = report_blocks(report)
        _, opening = opening_blocks(cases.incident())
    assert [f.specialist for f in report.findings][-1] == "cost_watcher"
    assert report.status is ReportStatus.COMPLETE
    assert "cost watcher ok 41 ms" in blocks[-1]["elements"][1]["text"]
    assert "owner notifier and cost watcher are looking" in opening[-1]["elements"][0]["text"]
    assert Report.model_validate_json(report.model_dump_json()) == report  # the wire keeps its finding


def test_a_registered_specialist_that_never_answers_makes_the_report_degraded_and_is_named() -> None:
    with SPECIALISTS.registered(FOURTH):
        report = compose(cases.incident(), _three())  # type: ignore[arg-type]
        _, blocks = report_blocks(report)
    assert report.status is ReportStatus.DEGRADED
    assert "cost watcher (no result: the specialist never reported)" in blocks[-1]["elements"][2]["text"]


def test_the_table_refuses_a_second_row_for_a_name_or_a_task() -> None:
    with pytest.raises(ValueError, match="already registered"):
        SPECIALISTS.register(SpecialistSpec("log_analyzer", "pic.log_analyzer.other", "Logs"))
    with pytest.raises(ValueError, match="must be named pic.cost_watcher"):
        SpecialistSpec("cost_watcher", "pic.other.watch", "Cost watcher")


def test_a_finding_from_an_unregistered_specialist_still_has_a_label() -> None:
    assert SPECIALISTS.label("cost_watcher") == "Cost watcher"
    assert SPECIALISTS.label("log_analyzer") == "Log analyzer"


def test_docker_compose_runs_one_worker_per_registered_specialist_on_its_queue() -> None:
    services = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    for spec in SPECIALISTS:
        command = services[spec.name]["command"]
        assert command[command.index("-A") + 1] == spec.worker_module
        assert command[command.index("-Q") + 1] == spec.queue
