"""The one module that talks to Slack: the WebClient factory, the sink and the user directory.

Slack's errors are mapped here, once, into ``shared.errors``::

    SlackApiError  429 / ratelimited ............ SlackRetryable(retry_after_s=Retry-After): not performed
                   HTTP 5xx, internal_error ..... SlackAmbiguous: Slack may have performed the call
                   anything else ................ SlackPermanent (invalid_auth, channel_not_found, ...)
    URLError, OSError, TimeoutError ............. SlackAmbiguous (the answer was lost, not the call)

Writes are never retried blindly: a post whose answer was lost may exist, and repeating it makes
a second message (three triggers once gave 26 top-level posts against a Slack that answered
late). So the client that writes retries only 429s (a rate-limited call was not performed);
every message carries a tag in its metadata, and ``find_tagged`` looks for it before anyone
posts again. The read-only user directory keeps the SDK's retries for 5xx and connection errors.
Without ``SLACK_BOT_TOKEN`` the console adapters stand in (``make_sink``/``make_directory``).

Rate limits are Slack's per app and workspace, not per process. With a ``SlackBudget``
(``shared.slack_budget``, one per method and channel in Redis, ``make_budget``) every call takes
its turn from the budget all workers share, and a 429 pushes that budget back for all of them;
the SDK's own 429 handler is then left out (``make_web_client(..., retry_rate_limits=False)``)
so that no 429 is waited out unseen by the others. Without one, each process throttles and
waits out 429s on its own, as before.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from shared.errors import IncidentCommanderError, SlackAmbiguous, SlackPermanent, SlackRetryable
from shared.ports import IncidentSink, PostedMessage, UserDirectory
from shared.retry_policy import SLACK_IN_PROCESS_WAIT_MAX_S, SLACK_READ_WAIT_MAX_S
from shared.settings import Settings
from shared.slack_budget import SlackBudget

T = TypeVar("T")
log = logging.getLogger(__name__)

# Slack answers these with HTTP 200 yet they are transient on its side.
_TRANSIENT_ERRORS = frozenset({"internal_error", "fatal_error", "service_unavailable", "request_timeout"})

# Message metadata marks our messages; its payload carries the tag (Slack: "Message metadata").
METADATA_EVENT_TYPE = "incident_commander_message"
# How far back, before the recorded intent, a tagged message is looked for (clock skew between
# us and Slack), and how many history pages at most (200 messages each).
FIND_MARGIN_S = 600.0
FIND_MAX_PAGES = 10
# With a shared budget: the longest a call waits in process for its turn; a turn further away
# raises SlackRetryable(retry_after_s=<the wait>) for the task's RetryPolicy. A top-level post
# waits at most twice (post, update) under the incident's lock: 2 x (10 + SLACK_TIMEOUT_S 10) s
# stays inside that lock's 50 s (commander.delivery).
BUDGET_MAX_WAIT_S = 10.0
# With a shared budget, a 429 (nevertheless) is shared, waited out and retried this many times in
# the call, as the SDK's handler did: writes once, reads three times.
WRITE_RATE_LIMIT_RETRIES = 1
READ_RATE_LIMIT_RETRIES = 3


def make_web_client(settings: Settings, *, writes: bool = False, retry_rate_limits: bool = True) -> WebClient:
    """A WebClient for ``settings``.

    ``writes=True``: only 429s are retried (a rate-limited call was not performed); 5xx and
    connection errors reach the caller as SlackAmbiguous. Otherwise 5xx and connection errors
    are retried too (safe for reads). ``retry_rate_limits=False``: 429s are not retried here
    either; they reach the caller, which shares them through a ``SlackBudget``.
    """
    if settings.slack_bot_token is None:
        raise SlackPermanent("SLACK_BOT_TOKEN is not set")
    # A 429 is waited out here only when Retry-After is short (SLACK_IN_PROCESS_WAIT_MAX_S): a
    # longer sleep would hold the incident's message lock and a worker. Past it the caller gets
    # SlackRetryable(retry_after_s=Retry-After), and its task's RetryPolicy waits that long.
    handlers: list[RetryHandler] = []
    if retry_rate_limits:
        handlers.append(
            ShortRateLimitRetryHandler(
                max_retry_count=1 if writes else 3,
                max_wait_s=SLACK_IN_PROCESS_WAIT_MAX_S if writes else SLACK_READ_WAIT_MAX_S,
            )
        )
    if not writes:
        handlers += [ServerErrorRetryHandler(max_retry_count=2), ConnectionErrorRetryHandler(max_retry_count=2)]
    return WebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url,
        timeout=settings.slack_timeout_s,  # type: ignore[arg-type]  # typed int, passed on to urlopen
        retry_handlers=list(handlers),
    )


class ShortRateLimitRetryHandler(RateLimitErrorRetryHandler):
    """slack-sdk's 429 handler (it sleeps Retry-After, then retries), for short waits only."""

    def __init__(self, *, max_retry_count: int, max_wait_s: float) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait_s = max_wait_s

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if not super()._can_retry(state=state, request=request, response=response, error=error):
            return False
        wait_s = _retry_after_s(response.headers if response is not None else None)
        return wait_s is None or wait_s <= self.max_wait_s


