"""Redaction rules that mutation testing (``make mutate TARGET=redact``) found unpinned.

Each test names the rule it states; the mutants it kills are listed in mutation/README.md.
"""

from __future__ import annotations

import json

import pytest

from shared.redact import MASK, URL_MASK, clean, mask_url, one_line, redact, truncate


def test_a_dotless_i_in_a_header_name_does_not_hide_it_from_its_rule() -> None:
    # re's IGNORECASE reads "ı" as i, so the rule matches; its hint must be found in the folded text too
    assert redact("Authorızation: abcdef123456") == f"Authorızation: {MASK}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"password": ""}', f'{{"password": "{MASK}"}}'),  # JSON stays JSON
        ("{'password': ''}", f"{{'password': '{MASK}'}}"),  # a Python repr stays a repr
    ],
)
def test_an_empty_quoted_secret_keeps_its_quotes(text: str, expected: str) -> None:
    assert redact(text) == expected
    if text.startswith('{"'):
        assert json.loads(redact(text)) == {"password": MASK}


def test_a_lone_line_of_lower_case_hex_is_a_digest_and_is_kept() -> None:
    # pem_body_line only masks lines that look random (upper, lower case and a digit)
    text = "checksum:\n  " + "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" + "\n"
    assert redact(text) == text


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        # the credentials end at the last '@' of the first URL, not at a URL quoted in its query
        ("postgresql://etl:pw@db/x?next=https://elsewhere", f"postgresql://etl:{URL_MASK}@db/x?next=https://elsewhere"),
        # a password holding ':' is masked whole
        ("redis://etl:pa:ss@h:6379/0", f"redis://etl:{URL_MASK}@h:6379/0"),
        # an empty password is not a password: nothing to hide, nothing claimed
        ("redis://etl:@h:6379/0", "redis://etl:@h:6379/0"),
        # text that is not a URL is shown as is, unless it holds an '@'
        ("/var/run/redis.sock", "/var/run/redis.sock"),
        ("etl:pw@h", URL_MASK),
    ],
)
def test_mask_url_hides_exactly_the_password(url: str, shown: str) -> None:
    assert mask_url(url) == shown


def test_one_line_joins_lines_and_shows_control_characters_as_question_marks() -> None:
    assert one_line("a\x00b\n  c\td\x1b[31m") == "a?b c d?[31m"


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("abc", 3, "abc"),  # at the limit: kept whole
        ("abcdefghijklmnopqrstuvwxyz", 18, "abcde …[truncated]"),  # cut: exactly the limit, marker last
        ("abcdefghijklmnopqrstuvwxyz", 5, " …[truncated]"),  # no room for text: the marker alone
    ],
)
def test_truncate_keeps_at_most_the_limit_and_marks_the_cut(text: str, limit: int, expected: str) -> None:
    assert truncate(text, limit) == expected


def test_clean_cuts_the_redacted_text_and_keeps_none_as_none() -> None:
    assert clean(None, 10) is None
    assert clean("password=hunter2 and more and more", 32) == f"password={MASK} …[truncated]"
