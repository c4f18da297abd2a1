"""What every worker process does at start: redacted logging with task and incident context, fresh
clients after fork."""

from __future__ import annotations

import logging
from typing import Any

from celery.app.log import TaskFormatter
from celery.signals import (
    after_setup_logger,
    after_setup_task_logger,
    task_postrun,
    task_prerun,
    worker_process_init,
)

from shared import log_context
from shared.redact import redact
from shared.runtime import get_runtime, reset_runtime

log = logging.getLogger(__name__)

# incident_id: set on every record by shared.log_context's filter ("-" outside an incident)
LOG_FORMAT = "%(asctime)s %(levelname)s [%(processName)s] [%(incident_id)s] %(name)s: %(message)s"
TASK_LOG_FORMAT = (
    "%(asctime)s %(levelname)s [%(processName)s] [%(incident_id)s] %(task_name)s[%(task_id)s] %(name)s: %(message)s"
)


@worker_process_init.connect
def _fresh_clients(**_: object) -> None:
    """New clients in each pool process, built now so the first incident does not pay for them."""
    reset_runtime()
    try:
        get_runtime()
    except Exception:  # a bad setting is reported again, with context, by the first task
        log.exception("could not build this worker's clients at start-up")


class _Redacting(logging.Formatter):
    """Formats as usual, then redacts the whole line, traceback included: exception text from a
    driver or from Celery itself (a task's arguments, a failed message) may carry credentials."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class RedactingFormatter(_Redacting):
    """Our loggers' lines, redacted."""


@after_setup_logger.connect
def _format(logger: logging.Logger, **_: object) -> None:
    for handler in logger.handlers:
        handler.setFormatter(RedactingFormatter(LOG_FORMAT))
        log_context.install(handler)


class RedactingTaskFormatter(_Redacting, TaskFormatter):
    """Celery's task formatter (it fills in task_name and task_id), redacted like the rest."""


@after_setup_task_logger.connect
def _format_task(logger: logging.Logger, **_: object) -> None:
    for handler in logger.handlers:
        handler.setFormatter(RedactingTaskFormatter(TASK_LOG_FORMAT))
        log_context.install(handler)


@task_prerun.connect
def _bind_incident(args: Any = None, kwargs: Any = None, **_: object) -> None:
    """The task's incident on its log lines until it ends, Celery's own (succeeded, failed, retry) included."""
    log_context.bind_incident(log_context.incident_id_of(args, kwargs))


@task_postrun.connect
def _unbind_incident(**_: object) -> None:
    log_context.bind_incident(None)
