"""Secrets never leave the process: every credential shape we have met, and text that must survive."""

from __future__ import annotations

import pytest

from shared.redact import clean, redact

LEAKS = [
    ("postgres://bob:hunter2@db:5432/x", "postgres://bob:[REDACTED]@db:5432/x"),
    ("postgresql://etl:pa/ss@db/x", "postgresql://etl:[REDACTED]@db/x"),
    ("redis://:p@ss@h:6379/0", "redis://:[REDACTED]@h:6379/0"),
    ("password=abc123 user=x", "password=[REDACTED] user=x"),
    ("password='hunter 2 with spaces' next", "password=[REDACTED] next"),
    ("Authorization: Bearer abcdefghijklmnop", "Authorization: Bearer [REDACTED]"),
    ("token xoxb-1234567890-abcdef", "token [REDACTED]"),
    ('{"password": "s3cr3t", "user": "x"}', '{"password": "[REDACTED]", "user": "x"}'),
    ("ALTER ROLE etl WITH PASSWORD 'hunter2'", "ALTER ROLE etl WITH PASSWORD [REDACTED]"),
    ('CREATE USER loader IDENTIFIED BY "hunter2";', "CREATE USER loader IDENTIFIED BY [REDACTED];"),
    ("dbt run --password hunter2 --target prod", "dbt run --password [REDACTED] --target prod"),
    ("cli --api-token=abc123", "cli --api-token=[REDACTED]"),
    ("https://hooks.slack.com/services/T000/B000/XXXXSECRET", "[REDACTED]"),
    ("AccountName=x;AccountKey=abc123==;", "AccountName=x;AccountKey=[REDACTED];"),
    ("SNOWFLAKE_PASSWORD=xyz", "SNOWFLAKE_PASSWORD=[REDACTED]"),
    ("key ghp_abcdefghijklmnopqrstuvwxyz0123", "key [REDACTED]"),
    ("AKIAABCDEFGHIJKLMNOP used", "[REDACTED] used"),
]

KEPT = [
    "Object 'DB.SC.T' does not exist or not authorized.",
    "error line 26 at position 58 invalid identifier 'AMOUNT_USD'",
    "passwords must match",
    "the token was accepted",
    "Database Error in model fct_orders (models/marts/core/fct_orders.sql)",
    "see https://docs.example.com/a@b",
    "owner maria@example.com",
]


@pytest.mark.parametrize(("text", "expected"), LEAKS)
def test_credentials_are_masked(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize("text", KEPT)
def test_ordinary_log_text_is_kept(text: str) -> None:
    assert redact(text) == text


def test_clean_redacts_before_it_truncates() -> None:
    # truncating first could cut "password=hunt" and leave a prefix of the secret
    assert clean("x" * 10 + " password=hunter2", 40) == "x" * 10 + " password=[REDACTED]"
    assert clean(None, 10) is None
