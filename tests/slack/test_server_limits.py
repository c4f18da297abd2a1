"""The Slack test server's rate-limit mode: Slack's published limits, answered 429 with Retry-After.

Limits slow enough that no token comes back during a test are passed where the count of 429s
matters, so the counts do not depend on how fast this machine is.
"""

from __future__ import annotations

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from tests.slack_server import SLACK_LIMITS, Limit, SlackServer

pytestmark = pytest.mark.integration
POST = "chat.postMessage"


def _client(slack: SlackServer) -> WebClient:
    return WebClient(token=slack.token, base_url=slack.base_url, timeout=5, retry_handlers=[])


def _statuses(client: WebClient, n: int, **kwargs: object) -> list[int]:
    out = []
    for i in range(n):
        try:
            client.chat_postMessage(text=f"message {i}", **kwargs)  # type: ignore[arg-type]
            out.append(200)
        except SlackApiError as exc:
            out.append(exc.response.status_code)
    return out


def test_the_limits_are_slacks_published_ones() -> None:
    assert SLACK_LIMITS[POST] == Limit(per_s=1.0, burst=3, per_channel=True)  # 1 a second per channel, bursts
    for tier_3 in ("chat.update", "users.lookupByEmail", "conversations.history", "conversations.replies"):
        assert SLACK_LIMITS[tier_3].per_s == pytest.approx(50 / 60) and not SLACK_LIMITS[tier_3].per_channel
    assert SLACK_LIMITS["conversations.list"].per_s == pytest.approx(20 / 60)


def test_limits_are_off_by_default() -> None:
    with SlackServer() as slack:
        assert _statuses(_client(slack), 8, channel="#incidents") == [200] * 8
        assert slack.rate_limited_count() == 0


def test_posts_over_the_burst_are_answered_429_with_retry_after_and_not_performed() -> None:
    with SlackServer(enforce_limits=True, limits={POST: Limit(per_s=1 / 60, burst=3, per_channel=True)}) as slack:
        client = _client(slack)
        assert _statuses(client, 5, channel="#incidents") == [200, 200, 200, 429, 429]
        with pytest.raises(SlackApiError) as caught:
            client.chat_postMessage(channel="#incidents", text="one more")
        assert caught.value.response["error"] == "ratelimited"
        assert 1 <= int(caught.value.response.headers["Retry-After"]) <= 60
        assert slack.rate_limited_count(POST) == 3 and slack.rate_limited_count() == 3
        assert len(slack.top_level_messages("#incidents")) == 3
        # Each channel has its own budget; a name and its id are one channel
        assert _statuses(client, 1, channel="#general") == [200]
        assert _statuses(client, 1, channel=slack.channel_id("#incidents")) == [429]


def test_tier_methods_are_limited_per_method_whatever_the_channel() -> None:
    with SlackServer(enforce_limits=True, limits={"chat.update": Limit(per_s=1 / 60, burst=2)}) as slack:
        client = _client(slack)
        posted = [client.chat_postMessage(channel=c, text="x") for c in ("#a", "#b", "#c")]
        answers = []
        for message in posted:
            try:
                client.chat_update(channel=message["channel"], ts=message["ts"], text="updated")
                answers.append(200)
            except SlackApiError as exc:
                answers.append(exc.response.status_code)
        assert answers == [200, 200, 429] and slack.rate_limited_count("chat.update") == 1


def test_a_429_holds_its_channel_for_its_retry_after() -> None:
    # Given one injected 429 (Retry-After: 30) while the bucket still has turns
    with SlackServer(enforce_limits=True) as slack:
        client = _client(slack)
        slack.rate_limit(POST, retry_after_s=30)
        assert _statuses(client, 1, channel="#incidents") == [429]
        # Then a call before the Retry-After is refused again, told to wait what remains of it
        with pytest.raises(SlackApiError) as caught:
            client.chat_postMessage(channel="#incidents", text="too soon")
        assert 1 <= int(caught.value.response.headers["Retry-After"]) <= 30
        # And another channel is not held
        assert _statuses(client, 1, channel="#general") == [200]
        assert slack.rate_limited_count(POST) == 2 and len(slack.top_level_messages("#incidents")) == 0
        slack.reset()  # forgets holds and buckets
        assert _statuses(client, 1, channel="#incidents") == [200]
