"""Message contracts between the producer, the commander and the specialists.

Every message on the wire is one of these models dumped to JSON (``model_dump(mode="json")``).
They are frozen (a received message is never mutated) and versioned (``schema_version``), so a
worker that meets a message from a newer producer rejects it with a clear error instead of
misreading it.

    Trigger  --(commander queue)-->  Incident  --(chord header)-->  one Finding per specialist  -->  Report

A finding is one of a discriminated union keyed by ``specialist``: each built-in specialist has
its own typed ``details`` (``LogDetails``, ``QueryDetails``, ``OwnerDetails``), so the composer
and the formatter read attributes, never keys. Findings and reports are at schema version 2
(typed details); a version-1 finding meets an error that names its version.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    JsonValue,
    Tag,
    TypeAdapter,
    field_validator,
    model_validator,
)

from shared.redact import redact, redact_json

SCHEMA_VERSION = 1  # triggers and incidents
FINDING_SCHEMA_VERSION: Literal[2] = 2  # findings and reports: typed details since version 2

# What Airflow allows in dag and task ids (KEY_REGEX ^[\w.-]+$: Unicode letters, digits, _ . -).
# Ids become folder names (dag_id=…/task_id=…), so ids made only of dots ('.', '..') are refused too.
_AIRFLOW_ID = re.compile(r"^(?!\.+\Z)[\w.\-]{1,250}\Z")
# Run ids: Airflow's allowed_run_id_pattern default is ^[A-Za-z0-9_.~:+-]+$; deployments may widen
# it, so we accept any printable text except what could leave a folder: a path separator, a
# control character, or a run id made only of dots.
# An incident id: INC-<day>-<sequence>, e.g. INC-20261130-0001.
INCIDENT_ID = re.compile(r"^INC-\d{8}-\d{4,}$")  # use fullmatch: "$" alone allows a final newline
# A specialist's name, which is also its queue and its package.
SPECIALIST_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
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
    """The built-in specialists (``shared.specialists`` has the table); the value is also their queue."""

    LOG_ANALYZER = "log_analyzer"
    QUERY_PROFILER = "query_profiler"
    OWNER_NOTIFIER = "owner_notifier"


class FindingStatus(StrEnum):
    OK = "ok"  # the specialist found something
    EMPTY = "empty"  # it looked and there was nothing to find (or no source is configured)
    UNAVAILABLE = "unavailable"  # it could not look: an error, a time-out, a dead worker


class Trigger(_Frozen):
    """A failed Airflow task (or a manual CLI trigger) asking for triage.

    Version 2 added the try's window (``started_at``, ``ended_at``) and the task's ``task_owner``;
    a version-1 trigger (an older producer) is read as one without them.
    """

    schema_version: Literal[1, 2] = 2
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
    # This try's window (the task instance's start_date / end_date): a dbt artifact is evidence for
    # this failure only when it was written inside it (shared.provenance). None: not known.
    started_at: datetime | None = None
    ended_at: datetime | None = None
    # The Airflow task's ``owner`` argument as the DAG set it (Airflow's default "airflow" included:
    # the owner notifier decides what it is worth).
    task_owner: Redacted | None = Field(default=None, max_length=250)

    @field_validator("failed_at", "started_at", "ended_at", "logical_date")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        """A time without a zone is taken as UTC (Airflow stores and sends UTC)."""
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value

    @model_validator(mode="after")
    def _window_in_order(self) -> Trigger:
        if self.started_at is not None and self.ended_at is not None and self.ended_at < self.started_at:
            raise ValueError(f"ended_at {self.ended_at.isoformat()} is before started_at {self.started_at.isoformat()}")
        return self

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
    incident_id: str = Field(pattern=INCIDENT_ID.pattern)
    trigger: Trigger
    channel: str
    thread_ts: str | None = None  # the opening message's ts: replies go under it, the report replaces it
    opened_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


class Evidence(_Frozen):
    """One line (or row) that backs a finding, with where it came from."""

    source: Redacted  # a file path, "run_results.json", "query_history", "manifest.json:nodes.model.x.y", ...
    line: int | None = None  # 1-based line number in ``source`` when it is a text file
    text: Redacted = Field(max_length=2_000)


# A Slack mention we may insert live: a user (<@U123>, <@W123>) or a user group
# (<!subteam^S123>). The one pattern: the owner notifier resolves owners to it and the formatter
# inserts nothing else unescaped. Labels (<!subteam^S1|name>) are dropped by the resolver.
MENTION_PATTERN = re.compile(r"<@[UW][A-Z0-9]+>|<!subteam\^[A-Z0-9]+>")


def _mention(value: str) -> str:
    if not MENTION_PATTERN.fullmatch(value):
        raise ValueError("not a Slack user or user-group mention (<@U…>, <@W…>, <!subteam^S…>)")
    return value


SlackMention = Annotated[str, AfterValidator(_mention)]


# ── What each specialist found: typed details, one model per specialist ──────────────────────────


class LogDetails(_Frozen):
    """The log analyzer's details: the failing step, its class and where it was read."""

    error_class: Redacted | None = None  # a log_analyzer ErrorClass value: invalid_identifier, timeout, ...
    failed_node: Redacted | None = None  # the dbt node id, e.g. model.hourly_marts.fct_orders
    root_cause: Redacted | None = None
    skipped: tuple[Redacted, ...] = ()  # dbt nodes skipped because of the failure
    runbook: Redacted | None = None  # the catalog's next step for this error class
    step: Redacted | None = None  # the signature (or template) that decided the class
    source: Redacted | None = None  # the log actually read
    not_used: tuple[Redacted, ...] = ()  # locations refused or skipped, one line each, with why
    key_object: Redacted | None = None  # what the error names (column, relation, host, code): the cause's key


