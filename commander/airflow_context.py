"""Read an Airflow callback context (2.x or 3.x, task- or DAG-level) into Triggers.

Contexts differ by version and level, so every read is defensive:
- Airflow 3 has no ``execution_date``; a manual run has no ``logical_date``;
- a task-level callback has ``exception``; a DAG-level one has ``reason`` instead, and on
  Airflow 2 its ``ti`` can be the wrong task (the last of the run), so the failed task
  instances are taken from the dag run when it can list them;
- a task killed by SIGKILL fires only the DAG-level callback;
- the try's window (``start_date``/``end_date``) and the task's ``owner`` come from the task
  instance (and its task); a value that cannot be read is left out, never guessed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from shared.contracts import Trigger, TriggerSource
from shared.redact import clean

log = logging.getLogger(__name__)

EXCEPTION_LIMIT = 4_000
UPSTREAM_FAILED_NOTE = (
    "Airflow named an upstream_failed task in its DAG-level callback; "
    "the task that failed is upstream of it in this run."
)


def triggers_from_context(
    context: Mapping[str, Any], *, model: str | None = None, note: str | None = None
) -> list[Trigger]:
    """One Trigger per failed task instance the context describes (usually one)."""
    dag_run = context.get("dag_run")
    run_id = _str(context.get("run_id")) or _str(_attr(dag_run, "run_id"))
    logical_date = (
        _date(context.get("logical_date"))
        or _date(context.get("execution_date"))
        or _date(_attr(dag_run, "logical_date"))
        or _date(_attr(dag_run, "execution_date"))
    )
    dag_level = "exception" not in context and context.get("reason") is not None
    instances = _failed_instances(dag_run) if dag_level else []
    if not instances:
        ti = context.get("task_instance") or context.get("ti")
        instances = [ti] if ti is not None else []
    exception = _exception_text(context)
    triggers = []
    for ti in instances:
        ti_note = note
        if dag_level and _str(_attr(ti, "state")) == "upstream_failed":
            # Airflow 2 hands a DAG-level callback the run's last task, not the failed one (#26760).
            ti_note = " ".join(filter(None, [note, UPSTREAM_FAILED_NOTE]))
        dag_id = (
            _str(_attr(ti, "dag_id")) or _str(_attr(context.get("dag"), "dag_id")) or _str(_attr(dag_run, "dag_id"))
        )
        task_id = _str(_attr(ti, "task_id")) or _str(_attr(context.get("task"), "task_id"))
        if not (dag_id and task_id and run_id):
            continue
        started_at, ended_at = _window(ti)
        try:
            triggers.append(
                Trigger(
                    dag_id=dag_id,
                    task_id=task_id,
                    run_id=run_id[:250],
                    try_number=_int(_attr(ti, "try_number"), default=1),
                    map_index=_int(_attr(ti, "map_index"), default=-1),
                    logical_date=logical_date,
                    exception=exception,
                    log_location=(_str(_attr(ti, "log_url")) or None),
                    model=(model or _param_model(context) or "")[:250] or None,
                    context=ti_note[:2_000] if ti_note else None,
                    source=TriggerSource.AIRFLOW,
                    started_at=started_at,
                    ended_at=ended_at,
                    task_owner=_owner(ti, context, task_id),
                )
            )
        except ValueError:  # one odd task instance must not cost the others their triage
            log.exception("incident commander: skipped a task instance that makes no valid trigger")
    return triggers


def _window(ti: Any) -> tuple[datetime | None, datetime | None]:
    """This try's start and end (TaskInstance.start_date / end_date; Airflow 2 and 3 both set them
    before the failure callback runs). A pair out of order is dropped rather than lose the trigger."""
    started, ended = _date(_attr(ti, "start_date")), _date(_attr(ti, "end_date"))
    if started is not None and ended is not None and _utc(ended) < _utc(started):
        return None, None
    return started, ended


def _owner(ti: Any, context: Mapping[str, Any], task_id: str) -> str | None:
    """The task's ``owner`` argument: the task instance's own task, else the context's task when it
    is the same task (a DAG-level callback's ``task`` can be another one)."""
    task = _attr(ti, "task")
    if task is None and _str(_attr(context.get("task"), "task_id")) == task_id:
        task = context.get("task")
    owner = _str(_attr(task, "owner")).strip()
    return owner[:250] or None


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _failed_instances(dag_run: Any) -> list[Any]:
    getter = getattr(dag_run, "get_task_instances", None)
    if getter is None:
        return []
    try:
        return list(getter(state=["failed"]))
    except Exception:  # Airflow 3 runs DAG callbacks without DB access in some setups
        try:
            return [
                ti
                for ti in getter()
                if _str(_attr(ti, "state")).endswith("failed") and not _str(_attr(ti, "state")).startswith("upstream")
            ]
        except Exception:
            return []


def _exception_text(context: Mapping[str, Any]) -> str | None:
    exc = context.get("exception")
    if exc is not None:
        text = f"{type(exc).__name__}: {exc}" if isinstance(exc, BaseException) else str(exc)
    elif context.get("reason") is not None:
        text = f"DAG run failed: {context.get('reason')}"
    else:
        return None
    return clean(text, EXCEPTION_LIMIT)


def _param_model(context: Mapping[str, Any]) -> str | None:
    params = context.get("params")
    if isinstance(params, Mapping):
        value = params.get("dbt_model")
        return str(value) if value else None
    return None


def _attr(obj: Any, name: str) -> Any:
    if obj is None:
        return None
    try:
        return obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)
    except Exception:  # ORM objects can raise on detached attribute access
        return None


def _str(value: Any) -> str:
    return "" if value is None else str(value)


def _int(value: Any, *, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _date(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    # pendulum DateTime is a datetime subclass; anything else is not a date we trust
    return None
