"""Secrets never leave the process: every credential shape we have met, and text that must survive.

The catalogue of shapes is ``tests/redaction_cases.py``; this file states the rules over it.
Timing is not asserted here (see the report of the change for figures): the adversarial inputs
only have to come back, and a catastrophic pattern would hang them past the test timeout.
"""

from __future__ import annotations

import copy
import re

import pytest

from shared.redact import (
    MASK,
    RULES,
    URL_MASK,
    JSONValue,
    clean,
    is_secret_name,
    mask_url,
    redact,
    redact_json,
)
from tests.redaction_cases import LOOKALIKE_CASES, SECRET_CASES

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


# ---- the catalogue: tests/redaction_cases.py ----------------------------------------------------
def test_the_catalogue_covers_at_least_60_secret_shapes_and_30_lookalikes_with_unique_names() -> None:
    names = [c[0] for c in SECRET_CASES] + [c[0] for c in LOOKALIKE_CASES]
    assert len(SECRET_CASES) >= 60 and len(LOOKALIKE_CASES) >= 30
    assert len(names) == len(set(names))
    assert all(secret in text for _, text, secret in SECRET_CASES)


@pytest.mark.parametrize(("text", "secret"), [c[1:] for c in SECRET_CASES], ids=[c[0] for c in SECRET_CASES])
def test_every_known_secret_shape_is_masked_with_no_piece_left(text: str, secret: str) -> None:
    out = redact(text)
    assert secret not in out
    assert MASK in out
    # nor a piece of it: a rule that stopped at an '@', '/' or quote inside the secret would leak the rest
    for piece in re.findall(r"[A-Za-z0-9]{8,}", secret):
        assert piece not in out


@pytest.mark.parametrize("text", [c[1] for c in LOOKALIKE_CASES], ids=[c[0] for c in LOOKALIKE_CASES])
def test_text_that_only_looks_like_a_secret_is_left_unchanged(text: str) -> None:
    assert redact(text) == text


ALL_TEXTS = (
    [text for _, text, _ in SECRET_CASES] + [text for _, text in LOOKALIKE_CASES] + [text for text, _ in LEAKS] + KEPT
)


@pytest.mark.parametrize("text", ALL_TEXTS)
def test_redacting_redacted_text_changes_nothing(text: str) -> None:
    once = redact(text)
    assert redact(once) == once


CONTEXT = [
    ("postgresql://etl:hunter2@db:5432/x", "postgresql://etl:[REDACTED]@db:5432/x"),
    (
        "AIRFLOW_CONN_WH='snowflake://loader:pw@/db/raw?account=ab1'",
        "AIRFLOW_CONN_WH='snowflake://loader:[REDACTED]@/db/raw?account=ab1'",
    ),
    ("DB_PASS=hunter2 DB_USER=etl", "DB_PASS=[REDACTED] DB_USER=etl"),
    ('{"client_secret": "abc", "client_id": "airflow"}', '{"client_secret": "[REDACTED]", "client_id": "airflow"}'),
    ("{'password': 'abc', 'user': 'etl'}", "{'password': '[REDACTED]', 'user': 'etl'}"),
    ("VALUES ('{''password'': ''abc''}')", "VALUES ('{''password'': ''[REDACTED]''}')"),
    ('"extra": "{\\"password\\": \\"abc\\"}"', '"extra": "{\\"password\\": \\"[REDACTED]\\"}"'),
    ('{"user": "etl", "password": "cut off by trunc', '{"user": "etl", "password": [REDACTED]'),
    ("db.internal:5432:analytics:etl:hunter2", "db.internal:5432:analytics:etl:[REDACTED]"),
    ("machine h login etl password hunter2", "machine h login etl password [REDACTED]"),
    ("mysql -h db -u etl -phunter2 shop", "mysql -h db -u etl -p[REDACTED] shop"),
    ("Driver={ODBC};Uid=etl;Pwd={a;b};Encrypt=yes", "Driver={ODBC};Uid=etl;Pwd=[REDACTED];Encrypt=yes"),
    ("> Authorization: Basic ZXRsOmh1bnRlcjI=", "> Authorization: Basic [REDACTED]"),
    ("X-Api-Key: 0123456789abcdef", "X-Api-Key: [REDACTED]"),
    (
        "https://a.blob.core.windows.net/c/b.csv?sv=2022-11-02&sp=r&sig=abc%2Bdef%3D",
        "https://a.blob.core.windows.net/c/b.csv?sv=2022-11-02&sp=r&sig=[REDACTED]",
    ),
    (
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIB\n-----END RSA PRIVATE KEY-----\nnext",
        "-----BEGIN RSA PRIVATE KEY-----[REDACTED]-----END RSA PRIVATE KEY-----\nnext",
    ),
    (
        "CREATE USER loader PASSWORD = 'abc' DEFAULT_ROLE = r",
        "CREATE USER loader PASSWORD = [REDACTED] DEFAULT_ROLE = r",
    ),
]