QueryStatusName = Literal[
    "failed", "blocked", "queued", "running", "idle_in_transaction", "succeeded", "aggregate", "unknown"
]
# Where the owner notifier found the failed node.
FoundBy = Literal["trigger.model", "run_results.json", "sources.json", "task_id", "lookup"]


class QueryDetail(_Frozen):
    """One ranked warehouse query (redacted, diagnosed, attributed to a dbt model)."""

    query_id: Redacted
    model: Redacted
    status: QueryStatusName
    elapsed_ms: float = 0.0
    error: Redacted | None = None
    diagnosis: Redacted = ""
    blocked_by: Redacted | None = None
    warehouse: Redacted | None = None
    started_at: datetime | None = None


class QueryDetails(_Frozen):
    """The query profiler's details: the queries it ranked and the window it searched."""

    queries: tuple[QueryDetail, ...] = ()
    source: Redacted | None = None  # snowflake, postgres, file
    scope: Literal["model", "window"] | None = None  # matched by the model's lineage, or by time only
    window_start: datetime | None = None
    window_end: datetime | None = None
    model: Redacted | None = None
    related_models: tuple[Redacted, ...] = ()
    not_used: tuple[Redacted, ...] = ()  # what was there but not used (an oversized manifest, ...), with why


class OwnerEntry(_Frozen):
    """One declared owner (or the lack of one) of one failed node."""

    model: Redacted
    unique_id: Redacted | None = None
    failed_node: Redacted
    owner: Redacted | None = None  # the declared string, as written (None: no owner declared)
    source: Redacted | None = None  # where it was declared: manifest:config.meta.owner, a YAML path, ...
    slack: SlackMention | None = None  # the mention it resolved to, else None (never a guess)
    resolved_by: Literal["as_given", "user_directory", "owners_file", "none"] | None = None
    # Why there is no mention, what happened to the ping, or (no owner declared) where we looked.
    note: Redacted | None = None
    looked_in: tuple[Redacted, ...] = ()
    pinged: bool = False


class FailedNode(_Frozen):
    name: Redacted
    unique_id: Redacted | None = None
    resource_type: Redacted = "model"  # from the node id's prefix in dbt's artifacts
    failure_class: Redacted | None = None
    found_by: FoundBy


class Downstream(_Frozen):
    """What depends on the failed nodes, by name, from the manifest."""

    models: tuple[Redacted, ...] = ()
    exposures: tuple[Redacted, ...] = ()
    from_manifest: bool = False  # whether empty lists mean "no dependents" or "could not tell"


