"""The owner notifier's worker: ``celery -A owner_notifier.worker worker -Q owner_notifier``."""

import shared.worker_boot  # noqa: F401  (signal handlers)
from owner_notifier.service import notify_owners
from shared.celery_app import make_app
from shared.contracts import Incident, OwnerFinding, Specialist
from shared.runtime import Runtime
from shared.specialist_task import register_specialist
from shared.specialists import SPECIALISTS

app = make_app("owner_notifier")


def _service(incident: Incident, runtime: Runtime) -> OwnerFinding:
    return notify_owners(
        incident, runtime.settings, sink=runtime.sink, directory=runtime.directory, once=runtime.store.once
    )


notify_owners_task = register_specialist(app, spec=SPECIALISTS.get(Specialist.OWNER_NOTIFIER), service=_service)
