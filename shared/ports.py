"""The small interfaces (ports) the services depend on, each with real adapters elsewhere.

Tests use the real adapters against real servers (Redis, the Slack-compatible test server);
a fake, where one is needed, implements the same Protocol instead of patching module paths.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class PostedMessage:
    """Where a message landed. Slack answers with the channel *id*, which chat.update requires."""

    channel: str
    ts: str


class IncidentSink(Protocol):
    """Where incident messages go: Slack (``shared.slack.SlackSink``) or the terminal (``ConsoleSink``)."""

    def post(
        self,
        *,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
        tag: str | None = None,
    ) -> PostedMessage:
        """Post a message (a thread reply when ``thread_ts`` is given); returns its channel id and ts.

        ``tag`` is carried with the message (Slack message metadata) so that ``find_tagged`` can
        tell, after an ambiguous failure, whether the post happened.
        """
        ...

    def find_tagged(
        self, *, channel: str, tag: str, since_s: float, thread_ts: str | None = None
    ) -> PostedMessage | None:
        """The message posted with ``tag`` at or after ``since_s`` (epoch seconds), if there is one.

        Looks in the channel's history, or in the thread ``thread_ts``. Raises SlackRetryable
        when it cannot look (then nobody may post again yet).
        """
        ...

    def update(self, *, channel: str, ts: str, text: str, blocks: list[dict[str, Any]] | None = None) -> None:
        """Replace the text and blocks of the message ``ts``."""
        ...


class UserDirectory(Protocol):
    """Resolves an owner's email to a chat user id (Slack ``users.lookupByEmail``)."""

    def user_id_for_email(self, email: str) -> str | None:
        """The user id, or None when no user has that email."""
        ...
