"""Owner string -> Slack mention: only <@U…> and <!subteam^…> ever come out, nothing is guessed."""

from __future__ import annotations

import pytest

from owner_notifier.mentions import resolve_mention
from shared.contracts import MENTION_PATTERN
from shared.errors import SlackRetryable
from tests.owner_notifier.conftest import DictDirectory

TEAMS = {
    "finance-team": "<!subteam^S0FIN|finance>",
    "data platform": "platform@example.com",
    "oncall": "@data-oncall",
    "bad": "<!channel>",
}


@pytest.mark.parametrize(
    ("owner", "slack", "via"),
    [
        ("<@U0MARIA>", "<@U0MARIA>", "as_given"),
        ("<@W0ENTERPRISE>", "<@W0ENTERPRISE>", "as_given"),
        ("<!subteam^S0FIN|finance>", "<!subteam^S0FIN>", "as_given"),  # the label dropped: one pattern
        ("subteam^S0FIN", "<!subteam^S0FIN>", "as_given"),
        ("maria@example.com", "<@U0MARIA>", "user_directory"),
        ("MARIA@example.com", "<@U0MARIA>", "user_directory"),
        ("nobody@example.com", None, "none"),
        ("@bob", None, "as_given"),  # kept as given: plain text in Slack, it notifies nobody
        ("finance-team", "<!subteam^S0FIN>", "owners_file"),
        ("Data Platform", "<@U0PLAT>", "owners_file"),  # team -> email -> user id
        ("oncall", None, "owners_file"),
        ("bad", None, "none"),  # an owners-file value that is not a mention is refused, not inserted
        ("Some Team", None, "none"),
        ("<!channel>", None, "none"),
        ("<@U0X|spoof> <!here>", None, "none"),
        ("<https://evil|click>", None, "none"),
        ("<!subteam^S0FIN|<!channel>>", None, "none"),  # a label may not smuggle markup
    ],
)
def test_resolve_mention(owner: str, slack: str | None, via: str) -> None:
    directory = DictDirectory({"maria@example.com": "U0MARIA", "platform@example.com": "U0PLAT"})
    mention = resolve_mention(owner, directory=directory, teams=TEAMS)
    assert (mention.slack, mention.via) == (slack, via)
    if mention.slack:
        assert MENTION_PATTERN.fullmatch(mention.slack)  # the formatter's pattern: shown live in the report
    else:
        assert mention.note  # always says why


def test_unresolved_owner_keeps_the_raw_string() -> None:
    mention = resolve_mention("Some Team", directory=DictDirectory({}), teams={})
    assert "'Some Team'" in (mention.note or "")


@pytest.mark.parametrize("user_id", ["U0X> <!channel", "U0X\n", "u0x"])
def test_an_invalid_user_id_from_the_directory_is_not_a_mention(user_id: str) -> None:
    mention = resolve_mention("x@example.com", directory=DictDirectory({"x@example.com": user_id}))
    assert mention.slack is None


class _ThrottledDirectory:
    def user_id_for_email(self, email: str) -> str | None:
        raise SlackRetryable("users.lookupByEmail: client-side throttle exhausted", retry_after_s=3)


def test_a_failed_lookup_is_reported_not_raised() -> None:
    mention = resolve_mention("maria@example.com", directory=_ThrottledDirectory())
    assert mention.slack is None
    assert "lookup failed" in (mention.note or "")
