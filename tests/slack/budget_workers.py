"""What a worker process does in the shared-budget tests: post through the production sink, in turn.

Run in separate processes (multiprocessing, spawn): each builds its own settings, Redis connection
and SlackSink as a worker does (``make_sink(settings, budget=...)``), waits for ``go``, then posts
``texts`` in order. A SlackRetryable (the budget's "come back later", or a 429 it could not wait
out) is what a Celery task retries: here the process sleeps the error's ``retry_after_s`` and
tries again, a bounded number of times, so that nothing is dropped silently.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from shared.errors import SlackRetryable
from shared.settings import load_settings
from shared.slack import make_sink
from shared.slack_budget import SlackBudget

MAX_TASK_RETRIES = 20
MAX_RETRY_WAIT_S = 5.0


@dataclass
class Job:
    name: str
    slack_url: str
    token: str
    redis_url: str
    prefix: str
    channel: str
    texts: list[str]
    max_wait_s: float = 10.0
    extra: dict[str, Any] = field(default_factory=dict)


def post_in_turn(job: Job, go: Any, results: Any) -> None:
    """Post ``job.texts`` once ``go`` is set; put ``(name, posted, task_retries, error)`` on ``results``."""
    posted: list[str] = []
    retries = 0
    try:
        settings = load_settings(slack_bot_token=job.token, slack_api_url=job.slack_url, slack_timeout_s=5)
        sink = make_sink(
            settings, budget=SlackBudget.from_url(job.redis_url, prefix=job.prefix), max_wait_s=job.max_wait_s
        )
        if not go.wait(60):
            raise TimeoutError("never told to go")
        for text in job.texts:
            for _ in range(MAX_TASK_RETRIES):
                try:
                    sink.post(channel=job.channel, text=text)
                    posted.append(text)
                    break
                except SlackRetryable as exc:  # Celery would retry the task after retry_after_s
                    retries += 1
                    time.sleep(min(exc.retry_after_s or 1.0, MAX_RETRY_WAIT_S))
        results.put((job.name, posted, retries, None))
    except Exception:
        results.put((job.name, posted, retries, traceback.format_exc()))
