"""Every setting the project reads, from the environment, in one place.

Nothing else in the code base reads ``os.environ``. Each field's alias is the environment
variable documented in the README; a bad value fails at start-up naming the variable.
"""

from __future__ import annotations

import functools
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.errors import ConfigError
from shared.redact import URL_MASK, mask_url

DEFAULT_STATE_DIR = Path(".incident-commander")
DEFAULT_DB_URL = f"sqlite:///{DEFAULT_STATE_DIR / 'incidents.db'}"  # the embedded incident history
MASK = URL_MASK  # how settings show a secret: the same mask as a URL password
# user:password pairs printed in documentation, examples and tutorials: Flower never runs with one.
PUBLISHED_FLOWER_CREDENTIALS = frozenset({"admin:change-me", "admin:admin", "flower:flower", "user:password"})


class Settings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    # Celery and Redis. None means "not configured": the CLI's demo/up start an embedded Redis.
    broker_url: str | None = Field(default=None, alias="CELERY_BROKER_URL")
    result_backend: str | None = Field(default=None, alias="CELERY_RESULT_BACKEND")

    # Slack. Without a token, posts go to the terminal and to ``outbox_path``.
    slack_bot_token: SecretStr | None = Field(default=None, alias="SLACK_BOT_TOKEN")
    slack_api_url: str = Field(default="https://slack.com/api/", alias="SLACK_API_URL")
    slack_channel: str = Field(default="#incidents", alias="INCIDENT_SLACK_CHANNEL")
    slack_timeout_s: float = Field(default=10.0, gt=0, le=60, alias="SLACK_TIMEOUT_S")

    # Where the specialists look.
    dbt_project_dir: Path | None = Field(default=None, alias="DBT_PROJECT_DIR")
    warehouse_url: SecretStr | None = Field(default=None, alias="WAREHOUSE_URL")
    airflow_log_folder: Path | None = Field(default=None, alias="AIRFLOW_LOG_FOLDER")
    airflow_api_url: str | None = Field(default=None, alias="AIRFLOW_API_URL")
    airflow_api_token: SecretStr | None = Field(default=None, alias="AIRFLOW_API_TOKEN")
    airflow_api_user: str | None = Field(default=None, alias="AIRFLOW_API_USER")
    airflow_api_password: SecretStr | None = Field(default=None, alias="AIRFLOW_API_PASSWORD")
    owners_file: Path | None = Field(default=None, alias="OWNERS_FILE")

    # Producer: where undeliverable triggers wait, and how long a publish may block.
    # Absolute by default: Airflow processes run from varying working directories, and
    # flush-spool must find what they spooled.
    spool_dir: Path = Field(
        default_factory=lambda: Path.home() / ".incident-commander" / "spool", alias="INCIDENT_SPOOL_DIR"
    )
    publish_timeout_s: float = Field(default=2.0, gt=0, le=30, alias="INCIDENT_PUBLISH_TIMEOUT_S")

    # Console sink (no Slack token): one JSON line per Slack call.
    outbox_path: Path = Field(default=DEFAULT_STATE_DIR / "outbox.jsonl", alias="INCIDENT_OUTBOX")
    # The durable incident history (shared/incident_db): SQLite by default, PostgreSQL in production.
    incident_db_url: str = Field(default=DEFAULT_DB_URL, alias="INCIDENT_DB_URL")

    # Time budgets. A specialist gets soft_time_limit_s, then is reported unavailable.
    # Both stay below the broker's visibility timeout (300 s, shared/celery_app.py): a task running,
    # or a countdown waiting, longer than that is redelivered and would run twice.
    specialist_soft_time_limit_s: float = Field(default=20.0, gt=0, le=240, alias="SPECIALIST_SOFT_TIME_LIMIT_S")
    report_deadline_s: float = Field(default=90.0, gt=0, le=270, alias="REPORT_DEADLINE_S")
    dedup_ttl_s: int = Field(default=86_400, ge=60, alias="INCIDENT_DEDUP_TTL_S")

    # Chaos testing: make one specialist misbehave on purpose, e.g. "owner_notifier:raise",
    # "log_analyzer:kill" (SIGKILL its own process every attempt), "log_analyzer:kill-once",
    # "query_profiler:sleep=30". Never set in production.
    fault_injection: str | None = Field(default=None, alias="INCIDENT_FAULT_INJECTION")

    # Flower's basic auth, ``user:password`` (several: comma-separated). Unset: ``incident-commander up``
    # generates one per run. Checked (``flower_credentials``) only where Flower starts.
    flower_basic_auth: SecretStr | None = Field(default=None, alias="FLOWER_BASIC_AUTH")

    @field_validator(
        "broker_url",
        "result_backend",
        "slack_bot_token",
        "dbt_project_dir",
        "warehouse_url",
        "airflow_log_folder",
        "airflow_api_url",
        "airflow_api_token",
        "airflow_api_user",
        "airflow_api_password",
        "owners_file",
        "fault_injection",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """`NAME=` in an env file means "not set": never Path("."), an empty token or URL. (Not so for
        FLOWER_BASIC_AUTH: an empty login is refused, not replaced by a generated one.)"""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("incident_db_url", "spool_dir", "outbox_path", mode="before")
    @classmethod
    def _empty_location_is_refused(cls, value: object) -> object:
        """`INCIDENT_SPOOL_DIR=` would be Path("."): the spool in whatever directory Airflow runs from."""
        if isinstance(value, str) and not value.strip():
            raise ValueError("is empty: unset it for the default, or give a path (or URL)")
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value if value.endswith("/") else value + "/"

    @field_validator("slack_channel")
    @classmethod
    def _channel(cls, value: str) -> str:
        if not value or any(c.isspace() for c in value):
            raise ValueError("must be a channel name like #incidents or a channel id")
        return value

    @field_validator("broker_url", "result_backend")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "redis+socket://")):
            raise ValueError("must be a redis:// URL (Redis is the broker and the result backend)")
        return value

    @property
    def effective_broker_url(self) -> str:
        return self.broker_url or "redis://127.0.0.1:6379/0"

    @property
    def effective_result_backend(self) -> str:
        return self.result_backend or with_db(self.effective_broker_url, 1)

    @property
    def state_redis_url(self) -> str:
        """Incident state (claims, thread ts, posted markers) lives beside the results."""
        return self.effective_result_backend

    def masked(self) -> dict[str, str]:
        """Every setting by its environment variable, for ``incident-commander config``.

        Secrets are masked whole; a URL (broker, result backend, Slack, Airflow) shows everything
        but its password.
        """
        out: dict[str, str] = {}
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            if value is None:
                shown = "(not set)"
            elif isinstance(value, SecretStr):
                shown = MASK
            else:
                shown = str(value)
                if "://" in shown:
                    shown = mask_url(shown)
            out[field.alias or name] = shown
        return out

    def describe_broker(self) -> str:
        """``CELERY_BROKER_URL=<url, password masked>``: names where a connection was tried, for messages."""
        url = mask_url(self.effective_broker_url)
        return f"CELERY_BROKER_URL={url}" + ("" if self.broker_url is not None else ", the default (not set)")

    def describe_result_backend(self) -> str:
        """``CELERY_RESULT_BACKEND=<url, password masked>`` and, when derived, where from."""
        url = mask_url(self.effective_result_backend)
        if self.result_backend is not None:
            return f"CELERY_RESULT_BACKEND={url}"
        if self.broker_url is not None:
            return f"CELERY_RESULT_BACKEND={url}, derived from CELERY_BROKER_URL"
        return f"CELERY_RESULT_BACKEND={url}, the default (CELERY_BROKER_URL and CELERY_RESULT_BACKEND not set)"

    def flower_credentials(self) -> str | None:
        """FLOWER_BASIC_AUTH checked before Flower starts with it; None when it is not set.

        Raises ConfigError for a value that leaves Flower open or guessable: empty, not
        ``user:password``, an empty user or password, or a published default (``admin:change-me``, ...).
        Flower splits the value on commas into several pairs, so each pair is checked.
        """
        if self.flower_basic_auth is None:
            return None
        value = self.flower_basic_auth.get_secret_value()
        if not value.strip():
            raise ConfigError(
                "FLOWER_BASIC_AUTH is empty: set it to user:password, "
                "or unset it and `incident-commander up` generates one"
            )
        for pair in value.split(","):
            user, colon, password = pair.partition(":")
            if not colon:
                hint = " (Flower splits the value on commas)" if "," in value else ""
                raise ConfigError(f"FLOWER_BASIC_AUTH must be user:password, found no ':'{hint}")
            if not user or not password:
                empty = "user" if not user else "password"
                raise ConfigError(f"FLOWER_BASIC_AUTH has an empty {empty}: set it to user:password")
            if pair.lower() in PUBLISHED_FLOWER_CREDENTIALS:
                raise ConfigError(
                    "FLOWER_BASIC_AUTH is a published default (e.g. the example env file's): "
                    "choose your own user:password"
                )
        return value