class OwnerDetails(_Frozen):
    """The owner notifier's details: who owns what failed, who was pinged, what it blocks."""

    owners: tuple[OwnerEntry, ...] = ()
    downstream: Downstream = Downstream()
    failed_nodes: tuple[FailedNode, ...] = ()
    targets_looked_in: tuple[Redacted, ...] = ()

    @property
    def mentions(self) -> tuple[str, ...]:
        """The owners' Slack mentions, each once, in order."""
        return tuple(dict.fromkeys(o.slack for o in self.owners if o.slack))

    def lines(self) -> tuple[OwnerLine, ...]:
        """The declared owners, one line per owner (per mention, else per declared string), in order:
        so a mention appears once however many failed models it owns."""
        grouped: dict[str, tuple[list[str], list[str], OwnerEntry]] = {}
        for entry in self.owners:
            if entry.owner is None:
                continue
            models, sources, _ = grouped.setdefault(entry.slack or f"as declared:{entry.owner}", ([], [], entry))
            models += [entry.model] if entry.model not in models else []
            sources += [entry.source] if entry.source and entry.source not in sources else []
        return tuple(
            OwnerLine(models=tuple(m), owner=first.owner or "", mention=first.slack, sources=tuple(src))
            for m, src, first in grouped.values()
        )

    @property
    def no_owner(self) -> tuple[str, ...]:
        """For each failed model nobody declared an owner of, where we looked (the entry's note)."""
        return tuple(dict.fromkeys(o.note for o in self.owners if o.owner is None and o.note))


class OwnerLine(_Frozen):
    """One owner and the failed models they own: ``fct_orders, dim_x → <@U0MARIA> (manifest:…)``."""

    models: tuple[Redacted, ...]
    owner: Redacted  # as declared: an email, a team name, a mention, a handle
    mention: SlackMention | None = None  # what it resolved to; None: not a Slack mention, not pinged
    sources: tuple[Redacted, ...] = ()

    NOT_PINGED: ClassVar[str] = ", not a Slack mention: not pinged"

    def plain(self) -> str:
        """The line as plain text (the mention as markup text: renderers make it live or not)."""
        return (
            f"{', '.join(self.models)} → {self.mention or self.owner} ({', '.join(self.sources)}"
            f"{'' if self.mention else self.NOT_PINGED})"
        )


def _readable_version(data: Any, what: str) -> Any:
    """``data`` unchanged, or a clear error when it is of another schema version than ours."""
    version = data.get("schema_version") if isinstance(data, dict) else None
    if version is not None and version != FINDING_SCHEMA_VERSION:
        raise ValueError(
            f"{what} schema_version {version!r} is not readable here: this version reads "
            f"{FINDING_SCHEMA_VERSION} only (upgrade the older workers or drain their queues)"
        )
    return data


class _FindingBase(_Frozen):
    """What one specialist found. Subclasses fix ``specialist`` and type ``details``."""

    schema_version: Literal[2] = FINDING_SCHEMA_VERSION
    status: FindingStatus
    summary: Redacted = Field(max_length=1_000)  # one line, plain text (escaped when rendered)
    evidence: tuple[Evidence, ...] = ()
    elapsed_ms: float = 0.0

    @model_validator(mode="before")
    @classmethod
    def _known_version(cls, data: Any) -> Any:
        return _readable_version(data, "finding")


class LogFinding(_FindingBase):
    specialist: Literal[Specialist.LOG_ANALYZER] = Specialist.LOG_ANALYZER
    details: LogDetails = LogDetails()


class QueryFinding(_FindingBase):
    specialist: Literal[Specialist.QUERY_PROFILER] = Specialist.QUERY_PROFILER
    details: QueryDetails = QueryDetails()


class OwnerFinding(_FindingBase):
    specialist: Literal[Specialist.OWNER_NOTIFIER] = Specialist.OWNER_NOTIFIER
    details: OwnerDetails = OwnerDetails()


