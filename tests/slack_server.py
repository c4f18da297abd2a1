"""A Slack-compatible Web API server for tests and benchmarks (standard library only).

Slack itself is out of reach from tests, so this answers the handful of methods the project
calls the way Slack does: same URLs (``<base_url><method>``), form-encoded or JSON bodies,
``Authorization: Bearer`` auth, ``{"ok": false, "error": ...}`` envelopes, HTTP 429 with
``Retry-After``. Use it with the real ``slack_sdk.WebClient(base_url=slack.base_url)``::

    with SlackServer(users={"maria@example.com": "U0MARIA"}) as slack:
        client = WebClient(token=slack.token, base_url=slack.base_url)
        ...
        assert len(slack.top_level_messages("#incidents")) == 1

Slack behaviour reproduced on purpose (each has bitten real integrations):
- ``chat.postMessage`` accepts a channel name or id and answers with the channel *id*;
  ``chat.update`` accepts only the id (a name gives ``channel_not_found``, python-slack-sdk #696).
- blocks: a list of at most 50, section text <= 3000, header text <= 150, else ``invalid_blocks``;
  more than ~13,000 characters of block text gives ``msg_blocks_too_long`` (bolt-js #2509);
  ``text`` over 40,000 characters gives ``msg_too_long``.
- a reply with ``reply_broadcast`` also shows in the channel (``top_level_messages`` counts it).
- message ``metadata`` is stored, and returned by ``conversations.history``/``.replies`` only
  with ``include_all_metadata``; ``oldest`` filters by ts.

Bad days, by time window (``outage``, ``ghost``, ``slow``): Slack down (503, nothing done),
Slack doing the call and then answering 500, and Slack doing the call and answering only after
the client has given up. The last two are the ambiguous answers that make naive retries double-post.

Rate limits (``SlackServer(enforce_limits=True)``, off by default): Slack's published limits,
``SLACK_LIMITS``, each a token bucket (``per_s`` refill, ``burst`` capacity) per method, and per
channel for ``chat.postMessage``. A call over the limit is answered 429 ``ratelimited`` with
``Retry-After`` (whole seconds, as Slack sends it) and is not performed; any 429 in this mode, an
injected one (``rate_limit``) too, holds that method (and channel) for its Retry-After: a call
before then is answered 429 again. ``rate_limited_count(method)`` counts the 429s given.

Run as a process (the benchmark, manual trying): ``python -m tests.slack_server --port 0``
prints the base URL on the first line of stdout and serves until killed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

DEFAULT_TOKEN = "xoxb-test-token"
BOT_USER_ID = "U0BOT"
BOT_ID = "B0BOT"
MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3_000
MAX_HEADER_TEXT = 150
MAX_MESSAGE_TEXT = 40_000
MAX_TOTAL_BLOCK_TEXT = 13_000  # where bolt-js #2509 saw msg_blocks_too_long


@dataclass(frozen=True)
class Limit:
    """A token bucket: ``burst`` calls at once, refilled at ``per_s``; ``per_channel``: one per channel."""

    per_s: float
    burst: float
    per_channel: bool = False


# Slack's published limits (https://api.slack.com/docs/rate-limits: "per API method per app per
# workspace"). Slack gives each tier's floor ("50+ per minute") and "short bursts" without a size:
# the bursts here are our choice, a little above what shared.slack_budget.SLACK_RATES spends.
_TIER_2 = Limit(per_s=20 / 60, burst=5)  # "Tier 2: 20+ per minute"
_TIER_3 = Limit(per_s=50 / 60, burst=10)  # "Tier 3: 50+ per minute. Sporadic bursts are welcome."
SLACK_LIMITS: dict[str, Limit] = {
    # https://api.slack.com/methods/chat.postMessage "Rate limits: Special":
    # "1 per second per channel with short bursts" (Slack's workspace-wide limit is far higher: not modelled).
    "chat.postMessage": Limit(per_s=1.0, burst=3, per_channel=True),
    "chat.update": _TIER_3,  # https://api.slack.com/methods/chat.update: Tier 3
    "users.lookupByEmail": _TIER_3,  # https://api.slack.com/methods/users.lookupByEmail: Tier 3
    "conversations.history": _TIER_3,  # https://api.slack.com/methods/conversations.history: Tier 3
    "conversations.replies": _TIER_3,  # https://api.slack.com/methods/conversations.replies: Tier 3
    "conversations.list": _TIER_2,  # https://api.slack.com/methods/conversations.list: Tier 2
}


@dataclass(frozen=True)
class Call:
    """One request the server received, whatever it answered."""

    method: str
    params: dict[str, Any]
    headers: dict[str, str]
    at: float  # time.time() when it arrived
    status: int  # the HTTP status it was answered with
    error: str | None  # the Slack error code, None when ok


@dataclass
class _Fault:
    status: int
    error: str
    retry_after_s: int | None = None


@dataclass
class _Window:
    """A bad spell: ``mode`` for calls of ``methods`` (None: all) until ``until`` (time.monotonic())."""

    mode: str  # "outage" | "ghost" | "slow"
    since: float
    until: float
    methods: frozenset[str] | None
    delay_s: float = 0.0


@dataclass
class _State:
    calls: list[Call] = field(default_factory=list)
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)  # ts -> current message
    faults: dict[str, deque[_Fault]] = field(default_factory=lambda: defaultdict(deque))
    windows: list[_Window] = field(default_factory=list)
    last_ts_us: int = 0
    buckets: dict[str, tuple[float, float]] = field(default_factory=dict)  # key -> (tokens, time.monotonic())
    held: dict[str, float] = field(default_factory=dict)  # key -> time.monotonic() until which 429 is answered


class SlackApiError(Exception):
    """Raised inside a handler to answer ``{"ok": false, "error": code}``."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