@contextmanager
def slack_errors(method: str) -> Iterator[None]:
    """Map whatever the SDK raises inside the block into SlackRetryable / SlackPermanent."""
    try:
        yield
    except SlackApiError as exc:
        status = exc.response.status_code
        error = str(exc.response.get("error", "")) if isinstance(exc.response.data, dict) else ""
        if status == 429 or error == "ratelimited":
            raise SlackRetryable(
                f"{method}: HTTP {status} {error}".strip(), retry_after_s=_retry_after_s(exc.response.headers)
            ) from exc
        if error in _TRANSIENT_ERRORS or status >= 500:
            raise SlackAmbiguous(f"{method}: HTTP {status} {error}".strip()) from exc
        raise SlackPermanent(f"{method}: {error or f'HTTP {status}'}") from exc
    except (URLError, TimeoutError, ConnectionError, OSError) as exc:
        raise SlackAmbiguous(f"{method}: {type(exc).__name__}: {exc}") from exc


def budgeted_call(
    budget: SlackBudget | None,
    method: str,
    channel: str | None,
    call: Callable[[], T],
    *,
    max_wait_s: float,
    rate_limit_retries: int,
) -> T:
    """``call()`` (the SDK call of ``method``) in its turn of ``budget``, errors mapped (``slack_errors``).

    Without a budget: the call alone. With one: wait for the turn (or SlackRetryable when it is
    more than ``max_wait_s`` away); a 429 pushes the budget back for every process
    (``penalize``), and the call takes a new turn after it, ``rate_limit_retries`` times at most.
    """
    if budget is None:
        with slack_errors(method):
            return call()
    retries = 0
    while True:
        budget.acquire(method, channel, max_wait_s=max_wait_s)
        try:
            with slack_errors(method):
                return call()
        except SlackAmbiguous:
            raise
        except SlackRetryable as exc:  # a 429: Slack did not perform the call
            if budget.penalize(method, channel, retry_after_s=exc.retry_after_s) is None:
                raise  # the budget is down: Retry-After is honoured by the caller's retry, not ignored
            if retries >= rate_limit_retries:
                raise
            retries += 1


def _retry_after_s(headers: dict[str, Any] | None) -> float | None:
    for key, value in (headers or {}).items():
        if key.lower() == "retry-after":
            raw = value[0] if isinstance(value, list) else value
            try:
                return float(raw)
            except (TypeError, ValueError):
                return None
    return None


