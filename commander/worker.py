"""The commander's worker: ``celery -A commander.worker worker -Q commander`` (triage, reports, delivery),
and the same module with ``-Q history`` as a worker of its own for the durable history's writes."""

import threading

from celery.signals import worker_ready

import shared.incident_db  # noqa: F401  (imported before the pool forks: the children inherit it)
import shared.worker_boot  # noqa: F401  (signal handlers)
from commander.history import prepare_history
from commander.tasks import register_commander
from shared.celery_app import make_app
from shared.runtime import get_store, use_shared_slack_budget
from shared.settings import get_settings

app = make_app("commander")
register_commander(app)
use_shared_slack_budget()  # its Slack calls are retried by deliver when a turn is too far away


@worker_ready.connect
def _prepare_history(**_: object) -> None:
    """At start-up, off every incident's path: the history migrated, Redis's id counters seeded from
    it, in a thread, so a slow database never delays the first triage."""
    threading.Thread(
        target=prepare_history, args=(get_settings().incident_db_url, get_store()), name="prepare-history", daemon=True
    ).start()
