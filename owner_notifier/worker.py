"""The owner notifier's worker: ``celery -A owner_notifier.worker worker -Q owner_notifier``."""

import shared.worker_boot  # noqa: F401  (signal handlers)
from owner_notifier.service import notify_owners
from shared.celery_app import TaskName, make_app
from shared.contracts import Finding, Incident, Specialist
from shared.runtime import Runtime
from shared.specialist_task import register_specialist

app = make_app("owner_notifier")


def _service(incident: Incident, runtime: Runtime) -> Finding:
    return notify_owners(
        incident, runtime.settings, sink=runtime.sink, directory=runtime.directory, once=runtime.store.once
    )


notify_owners_task = register_specialist(
    app, specialist=Specialist.OWNER_NOTIFIER, task_name=TaskName.NOTIFY_OWNERS, service=_service
)
