"""The query profiler's worker: ``celery -A query_profiler.worker worker -Q query_profiler``."""

import shared.worker_boot  # noqa: F401  (signal handlers)
from query_profiler.profiler import profile_incident
from shared.celery_app import TaskName, make_app
from shared.contracts import Finding, Incident, Specialist
from shared.runtime import Runtime
from shared.specialist_task import register_specialist

app = make_app("query_profiler")


def _service(incident: Incident, runtime: Runtime) -> Finding:
    return profile_incident(incident, runtime.settings)


profile_queries = register_specialist(
    app, specialist=Specialist.QUERY_PROFILER, task_name=TaskName.PROFILE_QUERIES, service=_service
)