class SlackSink:
    """IncidentSink on Slack: ``chat.postMessage`` and ``chat.update``, link previews off.

    ``post`` answers with the channel *id* Slack gives back: ``chat.update`` accepts only an id
    (a name like ``#incidents`` gives channel_not_found, python-slack-sdk #696). ``find_tagged``
    reads ``conversations.history`` (or ``.replies``) with ``include_all_metadata``, which also
    need the id: a name is resolved once through ``conversations.list`` and remembered.

    ``budget``: every call takes its turn from this shared budget first (build the client with
    ``retry_rate_limits=False``, as ``make_sink`` does); ``max_wait_s``: the longest it waits for it.
    """

    def __init__(
        self, client: WebClient, *, budget: SlackBudget | None = None, max_wait_s: float = BUDGET_MAX_WAIT_S
    ) -> None:
        self._client = client
        self._channel_ids: dict[str, str] = {}
        self._budget = budget
        self._max_wait_s = max_wait_s
        self._resolving = threading.Lock()

    def _call(self, method: str, channel: str | None, call: Callable[[], T]) -> T:
        return budgeted_call(
            self._budget,
            method,
            channel,
            call,
            max_wait_s=self._max_wait_s,
            rate_limit_retries=WRITE_RATE_LIMIT_RETRIES,
        )

    def _budget_channel(self, channel: str) -> str:
        """The channel whose budget a post to ``channel`` draws from: always its id.

        A post by name and the replies by id go to one channel, and Slack limits them together.
        The id comes from this process, or from another worker that learnt it (kept in Redis), or
        once for all from ``conversations.list``; if that fails (no ``channels:read``), the name's own
        budget is used until a post answers with the id.
        """
        if _looks_like_channel_id(channel) or self._budget is None:
            return channel
        with self._resolving:  # one resolution per process, not one per thread
            if channel not in self._channel_ids:
                found = self._budget.channel_id(channel)
                if found is None:
                    try:
                        found = self._channel_id(channel)
                    except IncidentCommanderError as exc:
                        log.warning("cannot resolve %s to its id (%s): posts use the name's budget", channel, exc)
                        return channel
                    self._budget.remember_channel(channel, found)
                self._channel_ids[channel] = found
        return self._channel_ids[channel]

    def post(
        self,
        *,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
        tag: str | None = None,
    ) -> PostedMessage:
        metadata = {"event_type": METADATA_EVENT_TYPE, "event_payload": {"tag": tag}} if tag else None
        budget_channel = self._budget_channel(channel)
        response = self._call(
            "chat.postMessage",
            budget_channel,
            lambda: self._client.chat_postMessage(
                channel=channel,
                text=text,
                blocks=blocks,
                thread_ts=thread_ts,
                metadata=metadata,
                unfurl_links=False,
                unfurl_media=False,
            ),
        )
        posted = PostedMessage(channel=str(response["channel"]), ts=str(response["ts"]))
        if self._budget is not None and budget_channel != posted.channel:
            # Posted by a name nobody had resolved: the id's budget, which later calls use, counts it too.
            self._budget.remember_channel(channel, posted.channel)
            self._budget.charge("chat.postMessage", posted.channel)
        self._channel_ids[channel] = posted.channel
        return posted

    def find_tagged(
        self, *, channel: str, tag: str, since_s: float, thread_ts: str | None = None
    ) -> PostedMessage | None:
        channel_id = self._channel_id(channel)
        oldest = f"{max(0.0, since_s - FIND_MARGIN_S):.6f}"
        cursor = None
        for _ in range(FIND_MAX_PAGES):
            if thread_ts:
                page = self._call(
                    "conversations.replies",
                    channel_id,
                    partial(
                        self._client.conversations_replies,
                        channel=channel_id,
                        ts=thread_ts,
                        oldest=oldest,
                        include_all_metadata=True,
                        limit=200,
                        cursor=cursor,
                    ),
                )
            else:
                page = self._call(
                    "conversations.history",
                    channel_id,
                    partial(
                        self._client.conversations_history,
                        channel=channel_id,
                        oldest=oldest,
                        include_all_metadata=True,
                        limit=200,
                        cursor=cursor,
                    ),
                )
            for message in page.get("messages") or []:
                if _tag_of(message) == tag:
                    return PostedMessage(channel=channel_id, ts=str(message["ts"]))
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return None
        # Not found in what we read, but there is more: "not posted" would be a guess.
        raise SlackAmbiguous(f"{tag}: not in the last {FIND_MAX_PAGES} pages of history; more remain unread")

    def _channel_id(self, channel: str) -> str:
        if _looks_like_channel_id(channel):
            return channel
        if channel not in self._channel_ids:
            name, cursor = channel.lstrip("#"), None
            for _ in range(FIND_MAX_PAGES):
                page = self._call(
                    "conversations.list",
                    None,
                    partial(
                        self._client.conversations_list,
                        types="public_channel,private_channel",
                        exclude_archived=True,
                        limit=1000,
                        cursor=cursor,
                    ),
                )
                for found in page.get("channels") or []:
                    if found.get("name") == name:
                        self._channel_ids[channel] = str(found["id"])
                        return self._channel_ids[channel]
                cursor = (page.get("response_metadata") or {}).get("next_cursor")
                if not cursor:
                    break
            raise SlackPermanent(f"conversations.list: no channel named {channel}")
        return self._channel_ids[channel]

    def update(self, *, channel: str, ts: str, text: str, blocks: list[dict[str, Any]] | None = None) -> None:
        self._call(
            "chat.update",
            channel,
            lambda: self._client.chat_update(
                channel=channel, ts=ts, text=text, blocks=blocks, unfurl_links=False, unfurl_media=False
            ),
        )


