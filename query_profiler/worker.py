"""The query profiler's worker: ``celery -A query_profiler.worker worker -Q query_profiler``."""

import shared.worker_boot  # noqa: F401  (signal handlers)
from query_profiler.profiler import profile_incident
from shared.celery_app import make_app
from shared.contracts import Incident, QueryFinding, Specialist
from shared.runtime import Runtime
from shared.specialist_task import register_specialist
from shared.specialists import SPECIALISTS

app = make_app("query_profiler")


def _service(incident: Incident, runtime: Runtime) -> QueryFinding:
    return profile_incident(incident, runtime.settings)


profile_queries = register_specialist(app, spec=SPECIALISTS.get(Specialist.QUERY_PROFILER), service=_service)
