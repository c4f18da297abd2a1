"""Evidence that belongs to the failure, end to end: a bad day's mix of real failures on one stack.

One running stack (Redis, the workers, slack-sdk against the test server) and one Airflow log
folder holding the real task failures of tests/fixtures/airflow (Airflow 3.3 and 2.10: a Python
KeyError, a refused connection after retries, execution and sensor time-outs, a MemoryError, SIGKILLs,
bash exits, an upstream ValueError, the hourly_marts dbt build), plus a dbt model's time-out (the real
console output of tests/fixtures/dbt_failures/timeout__sigint_long_query, run by a BashOperator). The
triggers come from the real callback contexts, through the producer, as Airflow sends them.

The dbt project directory is shared, as in any deployment where several DAGs run one dbt project:
its target/ holds another run's artifacts (the sample's fct_orders failure, owner <@U0PRIYA>). Worst
case, that other run finished *while each task ran*: before each trigger its run_results.json is
rewritten as written in the middle of that try. Still, every post must name the right failing node
or none, ping nobody but the right owner, and borrow no root cause.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from commander.airflow_context import triggers_from_context
from commander.producer import send_trigger
from incident_cli.stack import Stack
from shared.contracts import LogFinding, OwnerFinding, Report, Trigger
from shared.incident_store import IncidentStore
from tests.airflow_contexts import load_context
from tests.conftest import FCT_ORDERS_OWNER, SAMPLE
from tests.integration.conftest import settings_for, wait_for_incident_id, wait_for_report
from tests.slack_server import SlackServer

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
AIRFLOW_LOGS = FIXTURES / "airflow" / "logs"
EXPORTS_TEAM = "<!subteam^S0EXPORTS>"
OTHER_RUN = ("amount_usd", "Binder Error", "fct_orders")  # what the shared artifacts would lend


@dataclass(frozen=True)
class Case:
    trigger: Trigger
    failed_node: str | None  # the dbt node this try failed on, or None (not a dbt failure)
    pinged: frozenset[str]  # the only mentions that may be pinged for it


def _airflow_cases() -> list[Case]:
    """One trigger per final failure in tests/fixtures/airflow/expected.json, from its real context."""
    cases = []
    for entry in json.loads((FIXTURES / "airflow" / "expected.json").read_text()):
        if entry["error_class"] is None or not entry["final_attempt"]:
            continue
        version = entry["airflow_version"]
        name = f"{entry['dag_id']}__{entry['failed_task']}"
        try:
            context = load_context(version, name)
        except FileNotFoundError:  # SIGKILL in Airflow 3 fires only the DAG-level callback
            context = load_context(version, f"{entry['dag_id']}__dag")
        [trigger] = triggers_from_context(context)
        assert trigger.run_id == entry["run_id"] and trigger.task_id == entry["failed_task"]
        dbt = entry["dag_id"] == "hourly_marts"
        pinged = {FCT_ORDERS_OWNER} if dbt else ({EXPORTS_TEAM} if entry["dag_id"].startswith("pic_bash") else set())
        cases.append(Case(trigger, "fct_orders" if dbt else None, frozenset(pinged)))
    return cases


def _log_folder(tmp_path: Path) -> Path:
    """Both Airflow versions' task logs in one folder (their run ids differ), plus the dbt time-out."""
    folder = tmp_path / "airflow-logs"
    for version in ("airflow3", "airflow2"):
        shutil.copytree(AIRFLOW_LOGS / version, folder, dirs_exist_ok=True)
    timeout_log = folder / "dag_id=hourly_marts" / f"run_id={TIMEOUT_RUN}" / "task_id=dbt_build_order_pairs"
    timeout_log.mkdir(parents=True)
    shutil.copy(FIXTURES / "dbt_failures" / "timeout__sigint_long_query" / "console.log", timeout_log / "attempt=1.log")
    return folder


TIMEOUT_RUN = "scheduled__2026-11-23T11:00:00+00:00"
TIMEOUT_CASE = Case(
    Trigger(
        dag_id="hourly_marts",
        task_id="dbt_build_order_pairs",
        run_id=TIMEOUT_RUN,
        started_at="2026-11-23T11:24:50+00:00",  # type: ignore[arg-type]
        ended_at="2026-11-23T11:25:06+00:00",  # type: ignore[arg-type]
        exception="AirflowException: Bash command failed. The command returned a non-zero exit code 124.",
    ),
    "order_pairs",
    frozenset(),  # order_pairs has no declared owner in this project: nobody, not fct_orders' owner
)


