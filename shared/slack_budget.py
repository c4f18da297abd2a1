"""One Slack rate budget per method (and per channel for ``chat.postMessage``), in Redis, for every worker.

Slack's limits are per app and workspace, not per process: a per-process throttle lets N workers
send N times the rate, and each then learns of a 429 on its own (40 incidents once took 130 s and
316 answers 429). Here every call first takes its turn from one budget that all processes share:

- **GCRA** (the generic cell rate algorithm, a token bucket written as one timestamp): a budget
  of ``per_s`` calls a second with bursts of ``burst`` keeps the *theoretical arrival time* ``tat``
  of the next call. A call may go at ``tat - (burst - 1) / per_s``; taking a turn moves ``tat`` on
  by ``1 / per_s``. One Lua script reads and moves it atomically, on Redis's clock (``TIME``), so
  the workers' own clocks do not matter. A turn is *reserved*: callers queue behind each other and
  sleep until their turn instead of polling.
- **max_wait_s**: a turn further away than that is not taken (nothing is reserved) and
  ``SlackRetryable(retry_after_s=<the wait>)`` is raised, so a Celery task retries later instead of
  holding a worker slot (and maybe the incident's lock) while it sleeps.
- **blocked until**: when Slack answers 429 anyway (another app, a limit we do not know), the
  caller records ``Retry-After`` with ``penalize``; every process's next turn is then after it,
  and a caller already asleep for a turn that falls inside the block takes a new turn when it wakes.
- **Redis down**: the budget is skipped with a warning (fail open); Slack's own 429s still stop us.

The rates are in one table, ``SLACK_RATES``, with where Slack publishes each. Build a budget with
``SlackBudget.from_url`` (or ``shared.slack.make_budget(settings)``), never at import.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import redis

from shared.errors import SlackRetryable
from shared.incident_store import _redis_py_url

log = logging.getLogger(__name__)

KEY_PREFIX = "pic:slack:budget"
# Idle buckets expire this long after their last turn or block ends (nothing else to clean up).
IDLE_TTL_S = 60.0
# When Slack answers 429 without a usable Retry-After.
DEFAULT_PENALTY_S = 1.0
# The budget is on every Slack call's path: a Redis that does not answer is skipped quickly.
REDIS_TIMEOUT_S = 1.0
# Channel names resolved to ids, shared by the workers, are forgotten after a day without a new one.
CHANNEL_IDS_TTL_S = 86_400


@dataclass(frozen=True)
class Rate:
    """``per_s`` calls a second, ``burst`` at once; ``per_channel``: one budget per channel."""

    per_s: float
    burst: int
    per_channel: bool = False
    source: str = ""

    def __post_init__(self) -> None:
        if self.per_s <= 0 or self.burst < 1:
            raise ValueError(f"need per_s > 0 and burst >= 1, got per_s={self.per_s}, burst={self.burst}")

    @property
    def interval_s(self) -> float:
        return 1.0 / self.per_s

    @property
    def tolerance_s(self) -> float:
        """How far ahead of ``tat`` a call may go: the burst, in time."""
        return (self.burst - 1) * self.interval_s


_RATE_LIMITS_DOC = "https://api.slack.com/docs/rate-limits"
_TIER_2 = Rate(per_s=20 / 60, burst=2, source=f"Tier 2, 20+ per minute: {_RATE_LIMITS_DOC}")
_TIER_3 = Rate(per_s=50 / 60, burst=5, source=f"Tier 3, 50+ per minute: {_RATE_LIMITS_DOC}")

# The one policy table: every Slack method the project calls. Slack publishes the floor of each
# tier ("50+ per minute") and only "short bursts" without a size, so the bursts stay small; a
# method that is not here has no budget. Limits are per app and workspace; chat.postMessage's
# is also per channel.
SLACK_RATES: Mapping[str, Rate] = MappingProxyType(
    {
        # https://api.slack.com/methods/chat.postMessage "Rate limits: Special":
        # "1 per second per channel with short bursts" (beside a workspace-wide limit, far higher).
        "chat.postMessage": Rate(
            per_s=1.0,
            burst=2,
            per_channel=True,
            source="Special, 1 per second per channel: https://api.slack.com/methods/chat.postMessage",
        ),
        "chat.update": _TIER_3,  # https://api.slack.com/methods/chat.update
        "users.lookupByEmail": _TIER_3,  # https://api.slack.com/methods/users.lookupByEmail: Tier 3
        "conversations.history": _TIER_3,  # https://api.slack.com/methods/conversations.history
        "conversations.replies": _TIER_3,  # https://api.slack.com/methods/conversations.replies
        "conversations.list": _TIER_2,  # https://api.slack.com/methods/conversations.list
    }
)

# KEYS[1] the bucket (a hash: tat, blocked; microseconds on Redis's clock).
# ARGV: interval, tolerance, max_wait (microseconds), at ("" = Redis TIME; tests pass a time), idle ttl (ms).
# Returns {granted 0/1, wait_us, start_us}: the turn starts at start_us, wait_us after now.
_RESERVE = """
local now
if ARGV[4] ~= '' then
  now = tonumber(ARGV[4])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local interval, tolerance, max_wait = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tat', 'blocked')
