"""Message contracts between the producer, the commander and the three specialists.

Every message on the wire is one of these models dumped to JSON (``model_dump(mode="json")``).
They are frozen (a received message is never mutated) and versioned (``schema_version``), so a
worker that meets a message from a newer producer rejects it with a clear error instead of
misreading it.

    Trigger  --(commander queue)-->  Incident  --(chord header)-->  Finding x3  -->  Report
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue, field_validator

from shared.redact import redact, redact_json

SCHEMA_VERSION = 1

# What Airflow allows in dag and task ids (KEY_REGEX ^[\w.-]+$: Unicode letters, digits, _ . -).
# Ids become folder names (dag_id=…/task_id=…), so ids made only of dots ('.', '..') are refused too.
_AIRFLOW_ID = re.compile(r"^(?!\.+\Z)[\w.\-]{1,250}\Z")
# Run ids: Airflow's allowed_run_id_pattern default is ^[A-Za-z0-9_.~:+-]+$; deployments may widen
# it, so we accept any printable text except what could leave a folder: a path separator, a
# control character, or a run id made only of dots.
_UNSAFE_RUN_ID = re.compile(r"[/\\\x00-\x1f\x7f]|^\.+\Z")


# Untrusted text is redacted where it enters a contract, so no copy of it (the broker, Redis,
# Flower, worker logs, `watch --json`, Slack) ever holds the raw value. Redaction is idempotent.
Redacted = Annotated[str, AfterValidator(redact)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class TriggerSource(StrEnum):
    AIRFLOW = "airflow"
    CLI = "cli"


class Specialist(StrEnum):
    """The three specialists; the value is also the name of the queue each one consumes."""

    LOG_ANALYZER = "log_analyzer"
    QUERY_PROFILER = "query_profiler"
    OWNER_NOTIFIER = "owner_notifier"


class FindingStatus(StrEnum):
    OK = "ok"  # the specialist found something
    EMPTY = "empty"  # it looked and there was nothing to find (or no source is configured)
    UNAVAILABLE = "unavailable"  # it could not look: an error, a time-out, a dead worker


class Trigger(_Frozen):
    """A failed Airflow task (or a manual CLI trigger) asking for triage."""

    schema_version: Literal[1] = 1
    dag_id: str
    task_id: str
    run_id: str = Field(min_length=1, max_length=250)
    try_number: int = Field(default=1, ge=0, le=10_000)
    map_index: int = Field(default=-1, ge=-1)
    logical_date: datetime | None = None
    exception: Redacted | None = Field(default=None, max_length=8_000)  # also truncated at the source
    log_location: Redacted | None = Field(default=None, max_length=4_000)  # a path on disk or Airflow's log_url
    model: str | None = Field(default=None, max_length=250)  # the suspect dbt model, when known
    context: Redacted | None = Field(default=None, max_length=2_000)  # free text from whoever triggered it
    source: TriggerSource = TriggerSource.AIRFLOW
    failed_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    @field_validator("dag_id", "task_id")
    @classmethod
    def _airflow_id(cls, value: str) -> str:
        if not _AIRFLOW_ID.match(value):
            raise ValueError("must be 1-250 letters, digits, '_', '-' or '.' (an Airflow id)")
        return value

    @field_validator("run_id")
    @classmethod
    def _run_id(cls, value: str) -> str:
        if _UNSAFE_RUN_ID.search(value):
            raise ValueError("must not contain '/', '\\' or control characters, nor be only dots")
        return value

    @property
    def dedup_key(self) -> str:
        """The same failure, however often it is reported, has one key (and so one incident)."""
        return f"{self.dag_id}:{self.task_id}:{self.run_id}:{self.map_index}:{self.try_number}"


class Incident(_Frozen):
    """A trigger that the commander has claimed and opened in Slack."""

    schema_version: Literal[1] = 1
    incident_id: str = Field(pattern=r"^INC-\d{8}-\d{4,}$")
    trigger: Trigger
    channel: str
    thread_ts: str | None = None  # the opening message's ts: replies go under it, the report replaces it
    opened_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


class Evidence(_Frozen):
    """One line (or row) that backs a finding, with where it came from."""

    source: Redacted  # a file path, "run_results.json", "query_history", "manifest.json:nodes.model.x.y", ...
    line: int | None = None  # 1-based line number in ``source`` when it is a text file
    text: Redacted = Field(max_length=2_000)


class Finding(_Frozen):
    """What one specialist found; ``details`` is specialist-specific and documented in its README."""

    schema_version: Literal[1] = 1
    specialist: Specialist
    status: FindingStatus
    summary: Redacted = Field(max_length=1_000)  # one line, plain text (escaped when rendered)
    details: dict[str, JsonValue] = Field(default_factory=dict)
    evidence: tuple[Evidence, ...] = ()
    elapsed_ms: float = 0.0

    @field_validator("details")
    @classmethod
    def _redacted_details(cls, value: dict[str, JsonValue]) -> dict[str, JsonValue]:
        return redact_json(value)  # type: ignore[return-value]  # a dict in, a dict out

    @classmethod
    def unavailable(cls, specialist: Specialist, reason: str, *, elapsed_ms: float = 0.0) -> Finding:
        return cls(specialist=specialist, status=FindingStatus.UNAVAILABLE, summary=reason[:1_000],
                   elapsed_ms=elapsed_ms)


class ReportStatus(StrEnum):
    COMPLETE = "complete"  # all three specialists reported
    DEGRADED = "degraded"  # at least one specialist was unavailable


class Report(_Frozen):
    """The composed incident post: ROOT CAUSE / IMPACT / OWNER / NEXT ACTION."""

    schema_version: Literal[1] = 1
    incident_id: str
    trigger: Trigger
    status: ReportStatus
    root_cause: Redacted
    impact: Redacted
    owner: Redacted
    next_action: Redacted
    # The shell command quoted (in backticks) at the end of next_action, which renderers show as code.
    rerun_command: Redacted | None = None
    findings: tuple[Finding, ...]
    composed_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


def dump(model: BaseModel) -> dict[str, Any]:
    """The JSON-safe dict that goes on the wire."""
    return model.model_dump(mode="json")
