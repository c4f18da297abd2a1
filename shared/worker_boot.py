"""What every worker process does at start: logging with task context, fresh clients after fork."""

from __future__ import annotations

import logging

from celery.signals import after_setup_logger, worker_process_init

from shared.runtime import get_runtime, reset_runtime

log = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(levelname)s [%(processName)s] %(name)s: %(message)s"
TASK_LOG_FORMAT = ("%(asctime)s %(levelname)s [%(processName)s] %(task_name)s[%(task_id)s] "
                   "%(name)s: %(message)s")


@worker_process_init.connect
def _fresh_clients(**_: object) -> None:
    """New clients in each pool process, built now so the first incident does not pay for them."""
    reset_runtime()
    try:
        get_runtime()
    except Exception:  # a bad setting is reported again, with context, by the first task
        log.exception("could not build this worker's clients at start-up")


@after_setup_logger.connect
def _format(logger: logging.Logger, **_: object) -> None:
    for handler in logger.handlers:
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
