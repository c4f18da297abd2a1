"""shared.slack against the Slack-compatible server, with the real slack-sdk WebClient.

Nothing of ours is mocked: the production client (make_web_client, retry handlers included)
talks HTTP to tests.slack_server, which answers the way Slack does, faults included.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from shared.errors import SlackPermanent, SlackRetryable
from shared.ports import PostedMessage
from shared.retry_policy import SLACK_DELIVERY
from shared.settings import Settings, load_settings
from shared.slack import (
    ConsoleDirectory,
    ConsoleSink,
    ShortRateLimitRetryHandler,
    SlackSink,
    SlackUserDirectory,
    make_directory,
    make_sink,
    make_web_client,
)
from shared.slack_format import opening_blocks, report_blocks, update_blocks
from tests.slack import cases
from tests.slack_server import SlackServer

pytestmark = pytest.mark.integration
CHANNEL = "#incidents"


def test_the_client_has_bounded_retry_handlers(client: WebClient, slack: SlackServer) -> None:
    handlers = {type(h): h.max_retry_count for h in client.retry_handlers}
    assert handlers == {ShortRateLimitRetryHandler: 3, ServerErrorRetryHandler: 2, ConnectionErrorRetryHandler: 2}
    assert all(isinstance(h, RateLimitErrorRetryHandler) for h in client.retry_handlers[:1])
    assert client.base_url == slack.base_url


def test_a_short_retry_after_is_waited_in_the_call(settings: Settings, slack: SlackServer) -> None:
    sink = SlackSink(make_web_client(settings, writes=True))
    slack.rate_limit("chat.postMessage", retry_after_s=1)
    sink.post(channel=CHANNEL, text="after one 429")
    assert len(slack.calls("chat.postMessage")) == 2 and len(slack.top_level_messages(CHANNEL)) == 1


def test_a_long_retry_after_reaches_the_task_as_its_countdown_without_sleeping(
    settings: Settings, slack: SlackServer
) -> None:
    # Given Slack asking for 30 s: sleeping in the call would hold the incident's lock and a worker
    sink = SlackSink(make_web_client(settings, writes=True))
    slack.rate_limit("chat.postMessage", retry_after_s=30)
    with pytest.raises(SlackRetryable) as caught:
        sink.post(channel=CHANNEL, text="rate limited")
    # Then it was not retried here, and the wait Slack asked for is what the task's policy will use
    assert len(slack.calls("chat.postMessage")) == 1 and caught.value.retry_after_s == 30
    assert SLACK_DELIVERY.countdown(0, retry_after_s=caught.value.retry_after_s, rand=lambda: 0.5) == 30


# ---- SlackSink ------------------------------------------------------------------------------
def test_post_update_and_thread_reply(client: WebClient, slack: SlackServer) -> None:
    # Given the opening placeholder
    sink = SlackSink(client)
    text, blocks = opening_blocks(cases.incident())
    opened = sink.post(channel=CHANNEL, text=text, blocks=blocks)
    # When a specialist replies in its thread and the report replaces the placeholder
    reply = sink.post(channel=opened.channel, thread_ts=opened.ts, text="reply", blocks=None)
    text, blocks = report_blocks(cases.complete_report())
    sink.update(channel=opened.channel, ts=opened.ts, text=text, blocks=blocks)
    # Then the channel shows one message, the report, with the reply under it
    assert opened.channel == slack.channel_id(CHANNEL) and opened.channel.startswith("C")
    [top] = slack.top_level_messages(CHANNEL)
    assert top["ts"] == opened.ts and top["text"] == text and top["blocks"] == blocks and "edited" in top
    assert [m["ts"] for m in slack.replies(opened.ts)] == [reply.ts]
    assert float(reply.ts) > float(opened.ts)
    post = slack.calls("chat.postMessage")[0]
    assert post.params["unfurl_links"] is False and post.params["unfurl_media"] is False
    assert post.headers["authorization"] == f"Bearer {slack.token}"


def test_hostile_text_reaches_slack_escaped(client: WebClient, slack: SlackServer) -> None:
    text, blocks = report_blocks(cases.hostile_report())
    posted = SlackSink(client).post(channel=CHANNEL, text=text, blocks=blocks)
    wire = json.dumps(slack.message(posted.ts))
    assert "&lt;!channel&gt;" in wire and "<!channel>" not in wire and "<https://evil" not in wire
    assert "<@U0MARIA>" in wire


def test_a_huge_report_and_finding_are_accepted_by_slack(client: WebClient, slack: SlackServer) -> None:
    big = cases.complete_report().model_copy(
        update={"root_cause": "<&>" * 20_000, "impact": "i" * 30_000, "owner": "o" * 50_000, "next_action": "n" * 9_000}
    )
    sink = SlackSink(client)
    text, blocks = report_blocks(big)
    posted = sink.post(channel=CHANNEL, text=text, blocks=blocks)
    text, blocks = update_blocks(cases.hostile_finding().model_copy(update={"summary": "s" * 1_000}))
    sink.post(channel=posted.channel, thread_ts=posted.ts, text=text, blocks=blocks)
    assert [c.error for c in slack.calls()] == [None, None]


def test_update_needs_the_channel_id_like_slack(client: WebClient, slack: SlackServer) -> None:
    sink = SlackSink(client)
    posted = sink.post(channel=CHANNEL, text="placeholder")
    with pytest.raises(SlackPermanent, match="channel_not_found"):
        sink.update(channel=CHANNEL, ts=posted.ts, text="report")  # a name: Slack says channel_not_found
    with pytest.raises(SlackPermanent, match="message_not_found"):
        sink.update(channel=posted.channel, ts="1.000001", text="report")


def test_a_rate_limited_post_is_retried_and_posted_once(client: WebClient, slack: SlackServer) -> None:
    slack.rate_limit("chat.postMessage", times=1, retry_after_s=1)
    posted = SlackSink(client).post(channel=CHANNEL, text="hello")
    assert [c.status for c in slack.calls("chat.postMessage")] == [429, 200]
    assert [m["ts"] for m in slack.top_level_messages(CHANNEL)] == [posted.ts]


@pytest.mark.parametrize("status", [500, 503])
def test_a_server_error_is_retried(client: WebClient, slack: SlackServer, status: int) -> None:
    slack.fail("chat.postMessage", status=status, times=1)
    SlackSink(client).post(channel=CHANNEL, text="hello")
    assert [c.status for c in slack.calls("chat.postMessage")] == [status, 200]
    assert len(slack.top_level_messages(CHANNEL)) == 1


def test_server_errors_beyond_the_retries_are_retryable(client: WebClient, slack: SlackServer) -> None:
    slack.fail("chat.update", status=503, times=3)
    with pytest.raises(SlackRetryable) as caught:
        SlackSink(client).update(channel="C0INCIDENTS", ts="1.000001", text="report")
    assert isinstance(caught.value.__cause__, SlackApiError)
    assert len(slack.calls("chat.update")) == 3  # the first try and two retries


def test_a_429_maps_to_retryable_with_retry_after(bare_client: WebClient, slack: SlackServer) -> None:
    slack.rate_limit("chat.postMessage", retry_after_s=7)
    with pytest.raises(SlackRetryable) as caught:
        SlackSink(bare_client).post(channel=CHANNEL, text="hello")
    assert caught.value.retry_after_s == 7
    assert slack.top_level_messages(CHANNEL) == []


def test_channel_not_found_is_permanent(client: WebClient, slack: SlackServer) -> None:
    slack.fail_with("chat.postMessage", error="channel_not_found")
    with pytest.raises(SlackPermanent, match="channel_not_found") as caught:
        SlackSink(client).post(channel="#nowhere", text="hello")
    assert isinstance(caught.value.__cause__, SlackApiError)
    assert len(slack.calls("chat.postMessage")) == 1  # not retried


def test_an_invalid_token_is_permanent(slack: SlackServer, settings: Settings) -> None:
    wrong = make_web_client(
        settings.model_copy(update={"slack_bot_token": load_settings(slack_bot_token="xoxb-wrong").slack_bot_token})
    )
    with pytest.raises(SlackPermanent, match="invalid_auth"):
        SlackSink(wrong).post(channel=CHANNEL, text="hello")


def test_a_refused_connection_is_retryable(slack: SlackServer) -> None:
    client = WebClient(token=slack.token, base_url=slack.base_url, timeout=5, retry_handlers=[])
    slack.stop()  # nothing listens on the port any more
    with pytest.raises(SlackRetryable):
        SlackSink(client).post(channel=CHANNEL, text="hello")


# ---- SlackUserDirectory ---------------------------------------------------------------------
def test_email_resolution_and_cache(client: WebClient, slack: SlackServer) -> None:
    directory = SlackUserDirectory(client)
    assert directory.user_id_for_email("maria@example.com") == "U0MARIA"
    assert directory.user_id_for_email(" Maria@Example.COM ") == "U0MARIA"  # same key: a cache hit
    assert directory.user_id_for_email("nobody@example.com") is None
    assert directory.user_id_for_email("nobody@example.com") is None  # negative results are cached too
    assert [c.params["email"] for c in slack.calls("users.lookupByEmail")] == [
        "maria@example.com",
        "nobody@example.com",
    ]


def test_cache_entries_expire(client: WebClient, slack: SlackServer) -> None:
    now = [1_000.0]
    directory = SlackUserDirectory(client, ttl_s=60, negative_ttl_s=10, clock=lambda: now[0])
    directory.user_id_for_email("maria@example.com")
    directory.user_id_for_email("nobody@example.com")
    now[0] += 30  # the negative entry is stale, the positive one is not
    directory.user_id_for_email("maria@example.com")
    directory.user_id_for_email("nobody@example.com")
    assert [c.params["email"] for c in slack.calls("users.lookupByEmail")] == [
        "maria@example.com",
        "nobody@example.com",
        "nobody@example.com",
    ]


def test_a_rate_limited_lookup_is_retried(client: WebClient, slack: SlackServer) -> None:
    slack.rate_limit("users.lookupByEmail", times=1, retry_after_s=1)
    assert SlackUserDirectory(client).user_id_for_email("ops@example.com") == "U0OPS"
    assert [c.status for c in slack.calls("users.lookupByEmail")] == [429, 200]


def test_other_lookup_errors_are_permanent(client: WebClient, slack: SlackServer) -> None:
    slack.fail_with("users.lookupByEmail", error="missing_scope")
    with pytest.raises(SlackPermanent, match="missing_scope"):
        SlackUserDirectory(client).user_id_for_email("maria@example.com")


def test_the_client_side_throttle_refuses_beyond_its_bound(client: WebClient, slack: SlackServer) -> None:
    directory = SlackUserDirectory(client, rate_per_min=1, burst=1, max_wait_s=0)
    assert directory.user_id_for_email("maria@example.com") == "U0MARIA"
    with pytest.raises(SlackRetryable) as caught:
        directory.user_id_for_email("ops@example.com")
    assert caught.value.retry_after_s is not None and caught.value.retry_after_s > 0
    assert directory.user_id_for_email("maria@example.com") == "U0MARIA"  # cache hits need no token
    assert len(slack.calls("users.lookupByEmail")) == 1


# ---- console adapters and factories ---------------------------------------------------------
def test_console_sink_writes_the_outbox(tmp_path: Path) -> None:
    outbox = tmp_path / "state" / "nested" / "outbox.jsonl"
    sink = ConsoleSink(outbox)
    opened = sink.post(channel=CHANNEL, text="placeholder", blocks=[{"type": "divider"}])
    reply = sink.post(channel=opened.channel, thread_ts=opened.ts, text="reply")
    sink.update(channel=opened.channel, ts=opened.ts, text="report", blocks=None)
    lines = [json.loads(line) for line in outbox.read_text().splitlines()]
    assert [(r["method"], r["ts"], r["thread_ts"], r["text"]) for r in lines] == [
        ("chat.postMessage", opened.ts, None, "placeholder"),
        ("chat.postMessage", reply.ts, opened.ts, "reply"),
        ("chat.update", opened.ts, None, "report"),
    ]
    assert lines[0]["blocks"] == [{"type": "divider"}] and lines[0]["channel"] == CHANNEL
    assert all(set(r) - {"tag"} == {"method", "channel", "ts", "thread_ts", "text", "blocks", "at"} for r in lines)
    assert opened == PostedMessage(channel=CHANNEL, ts=opened.ts)
    assert float(reply.ts) > float(opened.ts)


def test_console_ts_values_are_unique(tmp_path: Path) -> None:
    sink = ConsoleSink(tmp_path / "outbox.jsonl")
    ts = [sink.post(channel=CHANNEL, text=str(i)).ts for i in range(200)]
    assert len(set(ts)) == 200 and ts == sorted(ts, key=float)


def test_factories_choose_slack_with_a_token_and_the_console_without(settings: Settings) -> None:
    assert isinstance(make_sink(settings), SlackSink)
    assert isinstance(make_directory(settings), SlackUserDirectory)
    offline = settings.model_copy(update={"slack_bot_token": None})
    sink = make_sink(offline)
    assert isinstance(sink, ConsoleSink)
    directory = make_directory(offline)
    assert isinstance(directory, ConsoleDirectory)
    assert directory.user_id_for_email("maria@example.com") is None
