"""shared.slack_budget on a real Redis: the GCRA turns, refusals, 429 blocks, and its use by the sink.

The algorithm is checked on times we choose (``at_s`` replaces Redis's clock), so every wait is
an exact value rather than a measured duration; the sink and directory tests use a real Redis,
the real slack-sdk and the Slack test server enforcing Slack's limits.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from incident_cli.stack import RedisServer, free_port
from shared.errors import SlackRetryable
from shared.settings import Settings, load_settings
from shared.slack import (
    ShortRateLimitRetryHandler,
    SlackSink,
    SlackUserDirectory,
    make_budget,
    make_directory,
    make_sink,
    make_web_client,
)
from shared.slack_budget import IDLE_TTL_S, SLACK_RATES, Rate, SlackBudget
from tests.slack_server import Limit, SlackServer

pytestmark = pytest.mark.integration
T0 = 1_800_000_000.0  # a time we choose, in Redis's epoch seconds
POST = "chat.postMessage"
C1, C2 = "C0000000001", "C0000000002"


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    return f"{redis_server.url}/{2 + uuid.uuid4().int % 12}"


@pytest.fixture
def prefix() -> str:
    return f"test:budget:{uuid.uuid4().hex}"


@pytest.fixture
def budget(redis_url: str, prefix: str) -> SlackBudget:
    return SlackBudget.from_url(redis_url, prefix=prefix)


def _waits(budget: SlackBudget, n: int, *, at_s: float, channel: str | None = C1, method: str = POST) -> list[float]:
    return [budget.reserve(method, channel, max_wait_s=60, at_s=at_s).wait_s for _ in range(n)]


# ---- the algorithm, on chosen times --------------------------------------------------------------
def test_the_rate_table_is_slacks_published_limits() -> None:
    assert SLACK_RATES[POST] == Rate(per_s=1.0, burst=2, per_channel=True, source=SLACK_RATES[POST].source)
    assert "api.slack.com/methods/chat.postMessage" in SLACK_RATES[POST].source
    for tier_3 in ("chat.update", "users.lookupByEmail", "conversations.history", "conversations.replies"):
        assert SLACK_RATES[tier_3].per_s == pytest.approx(50 / 60) and not SLACK_RATES[tier_3].per_channel
    assert SLACK_RATES["conversations.list"].per_s == pytest.approx(20 / 60)


def test_a_burst_goes_at_once_then_one_turn_per_interval(budget: SlackBudget) -> None:
    # Given chat.postMessage's budget (1 a second, bursts of 2), five calls at the same instant
    assert _waits(budget, 5, at_s=T0) == [0.0, 0.0, 1.0, 2.0, 3.0]


def test_the_budget_refills_with_time(budget: SlackBudget) -> None:
    assert _waits(budget, 2, at_s=T0) == [0.0, 0.0]
    # Then after 3 idle seconds the burst is back, and no more than the burst
    assert _waits(budget, 3, at_s=T0 + 3) == [0.0, 0.0, 1.0]


def test_a_turn_too_far_away_is_refused_and_reserves_nothing(budget: SlackBudget) -> None:
    _waits(budget, 2, at_s=T0)
    refused = budget.reserve(POST, C1, max_wait_s=0.5, at_s=T0)
    assert not refused.granted and refused.wait_s == 1.0
    # Then the next caller gets that same turn: the refusal took nothing
    assert budget.reserve(POST, C1, max_wait_s=5, at_s=T0).wait_s == 1.0


def test_channels_have_their_own_post_budget_and_tier_methods_one_for_all(budget: SlackBudget) -> None:
    assert _waits(budget, 3, at_s=T0, channel=C1) == [0.0, 0.0, 1.0]
    assert _waits(budget, 3, at_s=T0, channel=C2) == [0.0, 0.0, 1.0]
    # chat.update (Tier 3: 50 a minute, bursts of 5) is one budget whatever the channel
    update = [budget.reserve("chat.update", c, max_wait_s=60, at_s=T0).wait_s for c in (C1, C2, C1, C2, C1, C2)]
    assert update[:5] == [0.0] * 5 and update[5] == pytest.approx(1.2, abs=1e-5)
    assert budget.key("chat.update", C1) == budget.key("chat.update", C2) != budget.key(POST, C1)


def test_a_429_blocks_everyone_until_retry_after_then_one_per_interval(budget: SlackBudget) -> None:
    # Given Slack answered one caller 429 with Retry-After: 5
    assert budget.penalize(POST, C1, retry_after_s=5, at_s=T0) == T0 + 5
    assert budget.blocked_until(POST, C1) == T0 + 5
    # Then every caller's turn is after it, with no burst at its end; other channels go on
    assert _waits(budget, 3, at_s=T0) == [5.0, 6.0, 7.0]
    assert _waits(budget, 1, at_s=T0, channel=C2) == [0.0]
    # And a shorter, later block does not shorten it
    assert budget.penalize(POST, C1, retry_after_s=1, at_s=T0 + 1) == T0 + 5


def test_a_429_without_retry_after_blocks_for_a_second(budget: SlackBudget) -> None:
    assert budget.penalize(POST, C1, retry_after_s=None, at_s=T0) == T0 + 1


def test_methods_without_a_rate_are_not_budgeted(budget: SlackBudget, redis_url: str, prefix: str) -> None:
    assert _waits(budget, 5, at_s=T0, method="auth.test") == [0.0] * 5
    assert budget.acquire("auth.test", max_wait_s=0) == 0.0
    assert redis.Redis.from_url(redis_url).keys(f"{prefix}*") == []


def test_idle_budgets_expire(budget: SlackBudget, redis_url: str) -> None:
    budget.reserve(POST, C1, max_wait_s=0)  # on Redis's clock
    ttl_ms = redis.Redis.from_url(redis_url).pttl(budget.key(POST, C1))
    assert 0 < ttl_ms <= (1 + IDLE_TTL_S) * 1000


# ---- acquire: waiting, refusing, a block that lands on a sleeping caller ----------------------------
def test_acquire_sleeps_until_its_turn(redis_url: str, prefix: str) -> None:
    slept: list[float] = []
    budget = SlackBudget.from_url(
        redis_url, prefix=prefix, rates={POST: Rate(per_s=1 / 60, burst=1)}, sleep=slept.append
    )
    assert budget.acquire(POST, C1, max_wait_s=120) == 0.0
    waited = budget.acquire(POST, C1, max_wait_s=120)
    assert len(slept) == 1 and waited == slept[0] and 0 < waited <= 60


def test_acquire_raises_the_retryable_error_when_the_wait_is_too_long(redis_url: str, prefix: str) -> None:
    slept: list[float] = []
    budget = SlackBudget.from_url(
        redis_url, prefix=prefix, rates={POST: Rate(per_s=1 / 60, burst=1)}, sleep=slept.append
    )
    budget.acquire(POST, C1, max_wait_s=5)
    with pytest.raises(SlackRetryable) as caught:
        budget.acquire(POST, C1, max_wait_s=5)
    assert slept == [] and caught.value.retry_after_s is not None and 5 < caught.value.retry_after_s <= 60
    assert "shared Slack budget" in str(caught.value)


def test_a_block_that_lands_on_a_sleeping_turn_sends_the_caller_back_to_the_queue(redis_url: str, prefix: str) -> None:
    # Given a caller asleep until its turn, and another process answered 429 (Retry-After 30) meanwhile
    rates = {POST: Rate(per_s=1.0, burst=1)}
    other = SlackBudget.from_url(redis_url, prefix=prefix, rates=rates)
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        other.penalize(POST, C1, retry_after_s=30)

    budget = SlackBudget.from_url(redis_url, prefix=prefix, rates=rates, sleep=sleep)
    budget.acquire(POST, C1, max_wait_s=5)
    # When it wakes, its turn is inside the block: it takes a new one, which is too far: the task retries
    with pytest.raises(SlackRetryable) as caught:
        budget.acquire(POST, C1, max_wait_s=5)
    assert len(slept) == 1 and caught.value.retry_after_s is not None and caught.value.retry_after_s > 25


def test_without_redis_the_budget_is_skipped(caplog: pytest.LogCaptureFixture) -> None:
    budget = SlackBudget.from_url(f"redis://127.0.0.1:{free_port()}/0")
    assert budget.acquire(POST, C1, max_wait_s=0) == 0.0
    assert budget.penalize(POST, C1, retry_after_s=5) is None and budget.blocked_until(POST, C1) is None
    assert "Slack budget unavailable" in caplog.text


# ---- the sink and the directory, on the enforcing Slack test server --------------------------------
@pytest.fixture
def limited() -> Iterator[SlackServer]:
    with SlackServer(users={"maria@example.com": "U0MARIA", "ops@example.com": "U0OPS"}, enforce_limits=True) as s:
        yield s


def _settings(slack: SlackServer, redis_url: str) -> Settings:
    return load_settings(
        slack_bot_token=slack.token, slack_api_url=slack.base_url, slack_timeout_s=5, CELERY_RESULT_BACKEND=redis_url
    )


def test_make_budget_uses_the_state_redis_and_only_with_slack(limited: SlackServer, redis_url: str) -> None:
    budget = make_budget(_settings(limited, redis_url))
    assert isinstance(budget, SlackBudget)
    assert make_budget(load_settings(CELERY_RESULT_BACKEND=redis_url)) is None


def test_with_a_budget_the_sdk_does_not_wait_out_429s_unseen(limited: SlackServer, redis_url: str) -> None:
    settings = _settings(limited, redis_url)
    sink = make_sink(settings, budget=make_budget(settings))
    assert isinstance(sink, SlackSink)
    assert not any(isinstance(h, ShortRateLimitRetryHandler) for h in sink._client.retry_handlers)
    plain = make_sink(settings)
    assert isinstance(plain, SlackSink)
    assert any(isinstance(h, ShortRateLimitRetryHandler) for h in plain._client.retry_handlers)


def test_a_429_is_shared_waited_out_and_the_post_made_once(limited: SlackServer, redis_url: str, prefix: str) -> None:
    # Given Slack answering the next post 429, Retry-After: 1
    settings = _settings(limited, redis_url)
    budget = SlackBudget.from_url(redis_url, prefix=prefix)
    sink = make_sink(settings, budget=budget)
    channel = limited.channel_id("#incidents")
    limited.rate_limit(POST, retry_after_s=1)
    # When we post
    sink.post(channel=channel, text="after one 429")
    # Then the block was recorded for every process, and the post made once, after it
    assert budget.blocked_until(POST, channel) is not None
    assert [c.status for c in limited.calls(POST)] == [429, 200]
    assert len(limited.top_level_messages("#incidents")) == 1


def test_a_long_retry_after_reaches_the_task_and_holds_back_every_process(
    limited: SlackServer, redis_url: str, prefix: str
) -> None:
    settings = _settings(limited, redis_url)
    channel = limited.channel_id("#incidents")
    first = make_sink(settings, budget=SlackBudget.from_url(redis_url, prefix=prefix))
    other = make_sink(settings, budget=SlackBudget.from_url(redis_url, prefix=prefix))  # "another worker"
    limited.rate_limit(POST, retry_after_s=30)
    with pytest.raises(SlackRetryable) as caught:
        first.post(channel=channel, text="rate limited")
    assert caught.value.retry_after_s is not None and caught.value.retry_after_s > 25
    # Then the other worker does not call Slack at all: it is told to come back later
    with pytest.raises(SlackRetryable):
        other.post(channel=channel, text="held back")
    assert limited.rate_limited_count(POST) == 1 and len(limited.calls(POST)) == 1


def test_a_post_by_name_and_replies_by_id_draw_from_one_channel_budget(
    limited: SlackServer, redis_url: str, prefix: str
) -> None:
    # Given a budget of two posts an hour per channel, and two workers
    settings = _settings(limited, redis_url)
    rates = {POST: Rate(per_s=1 / 3600, burst=2, per_channel=True)}
    client = make_web_client(settings, writes=True, retry_rate_limits=False)
    commander = SlackSink(client, budget=SlackBudget.from_url(redis_url, prefix=prefix, rates=rates))
    other = SlackSink(client, budget=SlackBudget.from_url(redis_url, prefix=prefix, rates=rates), max_wait_s=0)
    # When one posts by name and replies by the id Slack answered with
    opened = commander.post(channel="#incidents", text="opening")
    commander.post(channel=opened.channel, thread_ts=opened.ts, text="reply")
    # Then the other, posting by name, finds that channel's budget spent
    with pytest.raises(SlackRetryable):
        other.post(channel="#incidents", text="a third")
    assert len(limited.calls(POST)) == 2


def test_lookups_share_one_budget_across_directories(limited: SlackServer, redis_url: str, prefix: str) -> None:
    settings = _settings(limited, redis_url)
    rates = {"users.lookupByEmail": Rate(per_s=1 / 3600, burst=1)}
    one = make_directory(settings, budget=SlackBudget.from_url(redis_url, prefix=prefix, rates=rates))
    assert isinstance(one, SlackUserDirectory)
    assert one.user_id_for_email("maria@example.com") == "U0MARIA"
    # Then another process's directory, which has made no lookup itself, waits its turn too
    two = SlackUserDirectory(
        make_web_client(settings, retry_rate_limits=False),
        budget=SlackBudget.from_url(redis_url, prefix=prefix, rates=rates),
        max_wait_s=0,
    )
    with pytest.raises(SlackRetryable):
        two.user_id_for_email("ops@example.com")
    assert len(limited.calls("users.lookupByEmail")) == 1


def test_the_server_limits_are_a_little_above_the_budget() -> None:
    from tests.slack_server import SLACK_LIMITS

    for method, rate in SLACK_RATES.items():
        limit = SLACK_LIMITS[method]
        assert isinstance(limit, Limit) and limit.per_channel == rate.per_channel
        assert rate.per_s <= limit.per_s and rate.burst < limit.burst


def test_a_channel_name_is_resolved_once_for_all_workers(limited: SlackServer, redis_url: str, prefix: str) -> None:
    settings = _settings(limited, redis_url)
    sinks = [make_sink(settings, budget=SlackBudget.from_url(redis_url, prefix=prefix)) for _ in range(3)]
    for sink in sinks:
        sink.post(channel="#incidents", text="by name")
    assert len(limited.calls("conversations.list")) == 1
    assert SlackBudget.from_url(redis_url, prefix=prefix).channel_id("#incidents") == limited.channel_id("#incidents")


def test_without_channels_read_a_post_by_name_still_goes_and_teaches_the_id(
    limited: SlackServer, redis_url: str, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(limited, redis_url)
    budget = SlackBudget.from_url(redis_url, prefix=prefix)
    limited.fail_with("conversations.list", "missing_scope")
    posted = make_sink(settings, budget=budget).post(channel="#incidents", text="by name")
    assert posted.channel == limited.channel_id("#incidents") and "cannot resolve #incidents" in caplog.text
    assert budget.channel_id("#incidents") == posted.channel


def test_with_the_budget_down_a_429_goes_back_to_the_caller_with_its_retry_after(limited: SlackServer) -> None:
    # Given a budget whose Redis does not answer (so the 429 cannot be shared), and a 429 for 30 s
    down = SlackBudget.from_url(f"redis://127.0.0.1:{free_port()}/0")
    settings = _settings(limited, f"redis://127.0.0.1:{free_port()}/0")
    sink = make_sink(settings, budget=down)
    channel = limited.channel_id("#incidents")
    limited.rate_limit(POST, retry_after_s=30)
    # When we post, Then Slack is not called again at once: the caller's retry waits the 30 s
    with pytest.raises(SlackRetryable) as caught:
        sink.post(channel=channel, text="rate limited")
    assert caught.value.retry_after_s is not None and caught.value.retry_after_s >= 29
    assert [c.status for c in limited.calls(POST)] == [429]


def test_only_a_process_whose_calls_are_retried_takes_turns_in_the_shared_budget(
    limited: SlackServer, redis_url: str
) -> None:
    # A specialist's reply or an owner ping is not retried: a refused turn would drop it
    from shared.runtime import build_runtime

    settings = _settings(limited, redis_url)
    specialist = build_runtime(settings, shared_slack_budget=False)
    commander = build_runtime(settings, shared_slack_budget=True)
    assert isinstance(specialist.sink, SlackSink) and specialist.sink._budget is None
    assert isinstance(commander.sink, SlackSink) and isinstance(commander.sink._budget, SlackBudget)