def with_db(url: str, db: int) -> str:
    """``url`` pointing at Redis database ``db``; scheme, credentials, host, port and query kept as written.

    ``redis://`` and ``rediss://`` carry the database in the path (``/<db>``, replacing any path);
    Celery's unix-socket form ``redis+socket:///path`` in ``virtual_host``, redis-py's
    ``unix:///path`` in ``db``. Rebuilt by hand: ``urlunsplit`` drops the ``//`` of the socket forms.
    """
    parts = urlsplit(url)
    if parts.scheme == "redis+socket":
        path, query = parts.path, _set_query_param(parts.query, "virtual_host", str(db))
    elif parts.scheme == "unix":
        path, query = parts.path, _set_query_param(parts.query, "db", str(db))
    else:
        path, query = f"/{db}", parts.query
    return (
        f"{parts.scheme}://{parts.netloc}{path}"
        + (f"?{query}" if query else "")
        + (f"#{parts.fragment}" if parts.fragment else "")
    )


def _set_query_param(query: str, key: str, value: str) -> str:
    """``query`` with ``key=value``: the first ``key`` replaced where it stands (others dropped), else appended."""
    out: list[str] = []
    for item in (i for i in query.split("&") if i):
        if item.split("=", 1)[0] != key:
            out.append(item)
        elif not any(o.split("=", 1)[0] == key for o in out):
            out.append(f"{key}={value}")
    if not any(o.split("=", 1)[0] == key for o in out):
        out.append(f"{key}={value}")
    return "&".join(out)


def load_settings(**overrides: object) -> Settings:
    """Read the environment (plus explicit overrides) or raise ConfigError naming the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else "?"
            alias = Settings.model_fields[field].alias if field in Settings.model_fields else field
            problems.append(f"{alias}: {err['msg']}")
        raise ConfigError("bad configuration: " + "; ".join(problems)) from exc


@functools.cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()
