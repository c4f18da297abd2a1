"""The one retry policy: pure tests of ``RetryPolicy.countdown``, then the commander's tasks applying it.

The task tests use real parts: a throwaway Redis as broker, result backend and incident store,
the real slack-sdk client against the Slack-compatible server (429 with Retry-After), and Celery's
own worker tracer (not eager mode, which runs retries inline and hides them). A retry is seen as
Celery publishes it: a message on the commander's queue with its ETA and retry count.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from celery import Celery, Task
from celery.app.trace import build_tracer
from celery.exceptions import Retry
from slack_sdk import WebClient

from commander.tasks import RETRY_OPTIONS, register_commander
from incident_cli.stack import RedisServer
from shared.celery_app import TaskName, make_app
from shared.contracts import Incident, Trigger
from shared.errors import SlackPermanent, SlackRetryable
from shared.retry_policy import COMMANDER, SLACK_DELIVERY, WORKER_LOST, RetryPolicy, retry_after_s
from shared.runtime import get_runtime, reset_runtime
from shared.settings import get_settings
from shared.slack import SlackSink
from tests.slack_server import SlackServer

LOW: Callable[[], float] = lambda: 0.0  # noqa: E731 - the jitter's lowest draw
MID: Callable[[], float] = lambda: 0.5  # noqa: E731 - no jitter
HIGH: Callable[[], float] = lambda: 1.0  # noqa: E731 - the jitter's supremum (random() < 1)
POLICIES = {"COMMANDER": COMMANDER, "SLACK_DELIVERY": SLACK_DELIVERY, "WORKER_LOST": WORKER_LOST}


# ---- the policy, pure ------------------------------------------------------------------------
@pytest.mark.parametrize("policy", POLICIES.values(), ids=POLICIES.keys())
def test_attempt_0_is_the_first_retry_and_each_attempt_doubles_the_backoff_up_to_the_cap(policy: RetryPolicy) -> None:
    assert [policy.countdown(n, rand=MID) for n in range(2)] == [
        min(policy.max_s, policy.base_s),
        min(policy.max_s, 2 * policy.base_s),
    ]
    assert policy.countdown(10_000, rand=HIGH) in (policy.max_s, None)  # no overflow on a long run


def test_retry_after_wins_over_a_shorter_backoff() -> None:
    assert COMMANDER.countdown(0, retry_after_s=30, rand=HIGH) == 30
    assert SLACK_DELIVERY.countdown(0, retry_after_s=30, rand=HIGH) == 30
    assert SLACK_DELIVERY.countdown(3, retry_after_s=1, rand=MID) == 8  # the backoff, when it is longer


def test_the_cap_bounds_the_backoff_and_retry_after_alike() -> None:
    assert SLACK_DELIVERY.countdown(20, rand=HIGH) == 60
    assert SLACK_DELIVERY.countdown(0, retry_after_s=600, rand=LOW) == 60  # then Slack says "wait" again
    assert COMMANDER.countdown(5, retry_after_s=120, rand=HIGH) == 30


@pytest.mark.parametrize("policy", POLICIES.values(), ids=POLICIES.keys())
@pytest.mark.parametrize("attempt", [0, 1, 3])
def test_jitter_stays_within_its_bounds(policy: RetryPolicy, attempt: int) -> None:
    backoff_s = policy.base_s * 2**attempt
    low_s, high_s = backoff_s * (1 - policy.jitter), min(policy.max_s, backoff_s * (1 + policy.jitter))
    if policy.max_retries is not None and attempt >= policy.max_retries:
        return
    assert policy.countdown(attempt, rand=LOW) == pytest.approx(min(policy.max_s, low_s))
    assert policy.countdown(attempt, rand=HIGH) == pytest.approx(high_s)
    drawn = [policy.countdown(attempt) for _ in range(500)]
    assert all(d is not None and min(policy.max_s, low_s) <= d <= high_s for d in drawn)


def test_full_jitter_spreads_commander_retries_from_zero_to_twice_the_backoff() -> None:
    # As Celery's retry_backoff=1 + retry_jitter did: uniform in [0, 2 ** attempt] s.
    assert [COMMANDER.countdown(n, rand=LOW) for n in range(3)] == [0, 0, 0]
    assert [COMMANDER.countdown(n, rand=HIGH) for n in range(3)] == [1, 2, 4]


def test_a_count_bound_gives_up_after_max_retries() -> None:
    assert COMMANDER.countdown(COMMANDER.max_retries - 1) is not None  # type: ignore[operator]
    assert COMMANDER.countdown(COMMANDER.max_retries, retry_after_s=1) is None  # type: ignore[arg-type]
    assert [WORKER_LOST.countdown(n) for n in range(3)] == [1.0, 1.0, None]  # a fixed 1 s, three runs in all


def test_a_time_bound_gives_up_after_give_up_after_s_and_before_the_state_expires() -> None:
    ttl_s = 86_400
    policy = SLACK_DELIVERY.until(ttl_s)
    assert policy.countdown(5, elapsed_s=6 * 3600) is not None
    assert policy.countdown(5, elapsed_s=6 * 3600 + 1) is None
    assert policy.countdown(10_000, elapsed_s=1) == 60  # no count bound: Slack may be down for hours
    short = SLACK_DELIVERY.until(600)  # the incident's state expires first: the last wait ends before it
    assert short.countdown(5, elapsed_s=600 - 60) is not None
    assert short.countdown(5, elapsed_s=600 - 59) is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"base_s": 0, "max_s": 1},
        {"base_s": 2, "max_s": 1},
        {"base_s": 1, "max_s": 2, "jitter": 1.5},
        {"base_s": 1, "max_s": 2, "max_retries": -1},
    ],
)
def test_a_policy_that_makes_no_sense_is_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)


# ---- real parts: the Slack answer, the commander's tasks ------------------------------------
def test_slacks_retry_after_becomes_the_countdown(slack_api: SlackServer) -> None:
    # Given Slack answers 429 with Retry-After: 30 (the client without the SDK's in-process retries)
    slack_api.rate_limit("chat.postMessage", retry_after_s=30)
    client = WebClient(token=slack_api.token, base_url=slack_api.base_url, timeout=5, retry_handlers=[])
    with pytest.raises(SlackRetryable) as caught:
        SlackSink(client).post(channel="#incidents", text="hello")
    # Then every retry the commander would make waits the 30 s (Celery's autoretry waited 0-1 s at first)
    assert retry_after_s(caught.value) == 30
    assert {COMMANDER.countdown(n, retry_after_s=retry_after_s(caught.value)) for n in range(6)} == {30}
    assert SLACK_DELIVERY.countdown(0, retry_after_s=retry_after_s(caught.value)) == 30


@dataclass(frozen=True)
class Worker:
    app: Celery  # the commander's tasks registered, plus ``post``
    post: Task  # a commander task (the commander's base and options) whose body is a real Slack post
    slack: SlackServer


@pytest.fixture(scope="module")
def commander_worker(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    """This process configured as a commander worker is (environment variables), with its app.

    One app for the module: Celery registers a task on every app made after it (shared tasks)."""
    with SlackServer() as slack, pytest.MonkeyPatch.context() as env:
        env.setenv("CELERY_BROKER_URL", f"{redis_server.url}/14")
        env.setenv("CELERY_RESULT_BACKEND", f"{redis_server.url}/15")
        env.setenv("SLACK_BOT_TOKEN", slack.token)
        env.setenv("SLACK_API_URL", slack.base_url)
        env.setenv("SLACK_TIMEOUT_S", "2")
        env.setenv("INCIDENT_OUTBOX", str(tmp_path_factory.mktemp("retry") / "outbox.jsonl"))
        get_settings.cache_clear()
        reset_runtime()
        app = make_app("retry-policy-test")
        register_commander(app)
        client = WebClient(token=slack.token, base_url=slack.base_url, timeout=5, retry_handlers=[])

        @app.task(name="pic.commander.test_post", bind=True, shared=False, **RETRY_OPTIONS)
        def post(self: Task, text: str) -> str:
            return SlackSink(client).post(channel="#incidents", text=text).ts

        yield Worker(app=app, post=post, slack=slack)
    get_settings.cache_clear()
    reset_runtime()


@pytest.fixture
def worker(commander_worker: Worker) -> Worker:
    """The module's worker, with empty Redis databases and a Slack without messages or faults."""
    for url in (commander_worker.app.conf.broker_url, commander_worker.app.conf.result_backend):
        redis.Redis.from_url(url).flushdb()
    commander_worker.slack.reset()
    return commander_worker


