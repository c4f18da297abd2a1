"""Every retry policy of the project, in one table, and the one function that times a retry.

``RetryPolicy.countdown`` answers "how long until the next attempt?" or ``None`` ("give up"):
exponential back-off with jitter, never sooner than the error's Retry-After, never longer than
the policy's cap. Who applies it:

- ``commander.tasks.CommanderTask``: every commander task (COMMANDER; ``deliver``: SLACK_DELIVERY;
  ``record_history``: HISTORY);
- Celery itself after a lost worker: ``max_retries`` and ``default_retry_delay`` (WORKER_LOST);
  Celery retries a lost worker's task after a fixed delay, so that policy has no back-off.

The slack-sdk waits out a 429 in-process only when its Retry-After is at most
``SLACK_IN_PROCESS_WAIT_MAX_S`` (``shared.slack.ShortRateLimitRetryHandler``); a longer one
reaches the task as SlackRetryable(retry_after_s) and is waited here, as the countdown. The
client-side throttle of ``users.lookupByEmail`` (``TokenBucket``) stays in ``shared.slack``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, replace

from shared.errors import RetryableError

# 2 ** 32 s is far beyond any cap; bounding the exponent keeps an unbounded retry count finite.
_MAX_DOUBLINGS = 32


@dataclass(frozen=True)
class RetryPolicy:
    """When to try again: back-off ``base_s * 2 ** attempt``, jittered, at most ``max_s``.

    ``jitter`` scales each back-off by a uniform factor in ``[1 - jitter, 1 + jitter]`` (1.0 is
    "full jitter": anywhere between 0 and twice the back-off). The policy gives up once
    ``max_retries`` retries were made, or once ``give_up_after_s`` has passed (``None``: no bound).
    """

    base_s: float
    max_s: float
    jitter: float = 0.0
    max_retries: int | None = None
    give_up_after_s: float | None = None

    def __post_init__(self) -> None:
        if not 0 < self.base_s <= self.max_s:
            raise ValueError(f"need 0 < base_s <= max_s, got base_s={self.base_s}, max_s={self.max_s}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"jitter is a fraction in [0, 1], got {self.jitter}")
        if self.max_retries is not None and self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {self.max_retries}")

    def countdown(
        self,
        attempt: int,
        *,
        retry_after_s: float | None = None,
        elapsed_s: float = 0.0,
        rand: Callable[[], float] = random.random,
    ) -> float | None:
        """Seconds until the next attempt, or None: give up.

        ``attempt`` counts the retries made so far (Celery's ``request.retries``: 0 when the first
        run failed); ``elapsed_s`` is the time since the first attempt (for ``give_up_after_s``).
        The countdown is at least ``retry_after_s`` (the server said when) but at most ``max_s``:
        a longer wait ends in an attempt that is told to wait again. ``rand`` returns a float in
        [0, 1) (tests pass a constant).
        """
        if self.max_retries is not None and attempt >= self.max_retries:
            return None
        if self.give_up_after_s is not None and elapsed_s > self.give_up_after_s:
            return None
        factor = 1.0 + self.jitter * (2.0 * rand() - 1.0)
        backoff_s = self.base_s * 2.0 ** min(max(attempt, 0), _MAX_DOUBLINGS) * factor
        return min(self.max_s, max(backoff_s, retry_after_s or 0.0))

    def until(self, horizon_s: float) -> RetryPolicy:
        """This policy, giving up in time for its last countdown to end before ``horizon_s``
        (measured like ``elapsed_s``): past it, the state the next attempt needs is gone."""
        limit_s = horizon_s - self.max_s
        give_up_s = limit_s if self.give_up_after_s is None else min(self.give_up_after_s, limit_s)
        return replace(self, give_up_after_s=give_up_s)


def retry_after_s(exc: BaseException) -> float | None:
    """The wait the failing side asked for (Slack's Retry-After, a lock's remaining time), if any."""
    return exc.retry_after_s if isinstance(exc, RetryableError) else None


# The policies, each with why it is what it is. Countdowns sit un-acked in a worker, so every
# cap stays far below the broker's 300 s visibility timeout (shared.celery_app).
#
# COMMANDER: triage, compose_report, report_chord_failure, finalize_overdue on a Redis hiccup
# (or any RetryableError that reaches them). Full jitter, uniform in [0, 2 ** attempt] s as
# Celery's retry_backoff=1 + retry_jitter gave before; 6 retries span about half a minute on average.
COMMANDER = RetryPolicy(base_s=0.5, max_s=30.0, jitter=1.0, max_retries=6)
# SLACK_DELIVERY: ``deliver``, the incident's top-level message that Slack did not take yet. A
# Slack outage can last hours and the report must still be posted once, so it is bounded by
# time (6 h after the incident opened, and never past the incident's TTL: ``until``), not by a
# count; back-off 1, 2, 4 ... 60 s, +-20 % so that many incidents do not come back in step.
SLACK_DELIVERY = RetryPolicy(base_s=1.0, max_s=60.0, jitter=0.2, give_up_after_s=6 * 3600.0)
# HISTORY: ``record_history`` while the incident database is down. It runs on its own queue and
# worker (``history``), so its waits delay only the history, never a triage; each attempt is bounded
# by the database's timeouts (2 s to connect, 5 s a statement). 1 + 5 attempts over about 2.5 minutes
# (5, 10, 20, 40, 80 s, +-20 %), then given up and recorded in ``failures``: an outage longer than that
# leaves the incidents of its first minutes out of the history (visible, not silent).
HISTORY = RetryPolicy(base_s=5.0, max_s=80.0, jitter=0.2, max_retries=5)
# WORKER_LOST: a specialist whose worker died (SIGKILL, OOM, the hard time limit) runs at most
# 1 + 2 times, 1 s apart, then the chord's errback reports it; Celery applies it (max_retries,
# default_retry_delay), with a fixed delay. Commander tasks use its delay too (Celery's default
# after a lost worker is 180 s) and COMMANDER's count, which Celery shares with their retries.
WORKER_LOST = RetryPolicy(base_s=1.0, max_s=1.0, max_retries=2)
# The longest 429 the slack-sdk may sleep through inside a call (holding a lock and a worker);
# Slack's usual Retry-After for chat.postMessage bursts is 1 s. Longer ones go to the task's policy.
SLACK_IN_PROCESS_WAIT_MAX_S = 2.0
# Reads (users.lookupByEmail from the owner notifier) hold no lock and have no task-level retry:
# they may wait longer, within the specialist's soft time limit (20 s by default).
SLACK_READ_WAIT_MAX_S = 10.0
