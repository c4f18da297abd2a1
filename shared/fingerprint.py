"""The cause fingerprint: failures with one root cause share it, failures with different causes do not.

    fingerprint = sha256(error class | key object | message template)[:16], prefixed "fp1-"

- **error class**: the log analyzer's class (``connection_error``, ``invalid_identifier``, ...).
- **key object**: what the error names (a host, a relation, a column, a connection id), lower-cased;
  the strongest separator: two different missing columns are two causes.
- **message template**: the root line with everything that differs between runs of one cause
  masked: timestamps, UUIDs, long hex ids, query ids, long or decimal numbers, paths, the key object
  itself, and this failure's own dag, task and run ids as whole tokens (so 30 tasks that cannot reach
  one host share a template). Quoted names are never masked (another table, file or host is another
  cause), nor are small integers (exit code 1 vs 137, HTTP 403 vs 404).

The version prefix ("fp1") changes whenever the recipe does, so old and new fingerprints never
silently collide. ``explain`` returns the three parts, for the incident's "why grouped" line.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from shared.contracts import LogFinding, Trigger

VERSION = "fp1"
_MAX_TEMPLATE = 300

# Masks, applied in order (each replaces a varying part by a placeholder).
_MASKS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\x1b\[[0-9;]*m|\\u001b\[[0-9;]*m"), ""),  # colours
    (re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?"), "<ts>"),
    (re.compile(r"\b\d{2}:\d{2}:\d{2}(?:\.\d+)?\b"), "<time>"),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I), "<uuid>"),
    (re.compile(r"\b\d+\.\d+\b"), "<n>"),  # durations, sizes (before hex: 5.024183940000057)
    (re.compile(r"\b[0-9a-f]{12,}\b", re.I), "<hex>"),
    (re.compile(r"(?:[A-Za-z]:)?(?:/[\w.\-]+){2,}/?"), "<path>"),
    (re.compile(r"\{[\w.]+:\d+\}"), "<src>"),  # Airflow's "{taskinstance.py:3311}"
    # Counts, sizes, durations, ids; kept: integers of 1-3 digits (exit codes 1 vs 137, HTTP 403 vs
    # 404, "attempt 3 of 5"), which name the cause more often than they vary between its runs.
    (re.compile(r"\b\d{4,}\b"), "<n>"),
    (re.compile(r"\s+"), " "),
)
# A quoted name ('orders', "/data/in/f5.csv", `db.t`) is another table, file or host: never masked.
_QUOTED = re.compile(r"'[^'\n]*'|\"[^\"\n]*\"|`[^`\n]*`")
_LOG_PREFIX = re.compile(r"^\s*(?:\[[^\]]*\]\s*)?(?:<src>\s*)?(?:INFO|WARNING|ERROR|CRITICAL|DEBUG)?\s*-?\s*", re.I)


@dataclass(frozen=True, slots=True)
class Cause:
    """The parts a fingerprint is made of, for display ("grouped because ...")."""

    error_class: str
    key_object: str
    template: str

    @property
    def fingerprint(self) -> str:
        digest = hashlib.sha256(f"{self.error_class}|{self.key_object}|{self.template}".encode()).hexdigest()
        return f"{VERSION}-{digest[:16]}"


def explain(
    *, error_class: str | None, key_object: str | None, message: str | None, own_ids: Iterable[str] = ()
) -> Cause:
    """The cause of one failure: its class, key object and masked message template.

    ``own_ids`` are this failure's own identifiers (dag id, task id, run id, model name): masked in
    the template, since they differ between the tasks that share a cause.
    """
    key = (key_object or "").strip().lower()
    text = message or ""
    # Only id-like names (with _ . - or a digit: call_flaky_api, scheduled__2026-...), as whole tokens: a
    # task called "load" must not turn "failed to load table" into "failed to <id> table".
    ids = {i for i in own_ids if i and len(i) >= 3 and re.search(r"[\d_.\-]", i)}
    for own in sorted(ids, key=len, reverse=True):
        text = re.sub(rf"(?<![\w.-]){re.escape(own)}(?![\w-])", "<id>", text)
    if key_object and key_object.strip():
        text = text.replace(key_object.strip(), "<key>")  # kept apart, as the key: not twice
    text = _LOG_PREFIX.sub("", _outside_quotes(text)).strip().lower()[:_MAX_TEMPLATE]
    return Cause(error_class=(error_class or "unknown").strip().lower(), key_object=key, template=text)


def _outside_quotes(text: str) -> str:
    """``text`` with the masks applied everywhere but inside quoted names."""
    out: list[str] = []
    at = 0
    for quoted in _QUOTED.finditer(text):
        out += [_mask(text[at : quoted.start()]), quoted.group()]
        at = quoted.end()
    out.append(_mask(text[at:]))
    return re.sub(r"\s+", " ", "".join(out))


def _mask(text: str) -> str:
    for pattern, placeholder in _MASKS:
        text = pattern.sub(placeholder, text)
    return text


def fingerprint(
    *, error_class: str | None, key_object: str | None, message: str | None, own_ids: Iterable[str] = ()
) -> str:
    """``fp1-<16 hex>``: equal for failures with one cause (see the module doc)."""
    return explain(error_class=error_class, key_object=key_object, message=message, own_ids=own_ids).fingerprint


def cause_of(finding: LogFinding, trigger: Trigger) -> Cause | None:
    """The cause of a triaged failure from its log finding (None when the log shows no failure):
    the class and key object the analyzer found, and its root line (the first evidence line)."""
    details = finding.details
    if details.error_class is None:
        return None
    message = finding.evidence[0].text if finding.evidence else details.root_cause
    own = (trigger.dag_id, trigger.task_id, trigger.run_id, trigger.model or "")
    return explain(error_class=details.error_class, key_object=details.key_object, message=message, own_ids=own)
