"""The Airflow REST API log source against a local HTTP server answering as Airflow 3.3 does.

The body is the real Airflow 3 task log from tests/fixtures/airflow, wrapped the way
``GET /api/v2/dags/{dag}/dagRuns/{run}/taskInstances/{task}/logs/{try}`` returns it
(``{"content": [records…], "continuation_token": null}``).
"""

from __future__ import annotations

import json
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from log_analyzer.incident import analyze_incident
from shared.contracts import FindingStatus, Incident, Trigger
from shared.settings import load_settings

FIXTURE = next(
    Path(__file__)
    .parents[1]
    .glob("fixtures/airflow/logs/airflow3/dag_id=pic_python_exception/*/task_id=enrich_orders/attempt=1.log")
)
RUN_ID = FIXTURE.parts[-3].removeprefix("run_id=")


class AirflowApi:
    def __init__(self, *, truncate: bool = False) -> None:
        self.requests: list[tuple[str, str | None]] = []
        records = [json.loads(line) for line in FIXTURE.read_text().splitlines() if line.strip()]
        body = json.dumps({"content": records, "continuation_token": None}).encode()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                api.requests.append((self.path, self.headers.get("Authorization")))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                # a connection that dies mid-body, as a proxy time-out does
                self.wfile.write(body[: len(body) // 2] if truncate else body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"


@pytest.fixture
def api() -> Iterator[AirflowApi]:
    server = AirflowApi()
    yield server
    server.server.shutdown()


def _incident() -> Incident:
    trigger = Trigger(dag_id="pic_python_exception", task_id="enrich_orders", run_id=RUN_ID, try_number=1)
    return Incident(incident_id="INC-20261123-0001", trigger=trigger, channel="C1")


def test_the_task_log_is_read_over_the_api_with_a_bearer_token(api: AirflowApi) -> None:
    settings = load_settings(AIRFLOW_API_URL=api.url, AIRFLOW_API_TOKEN="jwt-abc")
    finding = analyze_incident(_incident(), settings)

    assert finding.status is FindingStatus.OK, finding.summary
    assert finding.details.error_class == "code_error"
    assert "customer_id" in finding.summary
    [(path, auth)] = api.requests
    assert path.startswith("/api/v2/dags/pic_python_exception/dagRuns/")
    assert "/taskInstances/enrich_orders/logs/1?full_content=true" in path
    assert auth == "Bearer jwt-abc"


def test_a_body_cut_short_leaves_no_temp_file_behind() -> None:
    api = AirflowApi(truncate=True)
    before = set(Path(tempfile.gettempdir()).glob("*.log"))
    try:
        finding = analyze_incident(_incident(), load_settings(AIRFLOW_API_URL=api.url, AIRFLOW_API_TOKEN="t"))
    finally:
        api.server.shutdown()
    assert finding.status is FindingStatus.UNAVAILABLE
    assert set(Path(tempfile.gettempdir()).glob("*.log")) - before == set()
