"""Value types of the log analyzer: the error classes, one signature match, the analysis result."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from shared.contracts import Evidence


class ErrorClass(StrEnum):
    """Stable failure classes; the strings are part of the finding's contract."""

    INVALID_IDENTIFIER = "invalid_identifier"
    MISSING_OBJECT = "missing_object"
    SYNTAX_ERROR = "syntax_error"
    COMPILATION_ERROR = "compilation_error"
    DATA_ERROR = "data_error"
    TEST_FAILURE = "test_failure"
    FRESHNESS_FAILURE = "freshness_failure"
    DUPLICATE_ROW = "duplicate_row"
    PERMISSION_DENIED = "permission_denied"
    AUTH_ERROR = "auth_error"
    CONNECTION_ERROR = "connection_error"
    TIMEOUT = "timeout"
    RESOURCE_EXHAUSTED = "resource_exhausted"
    LOCK_CONFLICT = "lock_conflict"
    CONFIG_ERROR = "config_error"
    CODE_ERROR = "code_error"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Match:
    """One signature that matched one line, with what it extracted."""

    signature_id: str
    origin: str
    error_class: ErrorClass
    rank: int
    line: int  # 1-based
    text: str
    extracted: tuple[tuple[str, str], ...] = ()
    header: bool = False
    wrapper: bool = False  # the line only says that something failed (an exit code, "Task failed")

    def get(self, name: str) -> str | None:
        for key, value in self.extracted:
            if key == name or (key.startswith(name) and key[len(name) :].isdigit()):
                return value
        return None

    @property
    def key_object(self) -> str | None:
        return self.get("column") or self.get("object") or self.get("exc") or self.get("code")


@dataclass(frozen=True, slots=True)
class LogAnalysis:
    """What the log says failed; ``error_class`` is None when the log shows no failure."""

    error_class: ErrorClass | None
    failed_node: str | None
    root_cause: str
    evidence: tuple[Evidence, ...] = ()
    skipped: tuple[str, ...] = ()
    runbook: str | None = None
    step: str | None = None  # the signature (or template) that decided the class
    source: str | None = None
    key_object: str | None = None  # what the error names: a column, relation, host, code (None: nothing)

    @property
    def failed(self) -> bool:
        return self.error_class is not None
