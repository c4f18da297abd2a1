"""What every worker process does at start: redacted logging with task and incident context, one
line saying what the worker reads (``shared.reads``), fresh clients after fork."""

from __future__ import annotations

import logging
from typing import Any

from celery.app.log import TaskFormatter
from celery.signals import (
    after_setup_logger,
    after_setup_task_logger,
    celeryd_after_setup,
    task_postrun,
    task_prerun,
    worker_process_init,
)

from shared import log_context
from shared.errors import ConfigError
from shared.reads import reads_line
from shared.redact import redact
from shared.runtime import get_runtime, reset_runtime
from shared.settings import get_settings

log = logging.getLogger(__name__)
# The start-up line of what this worker reads: INFO, yet shown at any -l (the stack and compose run
# workers at WARNING), since "which pipeline is it reading?" is the first thing to check.
reads_log = logging.getLogger("pic.reads")
reads_log.setLevel(logging.INFO)

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


@celeryd_after_setup.connect
def _say_what_it_reads(sender: object = None, instance: Any = None, **_: object) -> None:
    """``<service> reads: ...`` once, in the main process, after logging is set up and before the
    broker is reached: a worker waiting for Redis has already said where it will look."""
    service = getattr(getattr(instance, "app", None), "main", None) or str(sender)
    try:
        reads_log.info("%s", reads_line(get_settings(), service))
    except ConfigError as exc:  # the first task reports it again, with context
        reads_log.error("%s reads: unknown, the configuration is refused: %s", service, exc)


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
