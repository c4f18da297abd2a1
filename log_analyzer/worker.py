"""The log analyzer's worker: ``celery -A log_analyzer.worker worker -Q log_analyzer``."""

import shared.worker_boot  # noqa: F401  (signal handlers)
from log_analyzer.incident import analyze_incident
from shared.celery_app import make_app
from shared.contracts import Incident, LogFinding, Specialist
from shared.runtime import Runtime
from shared.specialist_task import register_specialist
from shared.specialists import SPECIALISTS

app = make_app("log_analyzer")


def _service(incident: Incident, runtime: Runtime) -> LogFinding:
    return analyze_incident(incident, runtime.settings)


analyze_logs = register_specialist(app, spec=SPECIALISTS.get(Specialist.LOG_ANALYZER), service=_service)