def _run_as_a_worker(task: Task, task_id: str, args: list[Any], *, retries: int) -> tuple[str, Any]:
    """Run ``task`` the way a worker does (Celery's tracer, not eager): the state the result
    backend recorded, and what the run returned or raised."""
    traced = build_tracer(task.name, task, app=task.app, eager=False)(
        task_id, args, {}, {"id": task_id, "retries": retries, "delivery_info": {}}
    )
    return task.AsyncResult(task_id).state, traced.retval if traced.info is None else traced.info.retval


def _queued(app: Celery) -> list[dict[str, Any]]:
    """The headers of the messages waiting on the commander's queue (a retry is one)."""
    conn = redis.Redis.from_url(app.conf.broker_url)
    return [json.loads(raw)["headers"] for raw in conn.lrange(app.conf.task_default_queue, 0, -1)]


def test_a_commander_task_waits_slacks_retry_after_then_gives_up_and_records_it(worker: Worker) -> None:
    # Given Slack answers 429 with Retry-After: 30
    worker.slack.rate_limit("chat.postMessage", times=2, retry_after_s=30)
    # When a commander task's first run is rate-limited
    before_s = datetime.now(UTC).timestamp()
    state, outcome = _run_as_a_worker(worker.post, "task-1", ["hello"], retries=0)
    after_s = datetime.now(UTC).timestamp()
    # Then it publishes its retry for 30 s later (Celery's autoretry said 0-1 s), as the first retry
    assert state == "RETRY" and isinstance(outcome, Retry) and outcome.when == 30
    [retry] = _queued(worker.app)
    assert (retry["id"], retry["task"], retry["retries"]) == ("task-1", "pic.commander.test_post", 1)
    assert before_s + 30 <= datetime.fromisoformat(retry["eta"]).timestamp() <= after_s + 30
    # When the last run the policy allows is rate-limited too
    state, outcome = _run_as_a_worker(worker.post, "task-1", ["hello"], retries=COMMANDER.max_retries or 0)
    # Then it fails for good, nothing more is queued, and an operator sees why
    assert state == "FAILURE" and isinstance(outcome, SlackRetryable)
    assert len(_queued(worker.app)) == 1
    [failure] = get_runtime().store.failures()
    assert failure["what"] == "pic.commander.test_post failed" and "429" in failure["reason"]
    assert worker.slack.top_level_messages("#incidents") == []


