"""Fixtures for the Slack tests: a real Slack-compatible server and settings pointing at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from slack_sdk import WebClient

from shared.settings import Settings, load_settings
from shared.slack import make_web_client
from tests.slack_server import SlackServer

USERS = {"maria@example.com": "U0MARIA", "ops@example.com": "U0OPS"}


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    with SlackServer(users=USERS) as server:
        yield server


@pytest.fixture
def settings(slack: SlackServer, tmp_path: Path) -> Settings:
    return load_settings(
        slack_bot_token=slack.token,
        slack_api_url=slack.base_url,
        slack_timeout_s=5,
        outbox_path=tmp_path / "outbox.jsonl",
    )


@pytest.fixture
def client(settings: Settings) -> WebClient:
    """The production client (make_web_client), retry handlers and all."""
    return make_web_client(settings)


@pytest.fixture
def bare_client(slack: SlackServer) -> WebClient:
    """A client without retry handlers, to see how a single Slack answer is mapped."""
    return WebClient(token=slack.token, base_url=slack.base_url, timeout=5, retry_handlers=[])