def _tag_of(message: dict[str, Any]) -> str | None:
    metadata = message.get("metadata") or {}
    if metadata.get("event_type") != METADATA_EVENT_TYPE:
        return None
    tag = (metadata.get("event_payload") or {}).get("tag")
    return str(tag) if tag else None


def _looks_like_channel_id(channel: str) -> bool:
    return len(channel) >= 9 and channel[0] in "CGD" and channel.isalnum() and channel.isupper()


class TokenBucket:
    """A thread-safe token bucket: ``rate_per_s`` refill, ``capacity`` burst."""

    def __init__(
        self,
        *,
        rate_per_s: float,
        capacity: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self._rate, self._capacity = rate_per_s, capacity
        self._tokens, self._at = capacity, clock()
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()

    def acquire(self, *, max_wait_s: float) -> None:
        """Take one token, waiting up to ``max_wait_s``; else raise SlackRetryable."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self._capacity, self._tokens + (now - self._at) * self._rate)
            self._at = now
            wait_s = max(0.0, (1 - self._tokens) / self._rate)
            if wait_s > max_wait_s:
                raise SlackRetryable("users.lookupByEmail: client-side throttle exhausted", retry_after_s=wait_s)
            self._tokens -= 1  # reserve now, so concurrent callers queue behind us
        if wait_s > 0:
            self._sleep(wait_s)


class SlackUserDirectory:
    """UserDirectory on ``users.lookupByEmail`` with a TTL cache and a client-side throttle.

    Slack allows ~50 lookups a minute (Tier 3 is 50+/min; we stay below at 40/min, burst 10).
    Found ids are cached ``ttl_s``; "no such user" is cached ``negative_ttl_s`` (a new hire
    may be added to Slack later). Deactivated users resolve to None (nobody to notify).
    With ``budget`` the lookups take their turns from the budget every process shares instead of
    this process's throttle (``rate_per_min``, ``burst``); ``max_wait_s`` bounds the wait either way.
    """

    def __init__(
        self,
        client: WebClient,
        *,
        ttl_s: float = 3_600.0,
        negative_ttl_s: float = 300.0,
        rate_per_min: float = 40.0,
        burst: int = 10,
        max_wait_s: float = 5.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
        budget: SlackBudget | None = None,
    ) -> None:
        self._client = client
        self._budget = budget
        self._ttl_s, self._negative_ttl_s, self._max_wait_s = ttl_s, negative_ttl_s, max_wait_s
        self._max_entries = max_entries
        self._clock = clock
        self._bucket = TokenBucket(rate_per_s=rate_per_min / 60.0, capacity=burst, clock=clock)
        self._cache: dict[str, tuple[str | None, float]] = {}
        self._lock = threading.Lock()

    def user_id_for_email(self, email: str) -> str | None:
        key = email.strip().lower()
        if not key:
            return None
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and hit[1] > self._clock():
                return hit[0]
        user_id = self._lookup(key)
        with self._lock:
            if len(self._cache) >= self._max_entries:
                self._cache.pop(next(iter(self._cache)))  # oldest insertion first
            ttl_s = self._ttl_s if user_id is not None else self._negative_ttl_s
            self._cache[key] = (user_id, self._clock() + ttl_s)
        return user_id

    def _lookup(self, email: str) -> str | None:
        if self._budget is None:
            self._bucket.acquire(max_wait_s=self._max_wait_s)
        try:
            response = budgeted_call(
                self._budget,
                "users.lookupByEmail",
                None,
                lambda: self._client.users_lookupByEmail(email=email),
                max_wait_s=self._max_wait_s,
                rate_limit_retries=READ_RATE_LIMIT_RETRIES,
            )
        except SlackPermanent as exc:
            cause = exc.__cause__
            if isinstance(cause, SlackApiError) and cause.response.get("error") == "users_not_found":
                return None
            raise
        user = response.get("user") or {}
        return None if user.get("deleted") else str(user["id"])


class ConsoleSink:
    """IncidentSink without Slack: one JSON line per call appended to ``outbox_path``.

    Never prints (workers run in the background). ts values are Slack-shaped decimals, unique
    across processes: microseconds since the epoch, strictly increasing here, plus the pid.
    """

    def __init__(self, outbox_path: Path) -> None:
        self._path = Path(outbox_path)
        self._lock = threading.Lock()
        self._last_us = 0

    def post(
        self,
        *,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
        tag: str | None = None,
    ) -> PostedMessage:
        ts = self._next_ts()
        self._append(
            {
                "method": "chat.postMessage",
                "channel": channel,
                "ts": ts,
                "thread_ts": thread_ts,
                "text": text,
                "blocks": blocks,
                "tag": tag,
            }
        )
        return PostedMessage(channel=channel, ts=ts)

    def find_tagged(
        self, *, channel: str, tag: str, since_s: float, thread_ts: str | None = None
    ) -> PostedMessage | None:
        """Scans the outbox (small: one line per call of a console run)."""
        try:
            lines = self._path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return None
        for line in lines:
            record = json.loads(line)
            if (
                record.get("method") == "chat.postMessage"
                and record.get("tag") == tag
                and record.get("channel") == channel
                and record.get("thread_ts") == thread_ts
            ):
                return PostedMessage(channel=channel, ts=str(record["ts"]))
        return None

    def update(self, *, channel: str, ts: str, text: str, blocks: list[dict[str, Any]] | None = None) -> None:
        self._append(
            {"method": "chat.update", "channel": channel, "ts": ts, "thread_ts": None, "text": text, "blocks": blocks}
        )

    def _next_ts(self) -> str:
        with self._lock:
            self._last_us = max(time.time_ns() // 1_000, self._last_us + 1)
            us = self._last_us
        return f"{us // 1_000_000}.{us % 1_000_000:06d}{os.getpid() % 10_000_000:07d}"

    def _append(self, record: dict[str, Any]) -> None:
        record["at"] = datetime.now(UTC).isoformat()
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)  # one write with O_APPEND: lines from several processes do not interleave
        finally:
            os.close(fd)


class ConsoleDirectory:
    """UserDirectory without Slack: no email can be resolved, so every lookup is None."""

    def user_id_for_email(self, email: str) -> str | None:
        return None


def make_budget(settings: Settings) -> SlackBudget | None:
    """The Slack budget every worker shares, in the incident state's Redis; None without Slack.

    Connects lazily (the first call); call it where the runtime is built, never at import.
    """
    if settings.slack_bot_token is None:
        return None
    return SlackBudget.from_url(settings.state_redis_url)


def make_sink(
    settings: Settings, *, budget: SlackBudget | None = None, max_wait_s: float = BUDGET_MAX_WAIT_S
) -> IncidentSink:
    """Slack when ``SLACK_BOT_TOKEN`` is set, else the console outbox.

    ``budget`` (``make_budget``): calls take their turns from it and share their 429s; without
    one each process waits out its own 429s, as before.
    """
    if settings.slack_bot_token is not None:
        client = make_web_client(settings, writes=True, retry_rate_limits=budget is None)
        return SlackSink(client, budget=budget, max_wait_s=max_wait_s)
    return ConsoleSink(settings.outbox_path)


def make_directory(settings: Settings, *, budget: SlackBudget | None = None) -> UserDirectory:
    """Slack's ``users.lookupByEmail`` when ``SLACK_BOT_TOKEN`` is set, else ConsoleDirectory."""
    if settings.slack_bot_token is not None:
        return SlackUserDirectory(make_web_client(settings, retry_rate_limits=budget is None), budget=budget)
    return ConsoleDirectory()
