"""Several real worker processes sharing one Slack budget in a real Redis, against the Slack test
server enforcing Slack's published limits (chat.postMessage: 1 a second per channel, short bursts).

Counts and order only, never durations: how many 429s the server gave, which messages exist,
each process's messages in the order it posted them. Bounded: a few posts at Slack's real rate
(about ten seconds), loopback only.
"""

from __future__ import annotations

import multiprocessing
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from incident_cli.stack import RedisServer
from shared.slack_budget import SlackBudget
from tests.slack.budget_workers import Job, post_in_turn
from tests.slack_server import SlackServer

pytestmark = pytest.mark.integration
POST = "chat.postMessage"
PROCESSES = 3
POSTS_EACH = 4
# Our budget spends bursts of 2 of the server's 3 (shared.slack_budget.SLACK_RATES): one turn of
# slack for a request that reaches the server late. A loaded machine may still lose one race.
FEW = 1


@pytest.fixture
def limited() -> Iterator[SlackServer]:
    with SlackServer(enforce_limits=True) as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    return f"{redis_server.url}/{2 + uuid.uuid4().int % 12}"


def _start(jobs: list[Job]) -> tuple[list[multiprocessing.process.BaseProcess], Any, Any]:
    ctx = multiprocessing.get_context("spawn")
    go, results = ctx.Event(), ctx.Queue()
    processes = [ctx.Process(target=post_in_turn, args=(job, go, results), name=job.name) for job in jobs]
    for process in processes:
        process.start()
    return processes, go, results


def _collect(processes: list[multiprocessing.process.BaseProcess], results: Any) -> dict[str, tuple[list[str], int]]:
    out: dict[str, tuple[list[str], int]] = {}
    try:
        for _ in processes:
            name, posted, retries, error = results.get(timeout=90)
            assert error is None, f"{name} failed:\n{error}"
            out[name] = (posted, retries)
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
    return out


def _jobs(slack: SlackServer, redis_url: str, prefix: str, names: list[str], posts: int) -> list[Job]:
    channel = slack.channel_id("#incidents")
    return [
        Job(name, slack.base_url, slack.token, redis_url, prefix, channel, [f"{name}-{i}" for i in range(posts)])
        for name in names
    ]


def test_posts_from_three_processes_take_turns_all_posted_none_dropped(limited: SlackServer, redis_url: str) -> None:
    # Given three worker processes, each with four posts for one channel, and one budget between them
    names = [f"worker{i}" for i in range(PROCESSES)]
    processes, go, results = _start(_jobs(limited, redis_url, f"test:{uuid.uuid4().hex}", names, POSTS_EACH))
    # When they all start at once
    go.set()
    done = _collect(processes, results)
    # Then Slack said 429 at most once, every post exists exactly once, and in each worker's order
    assert limited.rate_limited_count(POST) <= FEW
    texts = [m["text"] for m in limited.top_level_messages("#incidents")]
    assert sorted(texts) == sorted(f"{n}-{i}" for n in names for i in range(POSTS_EACH))
    for name in names:
        assert [t for t in texts if t.startswith(f"{name}-")] == [f"{name}-{i}" for i in range(POSTS_EACH)]
        assert done[name][0] == [f"{name}-{i}" for i in range(POSTS_EACH)]


def test_a_429_from_slack_pauses_every_process(limited: SlackServer, redis_url: str) -> None:
    # Given Slack answering the next post 429 with Retry-After: 2 (and refusing every post until then)
    prefix = f"test:{uuid.uuid4().hex}"
    channel = limited.channel_id("#incidents")
    budget = SlackBudget.from_url(redis_url, prefix=prefix)
    limited.rate_limit(POST, retry_after_s=2)
    first_jobs = _jobs(limited, redis_url, prefix, ["first"], 1)
    others_jobs = _jobs(limited, redis_url, prefix, ["second", "third"], 2)
    first, go_first, first_results = _start(first_jobs)
    others, go_others, others_results = _start(others_jobs)
    # When one process is answered 429, and the other two start posting after that
    go_first.set()
    deadline = time.monotonic() + 30
    while budget.blocked_until(POST, channel) is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert budget.blocked_until(POST, channel) is not None, "the 429 was never shared"
    go_others.set()
    _collect(first, first_results)
    _collect(others, others_results)
    # Then that was the only 429: nobody called Slack before the Retry-After was over; all posted once
    assert limited.rate_limited_count(POST) == 1
    texts = sorted(m["text"] for m in limited.top_level_messages("#incidents"))
    assert texts == ["first-0", "second-0", "second-1", "third-0", "third-1"]
    statuses = [c.status for c in limited.calls(POST)]
    assert statuses[0] == 429 and statuses[1:] == [200] * 5
