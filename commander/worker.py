"""The commander's worker: ``celery -A commander.worker worker -Q commander``."""

import logging

from celery.signals import worker_ready

import shared.incident_db  # imported before the pool forks: the children inherit it
import shared.worker_boot  # noqa: F401  (signal handlers)
from commander.tasks import register_commander
from shared.celery_app import make_app
from shared.settings import get_settings

app = make_app("commander")
register_commander(app)
log = logging.getLogger(__name__)


@worker_ready.connect
def _migrate_history(**_: object) -> None:
    """The durable history's schema, migrated once at start-up (off every incident's path). A database
    that does not answer is said, not fatal: posts go out, history writes retry, then are recorded."""
    url = get_settings().incident_db_url
    try:
        revision = shared.incident_db.upgrade(url)
    except Exception as exc:
        log.warning("incident history (%s) not migrated: %s", shared.incident_db.describe(url), exc)
    else:
        log.info("incident history (%s) at revision %s", shared.incident_db.describe(url), revision)