def _written_during(run_results: Path, trigger: Trigger) -> None:
    """The other DAG's dbt run finished in the middle of this try (the worst case for a shared dir)."""
    assert trigger.started_at is not None or trigger.ended_at is None
    end = trigger.ended_at or trigger.failed_at
    moment = trigger.started_at + (end - trigger.started_at) / 2 if trigger.started_at else end
    doc = json.loads(run_results.read_text())
    doc["metadata"]["generated_at"] = moment.isoformat().replace("+00:00", "Z")
    run_results.write_text(json.dumps(doc))


def _pings(slack: SlackServer, thread_ts: str) -> set[str]:
    """The mentions posted in an incident's thread (the owner pings)."""
    found = set()
    for call in slack.calls("chat.postMessage"):
        text = str(call.params.get("text", ""))
        if call.params.get("thread_ts") == thread_ts and text.startswith("<"):
            found.add(text.split()[0])
    return found


def _finding(report: Report, kind: type[Any]) -> Any:
    [found] = [f for f in report.findings if isinstance(f, kind)]
    return found


def test_a_bad_days_mix_gets_the_right_node_or_none_and_zero_wrong_pings(
    make_stack: Callable[..., Stack], env: dict[str, str], slack_api: SlackServer, tmp_path: Path
) -> None:
    project = tmp_path / "dbt_project"
    shutil.copytree(SAMPLE / "dbt_project", project, ignore=shutil.ignore_patterns("*.duckdb"))
    owners = tmp_path / "owners.yml"
    owners.write_text(f"teams:\n  exports: '{EXPORTS_TEAM}'\ntasks:\n  - {{dag: 'pic_bash_*', owners: exports}}\n")
    env = {**env, "DBT_PROJECT_DIR": str(project), "AIRFLOW_LOG_FOLDER": str(_log_folder(tmp_path))}
    env["OWNERS_FILE"] = str(owners)
    stack = make_stack(env)
    settings = settings_for(stack, env)
    store = IncidentStore.from_url(stack.worker_env["CELERY_RESULT_BACKEND"])
    cases = [*_airflow_cases(), TIMEOUT_CASE]
    assert len(cases) >= 18

    wrong: list[str] = []
    for case in cases:
        trigger = case.trigger
        _written_during(project / "target" / "run_results.json", trigger)
        assert send_trigger(trigger, settings=settings).status == "sent"
        incident_id = wait_for_incident_id(store, trigger.dedup_key)
        report = wait_for_report(store, incident_id)
        where = f"{trigger.dag_id}.{trigger.task_id} ({incident_id})"
        log: LogFinding = _finding(report, LogFinding)
        owner: OwnerFinding = _finding(report, OwnerFinding)

        node = log.details.failed_node  # a dbt node's unique id, or the task itself when no dbt node failed
        expected = case.failed_node or trigger.task_id
        if (node.rsplit(".", 1)[-1] if node else None) not in (expected, None if case.failed_node is None else ""):
            wrong.append(f"{where}: failing node {node!r}, expected {expected!r}")
        dbt_nodes = {n.name for n in owner.details.failed_nodes}
        if dbt_nodes - {case.failed_node}:
            wrong.append(f"{where}: owner notifier took {sorted(dbt_nodes)} for its failure")
        opened = store.get_incident(incident_id)
        pinged = _pings(slack_api, (opened.thread_ts if opened else None) or "")
        mentioned = set(report.mentions)
        if not (pinged <= case.pinged and mentioned <= case.pinged):
            wrong.append(
                f"{where}: pinged {sorted(pinged)}, mentioned {sorted(mentioned)}, may be {sorted(case.pinged)}"
            )
        if case.failed_node is None and any(word in report.root_cause for word in OTHER_RUN):
            wrong.append(f"{where}: root cause borrowed from the other run: {report.root_cause[:200]}")
        if case.failed_node is None and not any("no dbt invocation" in line for line in log.details.not_used):
            wrong.append(f"{where}: the finding does not say why the dbt artifacts were not used")

    assert not wrong, "\n".join(wrong)
    # the right pings did happen: fct_orders' owner for the hourly_marts build, the exports team for bash
    all_pings = {str(c.params.get("text", "")).split()[0] for c in slack_api.calls("chat.postMessage")}
    assert {FCT_ORDERS_OWNER, EXPORTS_TEAM} <= all_pings
