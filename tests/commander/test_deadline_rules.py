"""The chord, its errback and the deadline: rules that mutation testing (``make mutate
TARGET=deadline``) found unpinned, in the pytest process on real parts (a throwaway Redis as broker,
backend and store; the Slack-compatible server). What is sent is read off the broker's queues.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import redis
from celery import Celery
from pydantic import ValidationError

from commander.incidents import (
    Finished,
    findings_from_results,
    finish_incident,
    missing_as_unavailable,
    open_incident,
)
from commander.tasks import _after_finish, _deadline_remaining_s, dispatch_specialists
from shared.celery_app import TaskName, make_app
from shared.contracts import FindingStatus, Specialist, Trigger, dump, parse_finding
from shared.errors import InvalidTrigger
from shared.runtime import Runtime
from shared.specialists import SPECIALISTS
from tests.slack import cases
from tests.slack_server import SlackServer


@pytest.fixture
def app(runtime: Runtime) -> Iterator[Celery]:
    app = make_app("deadline-rules", settings=runtime.settings)
    yield app
    # Celery's Redis backend holds the AsyncResult of each chord it sent until its result arrives:
    # let them go while Redis still answers, or their __del__ reconnects after the server stopped.
    for waiting in app.backend._pending_results:
        waiting.clear()
    app.close()


def _sent(app: Celery, queue: str) -> list[tuple[dict[str, Any], list[Any]]]:
    """(headers, [args, kwargs, embed]) of each message waiting on ``queue``."""
    client = redis.Redis.from_url(app.conf.broker_url)
    messages = [json.loads(raw) for raw in client.lrange(queue, 0, -1)]
    return [(m["headers"], json.loads(base64.b64decode(m["body"]))) for m in messages]


def test_dispatch_sends_the_deadline_then_one_task_per_specialist_whose_chord_errback_reports_the_failure(
    runtime: Runtime, app: Celery
) -> None:
    incident = cases.incident()
    before_s = runtime.store.server_time_s()
    dispatch_specialists(app, incident, deadline_s=42, runtime=runtime)
    # The deadline: finalize_overdue for this incident, due deadline_s later
    [(deadline, (args, _, _))] = _sent(app, "commander")
    assert (deadline["task"], args) == (TaskName.FINALIZE_OVERDUE.value, [incident.incident_id])
    assert 41 < datetime.fromisoformat(deadline["eta"]).timestamp() - before_s < 43
    # The dispatch time, on Redis's clock
    dispatched_at = float(runtime.store.get_field(incident.incident_id, "dispatched_at") or 0)
    assert before_s <= dispatched_at <= runtime.store.server_time_s()
    # One task per specialist, on its queue, with the incident; compose_report is the chord's body
    # and report_chord_failure (immutable, the incident id) its errback
    for spec in SPECIALISTS:
        [(headers, (args, _, embed))] = _sent(app, spec.queue)
        assert headers["task"] == spec.task and args == [dump(incident)]
        body = embed["chord"]
        assert (body["task"], body["kwargs"]) == (TaskName.COMPOSE_REPORT.value, {"incident_id": incident.incident_id})
        [errback] = body["options"]["link_error"]
        assert (errback["task"], errback["args"], errback["immutable"]) == (
            TaskName.REPORT_CHORD_FAILURE.value,
            [incident.incident_id],
            True,
        )


def test_the_time_left_before_the_deadline_is_measured_on_redis_clock(runtime: Runtime) -> None:
    assert _deadline_remaining_s("INC-20240501-0001", 60, runtime=runtime) == 0.0  # never dispatched
    runtime.store.set_field("INC-20240501-0001", "dispatched_at", f"{runtime.store.server_time_s() - 10:.6f}")
    assert 49 < _deadline_remaining_s("INC-20240501-0001", 60, runtime=runtime) <= 50


def test_a_report_slack_did_not_take_is_queued_for_delivery_and_says_so(runtime: Runtime, app: Celery) -> None:
    report = cases.complete_report()
    shown = _after_finish(app, report.incident_id, Finished(report=report), runtime=runtime)
    assert shown == {"status": "complete", "incident_id": report.incident_id}
    # shown: only the durable history is written, by its own task, on its own queue
    assert _sent(app, "commander") == []
    [(headers, (args, _, _))] = _sent(app, "history")
    assert (headers["task"], args) == (TaskName.RECORD_HISTORY.value, [report.incident_id])
    queued = _after_finish(app, report.incident_id, Finished(report=report, undelivered="503"), runtime=runtime)
    assert queued == {"status": "complete, queued", "incident_id": report.incident_id}
    assert [headers["task"] for headers, _ in _sent(app, "commander")] == [TaskName.DELIVER.value]
    assert [headers["task"] for headers, _ in _sent(app, "history")] == [TaskName.RECORD_HISTORY.value] * 2


def test_every_registered_specialist_that_did_not_report_is_unavailable_with_the_reason() -> None:
    log = cases.log_finding()
    found = missing_as_unavailable({Specialist.LOG_ANALYZER: log}, "its worker died")
    assert list(found) == [spec.name for spec in SPECIALISTS]
    assert found[Specialist.LOG_ANALYZER] == log
    for name in (Specialist.QUERY_PROFILER, Specialist.OWNER_NOTIFIER):
        assert (found[name].status, found[name].summary) == (FindingStatus.UNAVAILABLE, "its worker died")


def test_the_chord_results_become_findings_by_specialist_and_anything_else_is_no_finding(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = cases.log_finding()
    assert findings_from_results([dump(log)]) == {Specialist.LOG_ANALYZER: log}
    assert findings_from_results(None) == {}
    # A malformed finding is dropped, and the log says every problem, up to 500 characters of them
    bad = {"specialist": "log_analyzer", "status": "bogus", "summary": 1, "evidence": [{"line": "x"}] * 20}
    with pytest.raises(ValidationError) as invalid:
        parse_finding(bad)
    problems = "; ".join(e["msg"] for e in invalid.value.errors())
    assert len(problems) > 500
    with caplog.at_level(logging.ERROR):
        assert findings_from_results([bad]) == {}
    [record] = caplog.records
    assert record.getMessage() == "dropped a malformed finding: " + problems[:500]


def test_one_report_is_composed_at_a_time_per_incident(runtime: Runtime) -> None:
    opened = open_incident(Trigger(dag_id="d", task_id="t", run_id="r"), runtime=runtime, task_id="task-1")
    assert opened.incident is not None
    incident_id = opened.incident.incident_id
    # Given another worker composing this incident's report (it holds the incident's report lock)
    held = runtime.store.lock(f"report:{incident_id}", timeout_s=30)
    assert held.acquire()
    finishing = threading.Thread(target=finish_incident, args=(incident_id, {}), kwargs={"runtime": runtime})
    finishing.start()
    # When a second composition starts, it waits: no report while the lock is held
    finishing.join(timeout=0.5)
    assert finishing.is_alive() and runtime.store.get_report(incident_id) is None
    # Then it goes on once the lock is released
    held.release()
    finishing.join(timeout=30)
    assert runtime.store.get_report(incident_id) is not None


def test_finishing_an_unknown_incident_says_it_is_unknown(runtime: Runtime) -> None:
    with pytest.raises(InvalidTrigger, match=r"^unknown incident INC-20990101-0001 \(expired or never opened\)$"):
        finish_incident("INC-20990101-0001", {}, runtime=runtime)


def test_a_finished_incident_records_when_it_was_reported_in_utc(runtime: Runtime) -> None:
    opened = open_incident(Trigger(dag_id="d", task_id="t", run_id="r"), runtime=runtime, task_id="task-1")
    assert opened.incident is not None
    finish_incident(opened.incident.incident_id, {}, runtime=runtime)
    reported_at = runtime.store.get_field(opened.incident.incident_id, "reported_at")
    assert reported_at is not None and datetime.fromisoformat(reported_at).utcoffset() is not None


def test_a_report_slack_refuses_for_good_is_recorded_as_the_report(runtime: Runtime, slack_api: SlackServer) -> None:
    opened = open_incident(Trigger(dag_id="d", task_id="t", run_id="r"), runtime=runtime, task_id="task-1")
    assert opened.incident is not None
    slack_api.fail_with("chat.update", error="channel_not_found")
    slack_api.fail_with("chat.postMessage", error="channel_not_found")
    finish_incident(opened.incident.incident_id, {}, runtime=runtime)
    assert f"report of {opened.incident.incident_id} refused by Slack" in [f["what"] for f in runtime.store.failures()]
