"""Owners of tasks that are not dbt nodes, and no borrowed dbt owner.

The shared-project case runs on real parts: the fixture dbt project's artifacts (written by a real
`dbt build` at 10:58), real Airflow 3 task logs of a bash sftp export and a Python task, and the
owner notifier reading them as its worker does.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from owner_notifier.service import notify_owners
from owner_notifier.task_owners import AIRFLOW_DEFAULT_OWNER, task_owners, task_rules
from shared.contracts import FindingStatus, OwnerFinding, Trigger
from shared.settings import load_settings
from tests.owner_notifier.conftest import FIXTURE_TRY, PROJECT, DictDirectory, RecordingSink, make_incident, memory_once

AIRFLOW3 = Path(__file__).resolve().parents[1] / "fixtures" / "airflow" / "logs" / "airflow3"
RULES = [
    {"dag": "billing_*", "task": "export_*", "owners": ["payments"]},
    {"dag": "pic_*", "task": "export_to_*", "owners": "<@U0EXPORTS>"},
    {"dag": "*", "task": "*", "owner": "catch-all@example.com"},
]


def _trigger(**fields: Any) -> Trigger:
    return Trigger(**{"dag_id": "pic_bash_exit", "task_id": "export_to_sftp", "run_id": "manual__1", **fields})


def test_the_first_matching_rule_wins_and_is_cited_by_its_position() -> None:
    rules, problems = task_rules(RULES)
    assert problems == []
    [declared], _ = task_owners(_trigger(), rules)
    assert (declared.owner, declared.source) == ("<@U0EXPORTS>", "owners_file:tasks")
    assert declared.evidence == "OWNERS_FILE:tasks[1] (dag 'pic_*', task 'export_to_*')"
    [declared], _ = task_owners(_trigger(dag_id="billing_daily", task_id="export_invoices"), rules)
    assert declared.owner == "payments" and declared.evidence.startswith("OWNERS_FILE:tasks[0]")


def test_patterns_match_the_whole_id_case_sensitively_like_airflow_ids() -> None:
    rules, _ = task_rules([{"dag": "pic_*", "task": "export", "owners": "x"}])
    assert task_owners(_trigger(), rules)[0] == []  # "export" is not "export_to_sftp"
    rules, _ = task_rules([{"dag": "PIC_*", "task": "*", "owners": "x"}])
    assert task_owners(_trigger(), rules)[0] == []


def test_without_a_rule_the_airflow_task_owner_is_used_split_on_commas() -> None:
    declared, _ = task_owners(_trigger(task_owner="alice@example.com, data-eng"), [])
    assert [(d.owner, d.source) for d in declared] == [
        ("alice@example.com", "airflow:task.owner"),
        ("data-eng", "airflow:task.owner"),
    ]
    assert declared[0].evidence == "Airflow task pic_bash_exit.export_to_sftp owner"


@pytest.mark.parametrize("owner", [AIRFLOW_DEFAULT_OWNER, "Airflow", None, " "])
def test_airflows_default_owner_or_none_is_nobody_said_plainly(owner: str | None) -> None:
    declared, looked_in = task_owners(_trigger(task_owner=owner), [])
    assert declared == []
    assert looked_in[-1].startswith("Airflow task pic_bash_exit.export_to_sftp owner (")


def test_a_rule_without_owners_or_with_a_bad_pattern_is_skipped_and_said() -> None:
    rules, problems = task_rules(
        [{"dag": "pic_*"}, {"dag": 3, "owners": "x"}, "export_*", {"task": "t", "owners": "y"}]
    )
    assert [(r.dag, r.owners) for r in rules] == [("*", ("y",))]  # the pattern not given defaults to "*"
    assert len(problems) == 3 and all(p.endswith("skipped") for p in problems)
    assert task_rules("not a list") == ([], ["OWNERS_FILE tasks: is not a list of rules"])


def _shared_project(tmp_path: Path, owners_yml: str) -> dict[str, str]:
    """A dbt project whose target/ holds another run's artifacts (as when DAGs share one project dir),
    the real Airflow 3 log folder, and an OWNERS_FILE."""
    project = tmp_path / "project"
    shutil.copytree(PROJECT, project, ignore=shutil.ignore_patterns("*.duckdb", "logs"))
    owners = tmp_path / "owners.yml"
    owners.write_text(owners_yml)
    return {"DBT_PROJECT_DIR": str(project), "AIRFLOW_LOG_FOLDER": str(AIRFLOW3), "OWNERS_FILE": str(owners)}


def _notify(env: dict[str, str], **trigger: Any) -> tuple[OwnerFinding, RecordingSink]:
    sink = RecordingSink()
    finding = notify_owners(
        make_incident(**trigger),
        load_settings(**env),
        sink=sink,
        directory=DictDirectory({"alice@example.com": "U0ALICE"}),
        once=memory_once(),
    )
    return finding, sink


BASH_TRY = {
    "dag_id": "pic_bash_exit",
    "task_id": "export_to_sftp",
    "run_id": "manual__2026-11-23T10:59:22.634827+00:00",
    **FIXTURE_TRY,  # inside the window the other run's run_results.json was written in
}


def test_a_bash_task_never_gets_the_owner_of_the_last_dbt_runs_failed_model(tmp_path: Path) -> None:
    env = _shared_project(tmp_path, "teams:\n  exports: '<@U0EXPORTS>'\ntasks:\n  - {dag: pic_*, owners: exports}\n")
    finding, sink = _notify(env, **BASH_TRY)
    assert finding.details.failed_nodes == ()
    assert [o.slack for o in finding.details.owners] == ["<@U0EXPORTS>"]
    assert [p["text"].split()[0] for p in sink.posts] == ["<@U0EXPORTS>"]
    assert "this try's log shows no dbt invocation: no dbt node is its failure" in finding.details.targets_looked_in
    assert "fct_orders" not in finding.model_dump_json() and "dim_customers" not in finding.model_dump_json()


def test_a_task_with_no_rule_and_the_default_owner_pings_nobody(tmp_path: Path) -> None:
    env = _shared_project(tmp_path, "teams:\n  exports: '<@U0EXPORTS>'\n")
    finding, sink = _notify(env, **BASH_TRY, task_owner="airflow")
    assert finding.status is FindingStatus.EMPTY and sink.posts == []
    assert finding.summary.startswith("no owner declared for task pic_bash_exit.export_to_sftp (looked in: ")
    assert "'airflow': Airflow's default, nobody in particular" in finding.summary


def test_the_airflow_task_owner_is_pinged_through_the_directory(tmp_path: Path) -> None:
    env = _shared_project(tmp_path, "{}\n")
    finding, sink = _notify(env, **BASH_TRY, task_owner="alice@example.com")
    assert [(o.owner, o.slack, o.source) for o in finding.details.owners] == [
        ("alice@example.com", "<@U0ALICE>", "airflow:task.owner")
    ]
    assert len(sink.posts) == 1


def test_an_owners_file_with_tasks_and_no_teams_key_does_not_take_tasks_for_a_team(tmp_path: Path) -> None:
    env = _shared_project(tmp_path, "exports: '<@U0EXPORTS>'\ntasks:\n  - {task: export_*, owners: exports}\n")
    finding, _ = _notify(env, **BASH_TRY)
    assert [o.slack for o in finding.details.owners] == ["<@U0EXPORTS>"]


def test_the_same_trigger_on_a_dbt_try_still_gets_the_dbt_nodes_owner(tmp_path: Path) -> None:
    # control: without a task log, the artifacts written inside the try are its evidence
    env = _shared_project(tmp_path, "{}\n")
    env.pop("AIRFLOW_LOG_FOLDER")
    finding, _ = _notify(env, dag_id="hourly_marts", task_id="dbt_build", run_id="scheduled__x", **FIXTURE_TRY)
    assert {n.name for n in finding.details.failed_nodes} == {"fct_orders", "not_null_dim_customers_email"}


def test_a_dbt_try_outside_the_artifacts_window_gets_no_dbt_node_and_says_why(tmp_path: Path) -> None:
    env = _shared_project(tmp_path, "{}\n")
    env.pop("AIRFLOW_LOG_FOLDER")
    later = {"started_at": "2026-11-23T11:40:00+00:00", "ended_at": "2026-11-23T11:45:00+00:00"}
    finding, sink = _notify(env, dag_id="hourly_marts", task_id="dbt_build", run_id="scheduled__x", **later)
    assert finding.details.failed_nodes == () and sink.posts == []
    assert (
        "target/run_results.json: written at 2026-11-23 10:58:35 UTC, before this try started at "
        "2026-11-23 11:40:00 UTC: not used"
    ) in finding.details.targets_looked_in


def test_a_rule_with_an_unknown_key_is_refused_not_broadened_to_every_task() -> None:
    # `dag_id` is not `dag`: read as "dag: *" it would match marketing.load and ping payments
    rules, problems = task_rules([{"dag_id": "billing_*", "task_id": "export_*", "owners": ["payments"]}])
    assert rules == []
    assert problems == ["OWNERS_FILE tasks[0]: unknown key dag_id, task_id (a rule has dag, task, owners): skipped"]
    rules, problems = task_rules([{"owners": ["payments"]}])
    assert rules == [] and problems == ["OWNERS_FILE tasks[0]: names neither dag nor task: skipped"]


def test_with_owners_file_problems_the_airflow_owner_does_not_stand_in_for_its_rules() -> None:
    declared, looked_in = task_owners(
        _trigger(task_owner="alice@example.com"), [], problems=["OWNERS_FILE tasks[0]: unknown key dag_id"]
    )
    assert declared == []
    assert looked_in[-1] == "Airflow task owner: not used while OWNERS_FILE has problems (fix it first)"


def test_an_unreadable_owners_file_gives_no_owner_and_says_why(tmp_path: Path) -> None:
    env = _shared_project(tmp_path, "tasks: [unclosed\n")
    finding, sink = _notify(env, **BASH_TRY, task_owner="alice@example.com")
    assert finding.details.owners[0].owner is None and sink.posts == []
    assert "OWNERS_FILE" in finding.summary and "not used while OWNERS_FILE has problems" in finding.summary
