"""The commander's worker: ``celery -A commander.worker worker -Q commander``."""

import shared.worker_boot  # noqa: F401  (signal handlers)
from commander.tasks import register_commander
from shared.celery_app import make_app

app = make_app("commander")
register_commander(app)
