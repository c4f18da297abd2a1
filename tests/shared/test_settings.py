"""Settings: derived Redis URLs that Celery accepts, URLs printed without passwords, Flower's credentials checked."""

from __future__ import annotations

import ssl

import pytest

from shared.celery_app import make_app
from shared.errors import ConfigError
from shared.redact import mask_url
from shared.settings import MASK, Settings, load_settings, with_db


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what a test passes counts: no CELERY_BROKER_URL etc. from the shell running pytest."""
    for field in Settings.model_fields.values():
        if field.alias:
            monkeypatch.delenv(field.alias, raising=False)


WITH_DB = [
    # (url, db, expected): scheme, credentials, host, port and query kept; only the database changes
    ("redis://127.0.0.1:6379", 1, "redis://127.0.0.1:6379/1"),
    ("redis://127.0.0.1:6379/", 1, "redis://127.0.0.1:6379/1"),
    ("redis://127.0.0.1:6379/0", 1, "redis://127.0.0.1:6379/1"),
    ("redis://127.0.0.1:6379/15", 0, "redis://127.0.0.1:6379/0"),
    ("redis://:s3cret@10.0.0.5:6379/0", 1, "redis://:s3cret@10.0.0.5:6379/1"),
    ("redis://app:s3cret@10.0.0.5/0", 1, "redis://app:s3cret@10.0.0.5/1"),
    ("redis://[::1]:6379/0", 1, "redis://[::1]:6379/1"),
    (
        "rediss://:s3cret@redis.example:6380?ssl_cert_reqs=required",
        1,
        "rediss://:s3cret@redis.example:6380/1?ssl_cert_reqs=required",
    ),
    (
        "rediss://:s3cret@redis.example:6380/0?ssl_cert_reqs=required&ssl_ca_certs=%2Fetc%2Fca.pem",
        1,
        "rediss://:s3cret@redis.example:6380/1?ssl_cert_reqs=required&ssl_ca_certs=%2Fetc%2Fca.pem",
    ),
    ("redis+socket:///run/redis/redis.sock?virtual_host=0", 1, "redis+socket:///run/redis/redis.sock?virtual_host=1"),
    ("redis+socket:///run/redis/redis.sock", 1, "redis+socket:///run/redis/redis.sock?virtual_host=1"),
    (
        "redis+socket:///run/redis/redis.sock?timeout=3&virtual_host=0&x=y",
        1,
        "redis+socket:///run/redis/redis.sock?timeout=3&virtual_host=1&x=y",
    ),
    ("unix:///run/redis/redis.sock?db=0", 1, "unix:///run/redis/redis.sock?db=1"),
    ("unix:///run/redis/redis.sock", 2, "unix:///run/redis/redis.sock?db=2"),
]


@pytest.mark.parametrize(("url", "db", "expected"), WITH_DB)
def test_with_db_changes_only_the_database(url: str, db: int, expected: str) -> None:
    assert with_db(url, db) == expected


def test_the_result_backend_defaults_to_the_brokers_database_1() -> None:
    settings = load_settings(CELERY_BROKER_URL="rediss://:s3cret@redis.example:6380/0?ssl_cert_reqs=required")
    assert settings.effective_result_backend == "rediss://:s3cret@redis.example:6380/1?ssl_cert_reqs=required"
    assert load_settings().effective_result_backend == "redis://127.0.0.1:6379/1"


@pytest.mark.parametrize(
    "broker",
    [
        "rediss://:s3cret@redis.example:6380?ssl_cert_reqs=required",
        "rediss://:s3cret@redis.example:6380/0?ssl_cert_reqs=required",
    ],
)
def test_celery_builds_its_result_backend_from_a_derived_tls_url(broker: str) -> None:
    """Before: ``...?ssl_cert_reqs=required/1``, which Celery rejects when the worker starts."""
    app = make_app("settings-test", settings=load_settings(CELERY_BROKER_URL=broker))
    try:
        params = app.backend.connparams  # constructs the backend; connects to nothing
        assert (params["host"], params["port"], params["db"]) == ("redis.example", 6380, 1)
        assert params["password"] == "s3cret"
        assert params["ssl_cert_reqs"] == ssl.CERT_REQUIRED
    finally:
        app.close()


def test_celery_builds_its_result_backend_from_a_derived_unix_socket_url() -> None:
    app = make_app(
        "settings-test", settings=load_settings(CELERY_BROKER_URL="redis+socket:///run/redis/redis.sock?virtual_host=0")
    )
    try:
        params = app.backend.connparams
        assert (params["path"], params["db"]) == ("/run/redis/redis.sock", 1)
    finally:
        app.close()


MASKED = [
    ("redis://:s3cret@10.0.0.5:6379/1", f"redis://:{MASK}@10.0.0.5:6379/1"),
    ("redis://app:s3cret@10.0.0.5:6379/1", f"redis://app:{MASK}@10.0.0.5:6379/1"),
    ("rediss://:s3cret@h:6380/0?ssl_cert_reqs=required", f"rediss://:{MASK}@h:6380/0?ssl_cert_reqs=required"),
    ("https://bot:s3cret@slack.internal/api/", f"https://bot:{MASK}@slack.internal/api/"),
    ("http://airflow:s3cret@airflow:8080/api/v2", f"http://airflow:{MASK}@airflow:8080/api/v2"),
    # unencoded '@', '/', '?', '#' in the password: masked whole, never partly shown
    ("redis://:p@ss@h:6379/0", f"redis://:{MASK}@h:6379/0"),
    ("redis://:pa/ss@h:6379/0", f"redis://:{MASK}@h:6379/0"),
    ("redis://:pa?ss@h:6379/0", f"redis://:{MASK}@h:6379/0"),
    ("redis://:pa#ss@h:6379/0", f"redis://:{MASK}@h:6379/0"),
    # nothing to hide: unchanged
    ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
    ("redis://user@h:6379/0", "redis://user@h:6379/0"),
    ("redis+socket:///run/redis.sock?virtual_host=1", "redis+socket:///run/redis.sock?virtual_host=1"),
    ("https://slack.com/api/", "https://slack.com/api/"),
]


@pytest.mark.parametrize(("url", "shown"), MASKED)
def test_mask_url_hides_the_password_and_keeps_the_rest(url: str, shown: str) -> None:
    assert mask_url(url) == shown


def test_config_shows_every_url_without_its_password() -> None:
    settings = load_settings(
        CELERY_BROKER_URL="redis://:broker-pw@10.0.0.5:6379/0",
        CELERY_RESULT_BACKEND="rediss://:backend-pw@10.0.0.6:6380/1?ssl_cert_reqs=required",
        SLACK_API_URL="https://bot:slack-pw@slack.internal/api/",
        AIRFLOW_API_URL="http://airflow:airflow-pw@airflow:8080/api/v2",
        SLACK_BOT_TOKEN="xoxb-token-pw",
        WAREHOUSE_URL="postgresql://u:warehouse-pw@db/x",
        AIRFLOW_API_PASSWORD="api-pw",
        FLOWER_BASIC_AUTH="ops:flower-pw",
    )
    shown = settings.masked()
    assert shown["CELERY_BROKER_URL"] == f"redis://:{MASK}@10.0.0.5:6379/0"
    assert shown["CELERY_RESULT_BACKEND"] == f"rediss://:{MASK}@10.0.0.6:6380/1?ssl_cert_reqs=required"
    assert shown["SLACK_API_URL"] == f"https://bot:{MASK}@slack.internal/api/"
    assert shown["AIRFLOW_API_URL"] == f"http://airflow:{MASK}@airflow:8080/api/v2"
    for secret in ("SLACK_BOT_TOKEN", "WAREHOUSE_URL", "AIRFLOW_API_PASSWORD", "FLOWER_BASIC_AUTH"):
        assert shown[secret] == MASK
    assert not [value for value in shown.values() if "-pw" in value]
    assert "broker-pw" not in settings.describe_broker()
    assert "backend-pw" not in settings.describe_result_backend()


def test_describe_names_the_variable_and_where_a_derived_url_comes_from() -> None:
    derived = load_settings(CELERY_BROKER_URL="redis://:pw@10.0.0.5:6379/0")
    assert derived.describe_broker() == f"CELERY_BROKER_URL=redis://:{MASK}@10.0.0.5:6379/0"
    assert (
        derived.describe_result_backend()
        == f"CELERY_RESULT_BACKEND=redis://:{MASK}@10.0.0.5:6379/1, derived from CELERY_BROKER_URL"
    )
    explicit = load_settings(CELERY_RESULT_BACKEND="redis://:pw@10.0.0.6:6379/3")
    assert explicit.describe_result_backend() == f"CELERY_RESULT_BACKEND=redis://:{MASK}@10.0.0.6:6379/3"
    assert "not set" in load_settings().describe_result_backend()


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("adminchangeme", "no ':'"),
        ("admin:", "empty password"),
        (":s3cret-enough", "empty user"),
        ("admin:change-me", "published default"),
        ("admin:admin", "published default"),
        ("flower:flower", "published default"),
        ("user:password", "published default"),
        ("Admin:Change-Me", "published default"),
        ("ops:good-password,admin:admin", "published default"),
        ("ops:pass,word", "no ':'"),
    ],
)
def test_flower_refuses_credentials_that_leave_it_open_or_guessable(value: str, why: str) -> None:
    settings = load_settings(FLOWER_BASIC_AUTH=value)
    with pytest.raises(ConfigError) as refused:
        settings.flower_credentials()
    message = str(refused.value)
    assert "FLOWER_BASIC_AUTH" in message and why in message
    assert "\n" not in message
    if value.strip() and value != "user:password":  # the one the hint itself spells
        assert value not in message  # the refused value is not echoed


def test_flower_credentials_chosen_by_the_operator_are_used_as_given() -> None:
    assert load_settings().flower_credentials() is None  # unset: `up` generates them
    assert load_settings(FLOWER_BASIC_AUTH="ops:k3-9xQ_long").flower_credentials() == "ops:k3-9xQ_long"
    assert load_settings(FLOWER_BASIC_AUTH="a:one,b:two").flower_credentials() == "a:one,b:two"
