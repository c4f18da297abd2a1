"""What every worker process does at start: logging with task context, fresh clients after fork."""

from __future__ import annotations

import logging

from celery.signals import after_setup_logger, worker_process_init

from shared.runtime import reset_runtime

LOG_FORMAT = "%(asctime)s %(levelname)s [%(processName)s] %(name)s: %(message)s"
TASK_LOG_FORMAT = ("%(asctime)s %(levelname)s [%(processName)s] %(task_name)s[%(task_id)s] "
                   "%(name)s: %(message)s")


@worker_process_init.connect
def _fresh_clients(**_: object) -> None:
    reset_runtime()


@after_setup_logger.connect
def _format(logger: logging.Logger, **_: object) -> None:
    for handler in logger.handlers:
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
