"""The Slack side with the real slack-sdk against the Slack-compatible test server, and a real Redis."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from owner_notifier.service import notify_owners
from shared.contracts import FindingStatus
from shared.settings import Settings, load_settings
from shared.slack import SlackSink, SlackUserDirectory, make_web_client
from tests.owner_notifier.conftest import OWNERS_FILE, PROJECT, make_incident, redis_once
from tests.slack_server import SlackServer

pytestmark = pytest.mark.integration


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    with SlackServer(users={"maria@example.com": "U0MARIA", "ann@example.com": "U0ANN"}) as server:
        yield server


def _settings(slack: SlackServer) -> Settings:
    return load_settings(
        SLACK_BOT_TOKEN=slack.token,
        SLACK_API_URL=slack.base_url,
        DBT_PROJECT_DIR=str(PROJECT),
        OWNERS_FILE=str(OWNERS_FILE),
    )


def _thread(slack: SlackServer, settings: Settings) -> str:
    return SlackSink(make_web_client(settings)).post(channel="#incidents", text="incident opened").ts


def test_email_resolves_to_a_user_id_and_the_ping_lands_in_the_thread(
    slack: SlackServer, owner_redis: redis.Redis
) -> None:
    settings = _settings(slack)
    client = make_web_client(settings)
    thread_ts = _thread(slack, settings)
    incident = make_incident(model="fct_orders").model_copy(update={"thread_ts": thread_ts})
    finding = notify_owners(
        incident,
        settings,
        sink=SlackSink(client),
        directory=SlackUserDirectory(client),
        once=redis_once(owner_redis, "t-email"),
    )
    assert finding.status is FindingStatus.OK
    assert finding.summary == "fct_orders → <@U0MARIA> (manifest:config.meta.owner)"
    [reply] = slack.replies(thread_ts)
    assert reply["text"].startswith("<@U0MARIA> ") and "fct_orders" in reply["text"]
    assert [c.params.get("email") for c in slack.calls("users.lookupByEmail")] == ["maria@example.com"]


def test_unknown_email_is_reported_with_the_raw_owner_and_nobody_is_pinged(
    slack: SlackServer, owner_redis: redis.Redis
) -> None:
    settings = _settings(slack)
    client = make_web_client(settings)
    thread_ts = _thread(slack, settings)
    incident = make_incident(model="fct_revenue").model_copy(update={"thread_ts": thread_ts})  # lee@ unknown
    finding = notify_owners(
        incident,
        settings,
        sink=SlackSink(client),
        directory=SlackUserDirectory(client),
        once=redis_once(owner_redis, "t-unknown"),
    )
    [owner] = finding.details.owners
    assert owner.owner == "lee@example.com" and owner.slack is None and owner.pinged is False
    assert "no Slack user has this email" in owner.note
    assert "lee@example.com" in finding.summary
    assert slack.replies(thread_ts) == []


def test_a_rate_limited_lookup_is_retried_after_retry_after(slack: SlackServer, owner_redis: redis.Redis) -> None:
    settings = _settings(slack)
    client = make_web_client(settings)
    thread_ts = _thread(slack, settings)
    slack.rate_limit("users.lookupByEmail", times=1, retry_after_s=1)
    incident = make_incident(model="fct_orders").model_copy(update={"thread_ts": thread_ts})
    finding = notify_owners(
        incident,
        settings,
        sink=SlackSink(client),
        directory=SlackUserDirectory(client),
        once=redis_once(owner_redis, "t-429"),
    )
    assert finding.details.owners[0].slack == "<@U0MARIA>"
    assert len(slack.calls("users.lookupByEmail")) == 2  # the 429, then the answer
    assert len(slack.replies(thread_ts)) == 1


def test_one_ping_per_owner_when_the_task_runs_twice(slack: SlackServer, owner_redis: redis.Redis) -> None:
    settings = _settings(slack)
    thread_ts = _thread(slack, settings)
    incident = make_incident().model_copy(update={"thread_ts": thread_ts})  # run_results: fct_orders + a test
    findings = []
    for _ in range(2):  # a redelivered task: a new worker process would build new clients
        client = make_web_client(settings)
        findings.append(
            notify_owners(
                incident,
                settings,
                sink=SlackSink(client),
                directory=SlackUserDirectory(client),
                once=redis_once(owner_redis, "t-twice"),
            )
        )
    mentions = sorted(r["text"].split()[0] for r in slack.replies(thread_ts))
    assert mentions == ["<@U0ANN>", "<@U0MARIA>"]
    assert all(o.pinged for o in findings[1].details.owners if o.slack)  # already pinged, by run 1