def test_a_commander_task_does_not_retry_a_permanent_error(worker: Worker) -> None:
    worker.slack.fail_with("chat.postMessage", "channel_not_found")
    state, outcome = _run_as_a_worker(worker.post, "task-2", ["hello"], retries=0)
    assert state == "FAILURE" and isinstance(outcome, SlackPermanent)
    assert _queued(worker.app) == []
    assert "channel_not_found" in get_runtime().store.failures()[0]["reason"]


def _incident(*, opened_at: datetime) -> Incident:
    trigger = Trigger(dag_id="hourly_marts", task_id="dbt_build_marts", run_id="manual__1", model="fct_orders")
    incident = Incident(incident_id="INC-20261123-0001", trigger=trigger, channel="#incidents", opened_at=opened_at)
    get_runtime().store.save_incident(incident)
    return incident


def test_deliver_waits_slacks_retry_after_and_stays_the_one_delivery_scheduled(worker: Worker) -> None:
    deliver = worker.app.tasks[TaskName.DELIVER.value]
    incident = _incident(opened_at=datetime.now(UTC))
    # Given Slack rate-limits twice with Retry-After: 2 (the production client waits out the first itself)
    worker.slack.rate_limit("chat.postMessage", times=2, retry_after_s=2)
    state, outcome = _run_as_a_worker(deliver, "deliver-1", [incident.incident_id], retries=0)
    # Then deliver retries in 2 s (its back-off alone says ~1 s) and stays the one delivery on its way
    assert state == "RETRY" and isinstance(outcome, Retry) and outcome.when == 2
    [retry] = _queued(worker.app)
    assert (retry["id"], retry["retries"]) == ("deliver-1", 1)
    assert not get_runtime().store.once(f"{incident.incident_id}:delivery")  # claimed by this retry
    assert worker.slack.top_level_messages("#incidents") == []


def test_deliver_gives_up_once_the_incident_is_too_old_and_records_it(worker: Worker) -> None:
    deliver = worker.app.tasks[TaskName.DELIVER.value]
    incident = _incident(opened_at=datetime.now(UTC) - timedelta(hours=7))
    worker.slack.outage(60)
    state, outcome = _run_as_a_worker(deliver, "deliver-2", [incident.incident_id], retries=40)
    assert state == "SUCCESS" and outcome["status"] == "gave up"
    assert _queued(worker.app) == []
    assert "not delivered" in get_runtime().store.failures()[0]["what"]