@pytest.mark.parametrize(("text", "expected"), CONTEXT)
def test_only_the_secret_is_masked_and_key_names_users_and_hosts_stay(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_a_certificate_keeps_its_armor_but_its_body_lines_are_masked_on_purpose() -> None:
    # A PEM body line alone on its line is masked whatever the armor says: once a log is redacted line
    # by line (evidence is), a private key's body lines look exactly like a certificate's.
    cert = (
        "-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+gAwIBAgIEAgAAuTANBgkqhkiG9w0BAQUFADBaMQswCQYDVQQGEwJJ\n"
        "RTESMBAGA1UEChMJQmFsdGltb3JlMRMwEQYDVQQLEwpDeWJlclRydXN0MSIwIAYD\n-----END CERTIFICATE-----"
    )
    assert redact(cert) == f"-----BEGIN CERTIFICATE-----\n{MASK}\n{MASK}\n-----END CERTIFICATE-----"


@pytest.mark.parametrize(("text", "secret"), [c[1:] for c in SECRET_CASES], ids=[c[0] for c in SECRET_CASES])
def test_every_secret_shape_is_masked_when_each_line_is_redacted_on_its_own(text: str, secret: str) -> None:
    # log evidence is cleaned line by line: a PEM key or a .netrc split over lines must not survive that
    assert secret not in "\n".join(redact(line) for line in text.split("\n"))


# ---- JWTs: caught by their shape alone ---------------------------------------------------------------
JWT = next(secret for name, _, secret in SECRET_CASES if name == "jwt_bare")


@pytest.mark.parametrize(
    "template",
    [
        next(text for name, text, _ in SECRET_CASES if name == "jwt_bare").replace(JWT, "{s}"),
        '{"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": "{s}"}',
        "Set-Cookie: session={s}; Path=/; HttpOnly",
        "302 Found: https://airflow.example.com/login/callback#id={s}",
    ],
    ids=["table_case", "jwt_bearer_grant", "cookie", "url_fragment"],
)
def test_a_jwt_is_masked_by_the_jwt_rule_alone_with_no_secret_word_near_it(template: str) -> None:
    # Given a JWT with no key name, header or auth scheme that another rule could key on
    text = template.replace("{s}", JWT)
    # Then the JWT rule is the one rule that matches: the case pins that rule, not a neighbour's
    assert [rule.name for rule in RULES if rule.pattern.search(text)] == ["jwt"]
    # and all three parts of the token become the mask, the text around it kept
    assert redact(text) == template.replace("{s}", MASK)


# ---- hints are an optimisation only ----------------------------------------------------------------
def _redact_running_every_rule(text: str) -> str:
    for rule in RULES:
        text = rule.pattern.sub(rule.replacement, text)
    return text


# re's IGNORECASE also matches 'ſ' to s, the Kelvin sign to k and dotless 'ı' to i
UNICODE_CASE_TRICKS = [
    "PAſſWORD=hunter2",
    "api_\u212aey=abc123",
    "Authorızation: Basic dXNlcjpwYXNz",
    "X-Amz-Sıgnature=abc",
    "BASİC dXNlcjpwYXNz",
]


@pytest.mark.parametrize("text", ALL_TEXTS + UNICODE_CASE_TRICKS)
def test_a_rule_is_skipped_only_when_its_hint_shows_it_cannot_match(text: str) -> None:
    assert redact(text) == _redact_running_every_rule(text)


def test_every_hint_is_case_folded() -> None:
    assert all(hint == hint.casefold() for rule in RULES for hint in rule.hints)


# ---- linear time -------------------------------------------------------------------------------
N = 200_000
ADVERSARIAL = {
    "one_long_word": "a" * N,
    "unterminated_json_password": '"password": "' + "x" * N,
    "repeated_json_password_keys": '"password": "' * (N // 13),
    "dotted_run": "a." * (N // 2),
    "jwt_prefixes": "eyJ-" * (N // 4),
    "url_schemes_without_at": "a://b:" * (N // 6),
    "url_password_without_at": "postgresql://etl:" + "p" * N,
    "pem_without_end": "-----BEGIN PRIVATE KEY-----\n" + "A" * N,
    "flags": " --" * (N // 3),
    "colons": "a:1:" * (N // 4),
    "base64_runs": ("Ab1/" * 10 + "=") * (N // 41),
    "bearer_words": "Bearer " * (N // 7),
    "authorization_headers": "Authorization: " * (N // 15),
    "mysql_words": "mysql " * (N // 6),
    "netrc_words": "machine x login " * (N // 16),
    "quotes": "'" * N,
    "backslashes_in_a_value": '"password": "' + "\\" * N,
    "key_suffix": "token" + "_" * N,
    "at_signs": "a://b:" + "@" * N,
    "newlines": "\n" * N,
    "basic_auth_keys": "basic_auth=u:" * (N // 13),
    "indented_password_lines": " password x y\n" * (N // 14),
    "base64_lines": ("Ab1/" * 16 + "\n") * (N // 65),
}


@pytest.mark.parametrize("text", list(ADVERSARIAL.values()), ids=list(ADVERSARIAL))
def test_200kb_of_adversarial_text_is_redacted_without_backtracking_blowup(text: str) -> None:
    out = redact(text)
    assert redact(out) == out


def test_an_unterminated_quoted_secret_is_masked_to_the_end_of_the_line() -> None:
    assert redact('"password": "' + "x" * N) == '"password": ' + MASK
    assert redact("{'password': 'abc\nnext line") == "{'password': " + MASK + "\nnext line"


# ---- mask_url ----------------------------------------------------------------------------------
MASKED_URLS = [
    ("redis://:pw@h:6379/0", f"redis://:{URL_MASK}@h:6379/0"),
    ("redis://app:s3cret@10.0.0.5:6379/1", f"redis://app:{URL_MASK}@10.0.0.5:6379/1"),
    ("rediss://user:pw@h:6380/0?ssl_cert_reqs=required", f"rediss://user:{URL_MASK}@h:6380/0?ssl_cert_reqs=required"),
    ("http://airflow:s3cret@airflow:8080/api/v2", f"http://airflow:{URL_MASK}@airflow:8080/api/v2"),
    # unencoded '@', '/', '?', '#' in the password: masked whole, never partly shown
    ("redis://:p@ss@h:6379/0", f"redis://:{URL_MASK}@h:6379/0"),
    ("redis://:pa/ss@h:6379/0", f"redis://:{URL_MASK}@h:6379/0"),
    ("redis://:pa?ss@h:6379/0", f"redis://:{URL_MASK}@h:6379/0"),
    ("redis://:pa#ss@h:6379/0", f"redis://:{URL_MASK}@h:6379/0"),
    # a secret in the query too
    (
        "https://airflow/api/v2/dags?limit=50&access_token=abc",
        f"https://airflow/api/v2/dags?limit=50&access_token={URL_MASK}",
    ),
    # credentials without a scheme: all of it
    ("etl:pw@db:5432", URL_MASK),
    # nothing to hide: unchanged
    ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
    ("redis://user@h:6379/0", "redis://user@h:6379/0"),
    ("redis+socket:///run/redis.sock?virtual_host=1", "redis+socket:///run/redis.sock?virtual_host=1"),
    ("https://example.com/path?page=2&limit=50", "https://example.com/path?page=2&limit=50"),
]


@pytest.mark.parametrize(("url", "shown"), MASKED_URLS)
def test_mask_url_hides_the_password_and_secret_query_values_and_keeps_the_rest(url: str, shown: str) -> None:
    assert mask_url(url) == shown
    assert mask_url(shown) == shown


# ---- redact_json -------------------------------------------------------------------------------
def test_redact_json_masks_values_under_secret_keys_and_redacts_every_other_string() -> None:
    value: JSONValue = {
        "conn_id": "warehouse",
        "password": "hunter2",  # a secret key: masked whole, whatever the value looks like
        "SecretAccessKey": "short",
        "extra": {
            "private_key": "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n",
            "api_key": "",  # empty: nothing to hide, and worth seeing
            "token": None,
            "token_count": 5,
            "token_uri": "https://oauth2.googleapis.com/token",
            "secret_name": "airflow/connections/warehouse",
            "hosts": ["postgresql://etl:pw@db/x", 1.5, True],
            "note": "retry with password=hunter2",
        },
        "password=hunter2": 1,  # keys are never rewritten
    }
    before = copy.deepcopy(value)
    assert redact_json(value) == {
        "conn_id": "warehouse",
        "password": MASK,
        "SecretAccessKey": MASK,
        "extra": {
            "private_key": MASK,
            "api_key": "",
            "token": None,
            "token_count": 5,
            "token_uri": "https://oauth2.googleapis.com/token",
            "secret_name": "airflow/connections/warehouse",
            "hosts": ["postgresql://etl:[REDACTED]@db/x", 1.5, True],
            "note": "retry with password=[REDACTED]",
        },
        "password=hunter2": 1,
    }
    assert value == before  # the input is not modified
    assert redact_json(redact_json(value)) == redact_json(value)


@pytest.mark.parametrize("value", ["password=x", ["token: abc"], 3, 2.5, True, None])
def test_redact_json_takes_any_json_value(value: JSONValue) -> None:
    assert redact_json(value) == (
        redact(value) if isinstance(value, str) else [redact(value[0])] if isinstance(value, list) else value
    )


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("password", True),
        ("DB_PASS", True),
        ("PGPASSWORD", True),
        ("client_secret", True),
        ("api_key", True),
        ("X-Api-Key", True),
        ("SecretAccessKey", True),
        ("private_key", True),
        ("private_key_id", True),
        ("Authorization", True),
        ("sig", True),
        ("Pwd", True),
        ("AccountKey", True),
        ("--api-token", True),
        ("token_count", False),
        ("token_uri", False),
        ("password_reset_requested", False),
        ("secret_name", False),
        ("SharedAccessKeyName", False),
        ("--password-file", False),
        ("tokenizer", False),
        ("PASS", False),
        ("user", False),
        ("max_tokens", False),
    ],
)
def test_a_name_is_secret_when_it_holds_a_secret_word_not_followed_by_a_describing_one(name: str, secret: bool) -> None:
    assert is_secret_name(name) is secret