local tat = math.max(tonumber(state[1]) or now, now)
local blocked = tonumber(state[2]) or 0
if blocked > tat - tolerance then
  tat = blocked + tolerance  -- after a 429: the first call at the block's end, then 1 per interval
end
local start = tat - tolerance
local wait = math.max(0, start - now)
if wait > max_wait then
  return {0, string.format('%.0f', wait), string.format('%.0f', start)}
end
tat = tat + interval
redis.call('HSET', KEYS[1], 'tat', string.format('%.0f', tat))
redis.call('PEXPIRE', KEYS[1], math.ceil((math.max(tat, blocked) - now) / 1000) + tonumber(ARGV[5]))
return {1, string.format('%.0f', wait), string.format('%.0f', start)}
"""

# KEYS[1] the bucket; ARGV: retry_after (microseconds), at ("" = Redis TIME), idle ttl (ms).
# Returns the bucket's blocked-until (microseconds).
_PENALIZE = """
local now
if ARGV[2] ~= '' then
  now = tonumber(ARGV[2])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local state = redis.call('HMGET', KEYS[1], 'tat', 'blocked')
local blocked = math.max(tonumber(state[2]) or 0, now + tonumber(ARGV[1]))
redis.call('HSET', KEYS[1], 'blocked', string.format('%.0f', blocked))
local last = math.max(tonumber(state[1]) or 0, blocked)
redis.call('PEXPIRE', KEYS[1], math.ceil((last - now) / 1000) + tonumber(ARGV[3]))
return string.format('%.0f', blocked)
"""

_US = 1_000_000
# A max_wait_s no turn is further away than: ``charge`` always takes one.
_ALWAYS_S = 86_400.0


@dataclass(frozen=True)
class Turn:
    """A reservation: ``granted`` (else nothing was reserved), ``wait_s`` until ``start_s`` (Redis time)."""

    granted: bool
    wait_s: float
    start_s: float


class SlackBudget:
    """The shared budget. ``acquire`` before every Slack call; ``penalize`` after every 429."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        rates: Mapping[str, Rate] = SLACK_RATES,
        prefix: str = KEY_PREFIX,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._r = client
        self._rates = rates
        self._prefix = prefix
        self._sleep = sleep
        self._reserve = client.register_script(_RESERVE)
        self._penalize = client.register_script(_PENALIZE)

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> SlackBudget:
        """A budget on the Redis at ``url`` (the incident state's: ``Settings.state_redis_url``)."""
        client = redis.Redis.from_url(
            _redis_py_url(url),
            socket_connect_timeout=REDIS_TIMEOUT_S,
            socket_timeout=REDIS_TIMEOUT_S,
            decode_responses=True,
        )
        return cls(client, **kwargs)

    def key(self, method: str, channel: str | None = None) -> str:
        """The Redis key of the budget ``method`` (and ``channel``, for per-channel methods) draws from."""
        rate = self._rates.get(method)
        if rate is not None and rate.per_channel:
            return f"{self._prefix}:{method}:{channel or '-'}"
        return f"{self._prefix}:{method}"

    # -- taking a turn ------------------------------------------------------------------------
    def reserve(self, method: str, channel: str | None = None, *, max_wait_s: float, at_s: float | None = None) -> Turn:
        """Reserve the next turn unless it is more than ``max_wait_s`` away; never sleeps.

        ``at_s`` replaces Redis's clock (tests); Redis errors propagate.
        """
        rate = self._rates.get(method)
        if rate is None:
            return Turn(granted=True, wait_s=0.0, start_s=at_s or 0.0)
        granted, wait_us, start_us = self._reserve(
            keys=[self.key(method, channel)],
            args=[
                math.ceil(rate.interval_s * _US),  # never faster than the rate
                _us(rate.tolerance_s),
                _us(max(0.0, max_wait_s)),
                "" if at_s is None else _us(at_s),
                int(IDLE_TTL_S * 1000),
            ],
        )
        return Turn(granted=bool(int(granted)), wait_s=int(wait_us) / _US, start_s=int(start_us) / _US)

    def acquire(self, method: str, channel: str | None = None, *, max_wait_s: float) -> float:
        """Wait for this call's turn (sleeping here) and return how long that was.

        Raises SlackRetryable(retry_after_s=<the wait>) when the turn is more than ``max_wait_s``
        away: nothing is reserved, and the task is expected to come back after that long.
        """
        if method not in self._rates:
            return 0.0
        waited = 0.0
        while True:
            try:
                turn = self.reserve(method, channel, max_wait_s=max_wait_s - waited)
            except redis.RedisError as exc:
                log.warning("Slack budget unavailable, %s goes unbudgeted: %s", method, exc)
                return waited
            if not turn.granted:
                where = f" in {channel}" if channel and self._rates[method].per_channel else ""
                raise SlackRetryable(
                    f"{method}{where}: the shared Slack budget's next turn is in {turn.wait_s:.1f} s",
                    retry_after_s=turn.wait_s,
                )
            if turn.wait_s <= 0:
                return waited
            self._sleep(turn.wait_s)
            waited += turn.wait_s
            blocked = self._blocked_us(method, channel)
            if blocked is None or blocked <= round(turn.start_s * _US):
                return waited
            # Slack answered someone 429 while we slept, with a block that covers our turn: take a new one.

    def charge(self, method: str, channel: str | None = None) -> None:
        """Count a call already made against ``method``'s budget (in ``channel``), without waiting.

        For a post made by channel *name* before anyone knew the id: its turn came from the name's
        budget, and the id's, which every later call uses, must count it too.
        """
        if method in self._rates:
            try:
                self.reserve(method, channel, max_wait_s=_ALWAYS_S)
            except redis.RedisError as exc:
                log.warning("Slack budget unavailable, %s not counted: %s", method, exc)

    def penalize(
        self, method: str, channel: str | None = None, *, retry_after_s: float | None, at_s: float | None = None
    ) -> float | None:
        """Slack answered 429: nobody calls ``method`` (in ``channel``) for ``retry_after_s``.

        Returns the blocked-until time (Redis clock, epoch seconds), or None when Redis is down.
        """
        wait_s = retry_after_s if retry_after_s is not None and retry_after_s > 0 else DEFAULT_PENALTY_S
        try:
            blocked = self._penalize(
                keys=[self.key(method, channel)],
                args=[_us(wait_s), "" if at_s is None else _us(at_s), int(IDLE_TTL_S * 1000)],
            )
        except redis.RedisError as exc:
            log.warning("Slack budget unavailable, the 429 on %s is not shared: %s", method, exc)
            return None
        return int(blocked) / _US

    def blocked_until(self, method: str, channel: str | None = None) -> float | None:
        """The end of the last 429's block (Redis clock, epoch seconds), or None."""
        blocked = self._blocked_us(method, channel)
        return None if blocked is None else blocked / _US

    def _blocked_us(self, method: str, channel: str | None) -> int | None:
        try:
            raw = self._r.hget(self.key(method, channel), "blocked")
        except redis.RedisError:
            return None
        return int(raw) if raw else None  # type: ignore[arg-type]  # str: decode_responses=True

    # -- channel names ------------------------------------------------------------------------
    # chat.postMessage's budget is per channel *id*; a post by name ("#incidents") must draw from
    # the same budget as the replies that use the id Slack answered with. Names learnt by any
    # worker's post are kept here for all.
    def remember_channel(self, name: str, channel_id: str) -> None:
        key = f"{self._prefix}:channel_ids"
        try:
            with self._r.pipeline(transaction=False) as pipe:
                pipe.hset(key, name, channel_id)
                pipe.expire(key, CHANNEL_IDS_TTL_S)  # a renamed or re-created channel is learnt again
                pipe.execute()
        except redis.RedisError as exc:
            log.warning("Slack budget unavailable, channel id of %s not shared: %s", name, exc)

    def channel_id(self, name: str) -> str | None:
        try:
            found = self._r.hget(f"{self._prefix}:channel_ids", name)
        except redis.RedisError:
            return None
        return str(found) if found else None


def _us(seconds: float) -> int:
    return round(seconds * _US)
