"""Every setting the project reads, from the environment, in one place.

Nothing else in the code base reads ``os.environ``. Each field's alias is the environment
variable documented in the README; a bad value fails at start-up naming the variable.
"""

from __future__ import annotations

import functools
from pathlib import Path

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.errors import ConfigError

DEFAULT_STATE_DIR = Path(".incident-commander")


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
    spool_dir: Path = Field(default_factory=lambda: Path.home() / ".incident-commander" / "spool",
                            alias="INCIDENT_SPOOL_DIR")
    publish_timeout_s: float = Field(default=2.0, gt=0, le=30, alias="INCIDENT_PUBLISH_TIMEOUT_S")

    # Console sink (no Slack token): one JSON line per Slack call.
    outbox_path: Path = Field(default=DEFAULT_STATE_DIR / "outbox.jsonl", alias="INCIDENT_OUTBOX")

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
        return self.result_backend or _with_db(self.effective_broker_url, 1)

    @property
    def state_redis_url(self) -> str:
        """Incident state (claims, thread ts, posted markers) lives beside the results."""
        return self.effective_result_backend

    def masked(self) -> dict[str, str]:
        """Every setting by its environment variable, secrets masked, for ``incident-commander config``."""
        out: dict[str, str] = {}
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            shown = "(not set)" if value is None else ("**********" if isinstance(value, SecretStr) else str(value))
            out[field.alias or name] = shown
        return out


def _with_db(url: str, db: int) -> str:
    base, _, tail = url.rpartition("/")
    if base.endswith(":/") or base.endswith("redis:/") or not tail.isdigit():
        return url.rstrip("/") + f"/{db}"
    return f"{base}/{db}"


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
