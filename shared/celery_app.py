"""The one Celery app: serialization, reliability settings and the routing table.

Every service builds its worker app here (``make_app``) and registers only its own tasks, so a
worker for one queue never imports another service's code. Services call each other by task
name, routed to one queue per service by ``route_task``: the commander's tasks by
``TaskName``, each specialist's from the one table in ``shared.specialists``, read at each send.
The commander's ``record_history`` has a queue of its own, ``history``, served by a worker of its
own (the commander's worker module, ``-Q history``): a database that hangs never holds a slot that
triage needs. ``worker_module`` says which module serves each queue.
"""

from __future__ import annotations

from enum import StrEnum

from celery import Celery

from shared import wire
from shared.settings import Settings, get_settings
from shared.specialists import SPECIALISTS

COMMANDER_QUEUE = "commander"
HISTORY_QUEUE = "history"  # record_history alone: the durable history's writes, off the commander's slots


class TaskName(StrEnum):
    """The commander's tasks; the specialists' are in ``shared.specialists.SPECIALISTS``."""

    TRIAGE = "pic.commander.triage"
    COMPOSE_REPORT = "pic.commander.compose_report"
    REPORT_CHORD_FAILURE = "pic.commander.report_chord_failure"
    FINALIZE_OVERDUE = "pic.commander.finalize_overdue"
    DELIVER = "pic.commander.deliver"
    RECORD_HISTORY = "pic.commander.record_history"  # the durable history, after the report


def queues() -> tuple[str, ...]:
    """Every queue, one worker each: the commander's, the history's, then one per registered specialist."""
    return (COMMANDER_QUEUE, HISTORY_QUEUE, *(spec.queue for spec in SPECIALISTS))


def worker_module(queue: str) -> str:
    """The module whose Celery app serves ``queue`` (``celery -A <it> worker -Q <queue>``)."""
    if queue in (COMMANDER_QUEUE, HISTORY_QUEUE):
        return "commander.worker"
    spec = next((spec for spec in SPECIALISTS if spec.queue == queue), None)
    return spec.worker_module if spec is not None else f"{queue}.worker"


def route_task(
    name: str, args: object, kwargs: object, options: object, task: object = None, **_: object
) -> dict[str, str] | None:
    """Celery's router (``task_routes``): reads the registry at each send, so a specialist
    registered after the app was built is routed to its own queue, not the default one."""
    if name == TaskName.RECORD_HISTORY.value:
        return {"queue": HISTORY_QUEUE}
    if name.startswith("pic.commander."):
        return {"queue": COMMANDER_QUEUE}
    return next(({"queue": spec.queue} for spec in SPECIALISTS if spec.task == name), None)


# A message un-acked this long is redelivered (worker host lost). It must exceed the longest
# task (hard limit) and the longest countdown (the report deadline), or tasks run twice.
VISIBILITY_TIMEOUT_S = 300
# kombu scans for such messages every interval x throttle seconds (default 10 x 10 = 100 s).
_UNACKED_RESTORE = {"unacked_restore_interval": 5, "unacked_restore_throttle": 1}


def celery_config(settings: Settings) -> dict[str, object]:
    transport = {
        "visibility_timeout": VISIBILITY_TIMEOUT_S,
        "socket_connect_timeout": 2,
        "socket_timeout": 10,
        "socket_keepalive": True,
        **_UNACKED_RESTORE,
    }
    return {
        "broker_url": settings.effective_broker_url,
        # Celery prefers the CELERY_BROKER_URL environment variable over broker_url, but not over
        # the read/write URLs: so the settings object, not a stray variable, decides.
        "broker_read_url": settings.effective_broker_url,
        "broker_write_url": settings.effective_broker_url,
        "result_backend": settings.effective_result_backend,
        # JSON only: pickle is never accepted from the broker.
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        "task_routes": (route_task,),
        "task_default_queue": COMMANDER_QUEUE,
        # Ack after the task ran; a dead child is retried a bounded number of times (celery 5.7),
        # not rejected back to the queue forever (a poison task would loop).
        "task_acks_late": True,
        "task_retry_on_worker_lost": True,
        "task_reject_on_worker_lost": False,
        "worker_prefetch_multiplier": 1,
        "broker_transport_options": transport,
        "result_backend_transport_options": {"visibility_timeout": VISIBILITY_TIMEOUT_S},
        "visibility_timeout": VISIBILITY_TIMEOUT_S,
        "result_expires": 86_400,  # never 0/None: the chord callback would never run (#5237)
        "broker_connection_retry_on_startup": True,
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "worker_deduplicate_successful_tasks": False,
        # Flower needs events.
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "worker_hijack_root_logger": False,
        # A message too large or too deep to decode is acked and recorded, never redelivered.
        "worker_consumer": "shared.wire:RecordingConsumer",
    }


def make_app(name: str = "incident-commander", *, settings: Settings | None = None) -> Celery:
    """A Celery app configured for this project; tasks are registered by each service's worker module."""
    settings = settings or get_settings()
    wire.install()  # bounded JSON decoding before anything recursive touches a message
    # backend= beats the CELERY_RESULT_BACKEND environment variable, as the settings object should.
    app = Celery(name, set_as_current=False, backend=settings.effective_result_backend)
    app.conf.update(celery_config(settings))
    return app
