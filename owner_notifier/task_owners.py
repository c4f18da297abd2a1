"""Owners of an Airflow task that is not a dbt node: OWNERS_FILE rules, then the task's own ``owner``.

For a failure with no dbt node of its own (a Python, bash or sensor task, or a dbt task whose
artifacts are not this try's), the owner is, in order:

1. the first ``tasks:`` rule in ``OWNERS_FILE`` whose ``dag`` and ``task`` patterns match (shell
   patterns, ``*`` and ``?``, matched case-sensitively like Airflow ids). The **first** match wins,
   unlike a CODEOWNERS file where the last does: put specific rules above broad ones. A rule must
   name ``dag`` or ``task`` (the other defaults to ``*``) and ``owners``; any other key (a typo such
   as ``dag_id``) makes the rule refused, never silently broadened::

       teams:
         payments: "<!subteam^S0PAY>"
       tasks:
         - {dag: "billing_*", task: "export_*", owners: [payments]}
         - {dag: "*", task: "dbt_*", owners: "data-platform@example.com"}

2. the Airflow task's ``owner`` argument, unless it is Airflow's default (``airflow``, the
   ``[operators] default_owner`` setting's default), split on commas as Airflow does;
3. nobody, said plainly. Never the owner of another node, never a guess.

Owner strings are resolved to mentions like dbt owners (``owner_notifier.mentions``): a team key
of ``OWNERS_FILE``, an email through the Slack directory, or a mention as given.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from owner_notifier.owners import Declared
from shared.contracts import Trigger

AIRFLOW_DEFAULT_OWNER = "airflow"  # BaseOperator's owner when the DAG sets none ([operators] default_owner)
_MAX_RULES = 1_000
_RULE_KEYS = frozenset({"dag", "task", "owners", "owner"})


@dataclass(frozen=True, slots=True)
class TaskRule:
    """One ``tasks:`` entry: DAG and task id patterns and the owners they name."""

    index: int
    dag: str
    task: str
    owners: tuple[str, ...]

    def matches(self, dag_id: str, task_id: str) -> bool:
        return fnmatch.fnmatchcase(dag_id, self.dag) and fnmatch.fnmatchcase(task_id, self.task)

    @property
    def where(self) -> str:
        return f"OWNERS_FILE:tasks[{self.index}] (dag {self.dag!r}, task {self.task!r})"


def task_rules(entries: Any) -> tuple[list[TaskRule], list[str]]:
    """The rules of OWNERS_FILE's ``tasks:`` (as loaded), and one line per entry that is not a rule."""
    if entries is None:
        return [], []
    if not isinstance(entries, list):
        return [], ["OWNERS_FILE tasks: is not a list of rules"]
    rules: list[TaskRule] = []
    problems: list[str] = []
    for index, entry in enumerate(entries[:_MAX_RULES]):
        if not isinstance(entry, dict):
            problems.append(f"OWNERS_FILE tasks[{index}]: not a mapping of dag/task patterns and owners: skipped")
            continue
        unknown = sorted(str(k) for k in entry if k not in _RULE_KEYS)
        owners = _owners(entry.get("owners", entry.get("owner")))
        dag, task = entry.get("dag", "*"), entry.get("task", "*")
        if unknown:
            problems.append(
                f"OWNERS_FILE tasks[{index}]: unknown key {', '.join(unknown)} (a rule has dag, task, owners): skipped"
            )
        elif "dag" not in entry and "task" not in entry:
            problems.append(f"OWNERS_FILE tasks[{index}]: names neither dag nor task: skipped")
        elif not (isinstance(dag, str) and isinstance(task, str) and owners):
            problems.append(f"OWNERS_FILE tasks[{index}]: needs dag/task patterns (strings) and owners: skipped")
        else:
            rules.append(TaskRule(index, dag, task, owners))
    return rules, problems


def task_owners(
    trigger: Trigger, rules: list[TaskRule], *, problems: Sequence[str] = ()
) -> tuple[list[Declared], list[str]]:
    """The owners declared for ``trigger``'s task, and where they were looked for.

    ``problems``: the OWNERS_FILE's own (unreadable, rules refused). Then its rules cannot be trusted
    to say who does *not* own this task, so the Airflow owner is not used in their place: no owner,
    and why."""
    looked_in = [f"OWNERS_FILE tasks: ({len(rules)} rules)"] if rules else ["OWNERS_FILE tasks: (none)"]
    for rule in rules:
        if rule.matches(trigger.dag_id, trigger.task_id):
            return [Declared(owner, "owners_file:tasks", rule.where) for owner in rule.owners], looked_in
    if problems:
        looked_in += [*problems, "Airflow task owner: not used while OWNERS_FILE has problems (fix it first)"]
        return [], looked_in
    owner = (trigger.task_owner or "").strip()
    named = [o.strip() for o in owner.split(",") if o.strip()]
    where = f"Airflow task {trigger.dag_id}.{trigger.task_id} owner"
    if not named:
        looked_in.append(f"{where} (not sent by the trigger)")
        return [], looked_in
    if [o.lower() for o in named] == [AIRFLOW_DEFAULT_OWNER]:
        looked_in.append(f"{where} ({AIRFLOW_DEFAULT_OWNER!r}: Airflow's default, nobody in particular)")
        return [], looked_in
    return [Declared(o, "airflow:task.owner", where) for o in named if o.lower() != AIRFLOW_DEFAULT_OWNER], looked_in


def _owners(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value.strip(),) if value.strip() else ()
    if isinstance(value, list):
        return tuple(v.strip() for v in value if isinstance(v, str) and v.strip())
    return ()
