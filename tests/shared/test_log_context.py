"""Every worker log line carries the incident its task runs on, with no ``extra=`` at the call.

The worker's handlers are set up as Celery sets them up (the ``after_setup_*`` signals, our
receivers in ``shared.worker_boot``), and tasks start and end as Celery reports them
(``task_prerun``/``task_postrun``): only the Celery worker itself is left out.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from celery.signals import after_setup_logger, after_setup_task_logger, task_postrun, task_prerun

import shared.worker_boot  # noqa: F401  (the signal receivers under test)
from shared.log_context import bind_incident, current_incident, incident_id_of

INCIDENT_ID = "INC-20261130-0001"
INCIDENT = {"incident_id": INCIDENT_ID, "trigger": {"dag_id": "hourly_marts"}}
TRIGGER = {"dag_id": "hourly_marts", "task_id": "dbt_build_marts", "run_id": "scheduled__1"}


class _Task:
    name = "pic.test.task"


@pytest.fixture
def worker_log() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger whose handler the worker set up (formatter and filter), writing into a buffer."""
    out = io.StringIO()
    logger = logging.getLogger("tests.worker_log")
    handler = logging.StreamHandler(out)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    after_setup_logger.send(sender=None, logger=logger, loglevel=logging.INFO, logfile=None, format="", colorize=False)
    yield logger, out
    logger.removeHandler(handler)
    bind_incident(None)


def _run_task(logger: logging.Logger, *args: Any, bind: str | None = None, **kwargs: Any) -> None:
    """What a task's run looks like to the signals: prerun, the body's log calls, postrun."""
    task_prerun.send(sender=_Task(), task_id="t-1", task=_Task(), args=args, kwargs=kwargs)
    if bind:
        bind_incident(bind)
    logger.info("working")
    task_postrun.send(
        sender=_Task(), task_id="t-1", task=_Task(), args=args, kwargs=kwargs, retval=None, state="SUCCESS"
    )


@pytest.mark.parametrize(
    "args, kwargs",
    [
        ((INCIDENT,), {}),  # a specialist: the Incident
        ((INCIDENT_ID,), {}),  # report_chord_failure, finalize_overdue, deliver
        ((INCIDENT_ID, 3), {}),
        (([{"specialist": "log_analyzer"}],), {"incident_id": INCIDENT_ID}),  # compose_report, the chord's body
    ],
)
def test_a_task_on_an_incident_tags_its_lines(
    worker_log: tuple[logging.Logger, io.StringIO], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    logger, out = worker_log
    # When a task on an incident logs, without extra=
    _run_task(logger, *args, **kwargs)
    # Then its line carries the id, and the task's end unbinds it
    assert f"[{INCIDENT_ID}] tests.worker_log: working" in out.getvalue()
    assert current_incident() is None
    logger.info("idle")
    assert "[-] tests.worker_log: idle" in out.getvalue()


def test_triage_binds_the_incident_once_opened(worker_log: tuple[logging.Logger, io.StringIO]) -> None:
    logger, out = worker_log
    # Given the triage task, whose Trigger has no id yet
    task_prerun.send(sender=_Task(), task_id="t-1", task=_Task(), args=(TRIGGER,), kwargs={})
    logger.info("parsing")
    # When it opened the incident
    bind_incident(INCIDENT_ID)
    logger.info("opened")
    task_postrun.send(
        sender=_Task(), task_id="t-1", task=_Task(), args=(TRIGGER,), kwargs={}, retval=None, state="SUCCESS"
    )
    logger.info("after")
    # Then the lines from there on carry it, up to the task's end
    lines = out.getvalue().splitlines()
    assert "[-] tests.worker_log: parsing" in lines[0]
    assert f"[{INCIDENT_ID}] tests.worker_log: opened" in lines[1]
    assert "[-] tests.worker_log: after" in lines[2]


def test_task_logger_lines_carry_it_too_and_stay_redacted() -> None:
    # Given Celery's task logger, set up as the worker sets it up
    out = io.StringIO()
    logger = logging.getLogger("tests.task_log")
    handler = logging.StreamHandler(out)
    logger.addHandler(handler)
    logger.propagate = False
    try:
        after_setup_task_logger.send(
            sender=None, logger=logger, loglevel=logging.INFO, logfile=None, format="", colorize=False
        )
        after_setup_task_logger.send(
            sender=None, logger=logger, loglevel=logging.INFO, logfile=None, format="", colorize=False
        )  # set up twice: one filter still
        assert len(handler.filters) == 1
        # When a task on an incident logs a secret
        task_prerun.send(sender=_Task(), task_id="t-1", task=_Task(), args=(INCIDENT,), kwargs={})
        logger.warning("connecting to postgres://etl:hunter2@db:5432/x")
        task_postrun.send(
            sender=_Task(), task_id="t-1", task=_Task(), args=(INCIDENT,), kwargs={}, retval=None, state="SUCCESS"
        )
    finally:
        logger.removeHandler(handler)
        bind_incident(None)
    # Then the line has the id and not the password
    line = out.getvalue()
    assert f"[{INCIDENT_ID}]" in line and "postgres://etl:[REDACTED]@db:5432/x" in line
    assert "hunter2" not in line


def test_an_id_passed_with_extra_is_kept(worker_log: tuple[logging.Logger, io.StringIO]) -> None:
    logger, out = worker_log
    bind_incident(INCIDENT_ID)
    logger.info("other", extra={"incident_id": "INC-20261130-0002"})
    assert "[INC-20261130-0002] tests.worker_log: other" in out.getvalue()


@pytest.mark.parametrize(
    "args, kwargs, expected",
    [
        ((INCIDENT,), None, INCIDENT_ID),
        ((INCIDENT_ID,), None, INCIDENT_ID),
        ((), {"incident_id": INCIDENT_ID}, INCIDENT_ID),
        ((TRIGGER,), {}, None),  # triage: no id yet
        (None, None, None),
        (("not-an-incident",), {}, None),
        (({"incident_id": "INC-1; DROP"},), {}, None),  # only the contract's shape is believed
        ((f"{INCIDENT_ID}\nforged line",), {}, None),
        (({"incident_id": 7},), {"incident_id": None}, None),
    ],
)
def test_incident_id_of(args: Any, kwargs: Any, expected: str | None) -> None:
    assert incident_id_of(args, kwargs) == expected


def test_binding_something_that_is_not_an_id_unbinds() -> None:
    bind_incident(INCIDENT_ID)
    bind_incident("INC-1\nforged line")
    assert current_incident() is None