class SlackServer:
    """A threaded loopback Slack Web API; a context manager, also ``start()``/``stop()``."""

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        users: dict[str, str] | None = None,
        channels: dict[str, str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        enforce_limits: bool = False,
        limits: dict[str, Limit] | None = None,
    ) -> None:
        self.token = token
        self.enforce_limits = enforce_limits
        self.limits = dict(SLACK_LIMITS if limits is None else limits)
        self.users = {email.lower(): uid for email, uid in (users or {}).items()}
        self._channels = {name.lstrip("#"): cid for name, cid in (channels or {}).items()}
        self._host = host
        self._lock = threading.RLock()
        self.channel_id("#incidents")  # the channel exists before anyone posts, as in a real workspace
        self._state = _State()
        self._httpd = ThreadingHTTPServer((host, port), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    # ---- lifecycle ------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self._httpd.server_port}/api/"

    def start(self) -> SlackServer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="slack-server", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> SlackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- inspection -----------------------------------------------------------------------
    def calls(self, method: str | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self._state.calls if method is None or c.method == method]

    def rate_limited_count(self, method: str | None = None) -> int:
        """How many calls (of ``method``, or of any) were answered 429."""
        return sum(1 for c in self.calls(method) if c.status == 429)

    def channel_id(self, channel: str) -> str:
        """The id Slack would give ``channel`` (a name like ``#incidents``, or already an id)."""
        if _looks_like_id(channel):
            return channel
        name = channel.lstrip("#")
        with self._lock:
            if name not in self._channels:
                self._channels[name] = "C" + hashlib.sha1(name.encode()).hexdigest()[:10].upper()
            return self._channels[name]

    def top_level_messages(self, channel: str) -> list[dict[str, Any]]:
        """What the channel shows, oldest first: top-level posts and broadcast thread replies."""
        cid = self.channel_id(channel)
        with self._lock:
            return [dict(m) for m in self._state.messages.values() if m["channel"] == cid and _in_channel(m)]

    def replies(self, thread_ts: str) -> list[dict[str, Any]]:
        """The replies under ``thread_ts``, oldest first (not the parent)."""
        with self._lock:
            return [
                dict(m)
                for m in self._state.messages.values()
                if m.get("thread_ts") == thread_ts and m["ts"] != thread_ts
            ]

    def message(self, ts: str) -> dict[str, Any] | None:
        """The current version of message ``ts`` (after any updates), or None."""
        with self._lock:
            found = self._state.messages.get(ts)
            return dict(found) if found else None

    def reset(self) -> None:
        """Forget calls, messages and pending faults (users and channels stay)."""
        with self._lock:
            self._state = _State()

    # ---- fault injection ------------------------------------------------------------------
    def rate_limit(self, method: str, *, times: int = 1, retry_after_s: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` with 429 and ``Retry-After``."""
        self._add_faults(method, times, _Fault(429, "ratelimited", retry_after_s))

    def fail(self, method: str, *, status: int = 500, times: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` with an HTTP 5xx."""
        self._add_faults(method, times, _Fault(status, "internal_error"))

    def fail_with(self, method: str, error: str = "channel_not_found", *, times: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` with HTTP 200 ``{"ok": false, "error": error}``."""
        self._add_faults(method, times, _Fault(200, error))

    def _add_faults(self, method: str, times: int, fault: _Fault) -> None:
        with self._lock:
            self._state.faults[method].extend([fault] * times)

    def outage(self, seconds: float, *, methods: tuple[str, ...] | None = None, start_in_s: float = 0) -> None:
        """For ``seconds``: answer 503 and do nothing (Slack is down)."""
        self._add_window("outage", seconds, methods, start_in_s=start_in_s)

    def ghost(self, seconds: float, *, methods: tuple[str, ...] | None = None, start_in_s: float = 0) -> None:
        """For ``seconds``: do the call, then answer 500 (the answer is lost, the message exists)."""
        self._add_window("ghost", seconds, methods, start_in_s=start_in_s)

    def slow(
        self, seconds: float, *, delay_s: float, methods: tuple[str, ...] | None = None, start_in_s: float = 0
    ) -> None:
        """For ``seconds``: do the call, then answer only after ``delay_s`` (past the client's time-out)."""
        self._add_window("slow", seconds, methods, delay_s=delay_s, start_in_s=start_in_s)

    def reset_windows(self) -> None:
        """End every bad spell now."""
        with self._lock:
            self._state.windows.clear()

    def _add_window(
        self, mode: str, seconds: float, methods: tuple[str, ...] | None, *, delay_s: float = 0, start_in_s: float = 0
    ) -> None:
        since = time.monotonic() + start_in_s
        with self._lock:
            self._state.windows.append(
                _Window(mode, since, since + seconds, frozenset(methods) if methods else None, delay_s)
            )

    def _window_for(self, method: str) -> _Window | None:
        now = time.monotonic()
        for window in self._state.windows:
            if window.since <= now < window.until and (window.methods is None or method in window.methods):
                return window
        return None

    # ---- request handling (called from the handler threads) -------------------------------
    def handle(
        self, method: str, params: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, dict[str, str], dict[str, Any] | str]:
        delay_s = 0.0
        with self._lock:
            window = self._window_for(method)
            fault = self._state.faults[method].popleft() if self._state.faults[method] else None
            if window is not None and window.mode == "outage":
                fault = _Fault(503, "service_unavailable")
            if self.enforce_limits:
                fault = self._limited(method, params, fault)
            if fault is not None:
                status, extra, body = _fault_response(fault)
            else:
                try:
                    status, extra, body = 200, {}, {"ok": True, **self._dispatch(method, params, headers)}
                except SlackApiError as exc:
                    status, extra, body = 200, {}, {"ok": False, "error": exc.error}
                if window is not None and window.mode == "ghost":
                    status, extra, body = _fault_response(_Fault(500, "internal_error"))
                elif window is not None and window.mode == "slow":
                    delay_s = window.delay_s
            error = (
                None
                if isinstance(body, dict) and body.get("ok")
                else (body.get("error") if isinstance(body, dict) else body)
            )
            self._state.calls.append(Call(method, params, headers, time.time(), status, error))
        if delay_s:
            time.sleep(delay_s)  # outside the lock: other calls go on meanwhile
        return status, extra, body

    def _limited(self, method: str, params: dict[str, Any], fault: _Fault | None) -> _Fault | None:
        """The answer under Slack's limits: ``fault`` as it was, or a 429; a 429 holds the key for its Retry-After."""
        limit = self.limits.get(method)
        key = method
        if limit is not None and limit.per_channel:
            channel = str(params.get("channel") or "")
            key = f"{method}:{self.channel_id(channel) if channel else ''}"
        now = time.monotonic()
        held_until = self._state.held.get(key, 0.0)
        if fault is None and held_until > now:
            return _Fault(429, "ratelimited", max(1, math.ceil(held_until - now)))  # held: not extended
        if fault is None and limit is not None:
            tokens, at = self._state.buckets.get(key, (limit.burst, now))
            tokens = min(limit.burst, tokens + (now - at) * limit.per_s)
            if tokens >= 1:
                self._state.buckets[key] = (tokens - 1, now)
            else:
                self._state.buckets[key] = (tokens, now)
                fault = _Fault(429, "ratelimited", max(1, math.ceil((1 - tokens) / limit.per_s)))
        if fault is not None and fault.status == 429:
            self._state.held[key] = max(held_until, now + (fault.retry_after_s or 1))
        return fault

    def _dispatch(self, method: str, params: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        auth = headers.get("authorization", "")
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else params.get("token")
        if not token:
            raise SlackApiError("not_authed")
        if token != self.token:
            raise SlackApiError("invalid_auth")
        handler = _METHODS.get(method)
        if handler is None:
            raise SlackApiError("unknown_method")
        return handler(self, params)

    def _next_ts(self) -> str:
        now_us = time.time_ns() // 1_000
        self._state.last_ts_us = max(now_us, self._state.last_ts_us + 1)
        return f"{self._state.last_ts_us // 1_000_000}.{self._state.last_ts_us % 1_000_000:06d}"

    def _post_message(self, params: dict[str, Any]) -> dict[str, Any]:
        cid = self._known_channel(params.get("channel"), allow_name=True)
        text, blocks = _validated_content(params)
        ts = self._next_ts()
        msg: dict[str, Any] = {
            "type": "message",
            "ts": ts,
            "channel": cid,
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "text": text,
        }
        if blocks is not None:
            msg["blocks"] = blocks
        metadata = params.get("metadata")
        if isinstance(metadata, str) and metadata:
            try:
                metadata = json.loads(metadata)
            except json.JSONDecodeError as exc:
                raise SlackApiError("invalid_metadata_format") from exc
        if metadata is not None:
            if (
                not isinstance(metadata, dict)
                or not isinstance(metadata.get("event_type"), str)
                or not isinstance(metadata.get("event_payload"), dict)
            ):
                raise SlackApiError("invalid_metadata_schema")
            msg["metadata"] = metadata
        thread_ts = params.get("thread_ts")
        if thread_ts:
            msg["thread_ts"] = str(thread_ts)
            if _truthy(params.get("reply_broadcast")):
                msg["subtype"] = "thread_broadcast"
            parent = self._state.messages.get(str(thread_ts))
            if parent is not None:
                parent["reply_count"] = parent.get("reply_count", 0) + 1
                parent["thread_ts"] = parent["ts"]  # Slack marks a parent with its own ts
        self._state.messages[ts] = msg
        return {"channel": cid, "ts": ts, "message": {k: v for k, v in msg.items() if k != "channel"}}

    def _update(self, params: dict[str, Any]) -> dict[str, Any]:
        cid = self._known_channel(params.get("channel"), allow_name=False)
        ts = str(params.get("ts") or "")
        msg = self._state.messages.get(ts)
        if msg is None or msg["channel"] != cid:
            raise SlackApiError("message_not_found")
        text, blocks = _validated_content(params)
        msg["text"] = text
        if blocks is not None:
            msg["blocks"] = blocks
        msg["edited"] = {"user": BOT_USER_ID, "ts": self._next_ts()}
        return {"channel": cid, "ts": ts, "text": text, "message": {k: v for k, v in msg.items() if k != "channel"}}

    def _known_channel(self, channel: Any, *, allow_name: bool) -> str:
        if not channel:
            raise SlackApiError("channel_not_found")
        channel = str(channel)
        if not _looks_like_id(channel) and not allow_name:
            raise SlackApiError("channel_not_found")
        return self.channel_id(channel)

    def _lookup_by_email(self, params: dict[str, Any]) -> dict[str, Any]:
        email = str(params.get("email") or "").strip().lower()
        if not email:
            raise SlackApiError("invalid_arguments")
        uid = self.users.get(email)
        if uid is None:
            raise SlackApiError("users_not_found")
        name = email.split("@")[0]
        return {
            "user": {
                "id": uid,
                "name": name,
                "deleted": False,
                "is_bot": False,
                "profile": {"email": email, "real_name": name},
            }
        }

    def _replies(self, params: dict[str, Any]) -> dict[str, Any]:
        cid = self._known_channel(params.get("channel"), allow_name=False)
        ts = str(params.get("ts") or "")
        parent = self._state.messages.get(ts)
        if parent is None or parent["channel"] != cid:
            raise SlackApiError("thread_not_found")
        thread = [m for m in self._state.messages.values() if m.get("thread_ts") == ts and m["ts"] != ts]
        listed = [m for m in (parent, *thread) if _after(m, params.get("oldest"))]
        return {"messages": [_shown(m, params) for m in listed], "has_more": False}

    def _history(self, params: dict[str, Any]) -> dict[str, Any]:
        cid = self._known_channel(params.get("channel"), allow_name=False)
        visible = [
            m
            for m in self._state.messages.values()
            if m["channel"] == cid and _in_channel(m) and _after(m, params.get("oldest"))
        ]
        return {"messages": [_shown(m, params) for m in reversed(visible)], "has_more": False}  # newest first

    def _list(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "channels": [
                {"id": cid, "name": name, "is_channel": True, "is_archived": False}
                for name, cid in self._channels.items()
            ],
            "response_metadata": {"next_cursor": ""},
        }


_METHODS = {
    "auth.test": lambda s, p: {
        "url": "https://test.slack.invalid/",
        "team": "Test",
        "user": "bot",
        "team_id": "T0TEST",
        "user_id": BOT_USER_ID,
        "bot_id": BOT_ID,
    },
    "chat.postMessage": SlackServer._post_message,
    "chat.update": SlackServer._update,
    "users.lookupByEmail": SlackServer._lookup_by_email,
    "conversations.replies": SlackServer._replies,
    "conversations.history": SlackServer._history,
    "conversations.list": SlackServer._list,
}


def _after(msg: dict[str, Any], oldest: Any) -> bool:
    return not oldest or float(msg["ts"]) >= float(oldest)


def _shown(msg: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """A message as the conversations.* methods return it: metadata only when asked for."""
    out = {k: v for k, v in msg.items() if k != "channel"}
    if not _truthy(params.get("include_all_metadata")):
        out.pop("metadata", None)
    return out


def _looks_like_id(channel: str) -> bool:
    return len(channel) >= 2 and channel[0] in "CGD" and channel[1:].isalnum() and channel.isupper()


def _in_channel(msg: dict[str, Any]) -> bool:
    """Shown in the channel itself: a top-level post (or thread parent) or a broadcast reply."""
    return msg.get("thread_ts") in (None, msg["ts"]) or msg.get("subtype") == "thread_broadcast"


def _truthy(value: Any) -> bool:
    return value in (True, 1, "1", "true", "True")


def _fault_response(fault: _Fault) -> tuple[int, dict[str, str], dict[str, Any] | str]:
    if fault.status == 429:
        return 429, {"Retry-After": str(fault.retry_after_s)}, {"ok": False, "error": "ratelimited"}
    if fault.status >= 500:
        return fault.status, {}, f"<html><body>{fault.status} Server Error</body></html>"
    return fault.status, {}, {"ok": False, "error": fault.error}


def _validated_content(params: dict[str, Any]) -> tuple[str, list[dict[str, Any]] | None]:
    text = str(params.get("text") or "")
    blocks = params.get("blocks")
    if isinstance(blocks, str):  # form-encoded bodies carry blocks as a JSON string
        try:
            blocks = json.loads(blocks)
        except json.JSONDecodeError as exc:
            raise SlackApiError("invalid_blocks_format") from exc
    if blocks is not None:
        _validate_blocks(blocks)
    if not text and not blocks:
        raise SlackApiError("no_text")
    if len(text) > MAX_MESSAGE_TEXT:
        raise SlackApiError("msg_too_long")
    return text, blocks


def _validate_blocks(blocks: Any) -> None:
    if not isinstance(blocks, list) or len(blocks) > MAX_BLOCKS:
        raise SlackApiError("invalid_blocks")
    total = 0
    for block in blocks:
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise SlackApiError("invalid_blocks")
        texts = [block.get("text")] + list(block.get("fields") or []) + list(block.get("elements") or [])
        for obj in texts:
            if isinstance(obj, dict) and isinstance(obj.get("text"), str):
                total += len(obj["text"])
        kind, text_obj = block["type"], block.get("text")
        text_len = len(text_obj.get("text", "")) if isinstance(text_obj, dict) else 0
        if kind == "section" and text_len > MAX_SECTION_TEXT:
            raise SlackApiError("invalid_blocks")
        if kind == "header" and (
            not isinstance(text_obj, dict)
            or text_obj.get("type") != "plain_text"
            or len(text_obj.get("text", "")) > MAX_HEADER_TEXT
        ):
            raise SlackApiError("invalid_blocks")
        if kind == "context" and len(block.get("elements") or []) > 10:
            raise SlackApiError("invalid_blocks")
    if total > MAX_TOTAL_BLOCK_TEXT:
        raise SlackApiError("msg_blocks_too_long")


def _handler_for(server: SlackServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            self._serve()

        def do_POST(self) -> None:  # noqa: N802
            self._serve()

        def _serve(self) -> None:
            url = urlsplit(self.path)
            method = url.path.rsplit("/", 1)[-1]
            params: dict[str, Any] = dict(parse_qsl(url.query))
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            ctype = self.headers.get("Content-Type", "")
            try:
                if raw and ctype.startswith("application/json"):
                    params.update(json.loads(raw))
                elif raw:
                    params.update(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
            except (ValueError, UnicodeDecodeError):
                self._send(200, {}, {"ok": False, "error": "invalid_json"})
                return
            headers = {k.lower(): v for k, v in self.headers.items()}
            self._send(*server.handle(method, params, headers))

        def _send(self, status: int, extra: dict[str, str], body: dict[str, Any] | str) -> None:
            is_json = isinstance(body, dict)
            payload = (json.dumps(body) if is_json else str(body)).encode("utf-8")
            self.send_response(status)
            self.send_header(
                "Content-Type", "application/json; charset=utf-8" if is_json else "text/html; charset=utf-8"
            )
            self.send_header("Content-Length", str(len(payload)))
            try:
                for key, value in extra.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting ("slow")
                self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet in tests
            pass

    return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A Slack-compatible Web API server for tests.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument(
        "--enforce-limits", action="store_true", help="answer 429 over Slack's published rate limits (SLACK_LIMITS)"
    )
    parser.add_argument(
        "--user",
        action="append",
        default=[],
        metavar="EMAIL=UID",
        help="seed the directory (repeatable), e.g. maria@example.com=U0MARIA",
    )
    args = parser.parse_args(argv)
    users = dict(item.split("=", 1) for item in args.user)
    server = SlackServer(
        token=args.token, users=users, host=args.host, port=args.port, enforce_limits=args.enforce_limits
    )
    print(server.base_url, flush=True)
    try:
        server._httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server._httpd.server_close()


if __name__ == "__main__":
    main()