class OtherFinding(_FindingBase):
    """A specialist added to the registry (``shared.specialists``) without a details model of its own."""

    specialist: str = Field(pattern=SPECIALIST_NAME.pattern)
    details: dict[str, JsonValue] = Field(default_factory=dict)

    @field_validator("specialist")
    @classmethod
    def _not_built_in(cls, value: str) -> str:
        if value in Specialist.__members__.values():
            raise ValueError(f"{value} findings have their own model")
        return value

    @field_validator("details")
    @classmethod
    def _redacted_details(cls, value: dict[str, JsonValue]) -> dict[str, JsonValue]:
        return redact_json(value)  # type: ignore[return-value]  # a dict in, a dict out


_TYPED: dict[str, type[_FindingBase]] = {
    Specialist.LOG_ANALYZER.value: LogFinding,
    Specialist.QUERY_PROFILER.value: QueryFinding,
    Specialist.OWNER_NOTIFIER.value: OwnerFinding,
}


def _finding_tag(value: Any) -> str:
    name = value.get("specialist") if isinstance(value, dict) else getattr(value, "specialist", None)
    return str(name) if str(name) in _TYPED else "other"


# Any specialist's finding, told apart by ``specialist`` (a discriminated union).
Finding = Annotated[
    Annotated[LogFinding, Tag(Specialist.LOG_ANALYZER.value)]
    | Annotated[QueryFinding, Tag(Specialist.QUERY_PROFILER.value)]
    | Annotated[OwnerFinding, Tag(Specialist.OWNER_NOTIFIER.value)]
    | Annotated[OtherFinding, Tag("other")],
    Discriminator(_finding_tag),
]
_FINDING: TypeAdapter[Finding] = TypeAdapter(Finding)
AnyFinding = LogFinding | QueryFinding | OwnerFinding | OtherFinding
F = TypeVar("F", LogFinding, QueryFinding, OwnerFinding)


def parse_finding(data: Any) -> AnyFinding:
    """A finding from its JSON dict; ValidationError names the problem (an old schema version too)."""
    return _FINDING.validate_python(data)


def parse_finding_json(raw: str | bytes) -> AnyFinding:
    return _FINDING.validate_json(raw)


def unavailable(specialist: str, reason: str, *, elapsed_ms: float = 0.0) -> AnyFinding:
    """The finding of a specialist that could not look: an error, a time-out, a dead worker."""
    return parse_finding(
        {
            "specialist": str(specialist),
            "status": FindingStatus.UNAVAILABLE.value,
            "summary": reason[:1_000],
            "elapsed_ms": elapsed_ms,
        }
    )


def pick(findings: Mapping[str, AnyFinding], kind: type[F], *, missing: str = "no result") -> F:
    """The finding of ``kind``'s specialist in ``findings``, or an unavailable one saying ``missing``."""
    name = kind.model_fields["specialist"].default
    found = findings.get(name)
    if isinstance(found, kind):
        return found
    return kind(status=FindingStatus.UNAVAILABLE, summary=missing[:1_000])


class ReportStatus(StrEnum):
    COMPLETE = "complete"  # every specialist reported
    DEGRADED = "degraded"  # at least one specialist was unavailable


class Report(_Frozen):
    """The composed incident post: ROOT CAUSE / IMPACT / OWNER / NEXT ACTION."""

    schema_version: Literal[2] = FINDING_SCHEMA_VERSION
    incident_id: str
    trigger: Trigger
    status: ReportStatus
    root_cause: Redacted
    impact: Redacted
    owner: Redacted
    next_action: Redacted
    # The shell command quoted (in backticks) at the end of next_action, which renderers show as code.
    rerun_command: Redacted | None = None
    # OWNER as lines, when owners were found: renderers show each mention live once (``owner`` is
    # the same as plain text); then, for failed models without a declared owner, where we looked.
    owner_lines: tuple[OwnerLine, ...] = ()
    owner_notes: tuple[Redacted, ...] = ()
    findings: tuple[Finding, ...]
    composed_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    @model_validator(mode="before")
    @classmethod
    def _known_version(cls, data: Any) -> Any:
        return _readable_version(data, "report")

    @property
    def mentions(self) -> tuple[str, ...]:
        """The owners' mentions, each once: the only text a renderer may insert unescaped."""
        return tuple(dict.fromkeys(line.mention for line in self.owner_lines if line.mention))


def dump(model: BaseModel) -> dict[str, Any]:
    """The JSON-safe dict that goes on the wire."""
    return model.model_dump(mode="json")
