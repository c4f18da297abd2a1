"""What the warehouse was doing: the top failed or slow queries, their dbt models, and why.

``profile_queries`` ranks what a source returns (failed first, then by elapsed time) and keeps the
top N, streaming: a 100,000-row history is never held in memory at once. ``profile_incident`` is the
specialist: it turns an Incident into a QueryFinding.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta

from query_profiler.attribution import UNATTRIBUTED, model_for
from query_profiler.deadline import call_with_deadline
from query_profiler.diagnosis import diagnose, duration, has_signal
from query_profiler.lineage import related_models as manifest_neighbours
from query_profiler.records import QueryProfile, QueryRecord, QueryStatus
from query_profiler.sources import QueryHistorySource, make_source
from shared.contracts import Evidence, FindingStatus, Incident, QueryDetails, QueryFinding, Trigger
from shared.errors import IncidentCommanderError
from shared.redact import clean
from shared.settings import Settings

DEFAULT_TOP = 3
SLOW_QUERY_MS = 1_000  # a query that succeeded faster than this, with no other signal, is not reported
# The incident window around the failure: long dbt runs start well before they fail, and neighbours
# still running (or queued) just after the failure are part of the story.
INCIDENT_LOOKBACK = timedelta(hours=2)
INCIDENT_LOOKAHEAD = timedelta(minutes=5)
# When the trigger carries this try's start, the window is the try itself: queries from before it
# belong to other runs. A minute's slack covers the warehouse's clock against Airflow's.
TRY_CLOCK_SLACK = timedelta(minutes=1)
# Shares of the specialist's soft time limit: driver time-outs fire first, the deadline is the backstop.
CONNECT_TIMEOUT_SHARE, CONNECT_TIMEOUT_MAX_S = 0.25, 5.0
STATEMENT_TIMEOUT_SHARE, STATEMENT_TIMEOUT_MAX_S = 0.5, 10.0
DEADLINE_SHARE = 0.75
NO_WAREHOUSE = "no warehouse configured (WAREHOUSE_URL)"
ERROR_CHARS = 500
DIAGNOSIS_CHARS = 600
BLOCKED_BY_CHARS = 400
QUERY_TEXT_CHARS = 300
NAME_CHARS = 250


def profile_queries(
    source: QueryHistorySource,
    *,
    start: datetime,
    end: datetime,
    model: str | None = None,
    related_models: Iterable[str] | None = None,
    top: int = DEFAULT_TOP,
) -> list[QueryProfile]:
    """The ``top`` queries in [start, end], failed first, then by elapsed time, each attributed and diagnosed.

    With ``model``, only queries issued by that model or by ``related_models`` (its upstream and
    downstream from the manifest) are kept; without it, everything in the window is ranked. Queries
    that succeeded in under ``SLOW_QUERY_MS`` with nothing else to say are never reported.
    """
    if top <= 0:
        return []
    scope = frozenset({model, *(related_models or ())}) if model else None
    text_filters = tuple(sorted(scope)) if scope else ()
    candidates = _attributed(source.queries(start=start, end=end, text_filters=text_filters), scope)
    ranked = heapq.nsmallest(top, candidates, key=lambda pair: _rank(pair[0]))
    return [
        to_profile(record, attributed or model_for(record.query_text, record.query_tag))
        for record, attributed in ranked
    ]


def _attributed(
    records: Iterable[QueryRecord], scope: frozenset[str] | None
) -> Iterator[tuple[QueryRecord, str | None]]:
    """Noteworthy records not issued by the profiler itself; attributed now only when the scope needs it."""
    for record in records:
        if record.is_own or not _noteworthy(record):
            continue
        if scope is None:
            yield record, None  # attributed after ranking, for the top few only
            continue
        model = model_for(record.query_text, record.query_tag)
        if model in scope:
            yield record, model


def _noteworthy(record: QueryRecord) -> bool:
    """Failed, still in flight, slow, or carrying a signal: what "failed or crawled" means here."""
    if record.status is not QueryStatus.SUCCEEDED or record.elapsed_ms >= SLOW_QUERY_MS:
        return True
    return has_signal(record)


def _rank(record: QueryRecord) -> tuple[int, float, str]:
    """Failed first, then sessions blocked or blocking now, then the rest by elapsed time;
    pg_stat_statements aggregates (maxima since the last stats reset, maybe last week) last."""
    if record.failed:
        tier = 0
    elif record.blocked_by_pid is not None or record.blocking_pids:
        tier = 1
    elif record.status is QueryStatus.AGGREGATE:
        tier = 3
    else:
        tier = 2
    return (tier, -record.elapsed_ms, record.query_id)


def to_profile(record: QueryRecord, model: str) -> QueryProfile:
    """The reported view of a record: every string from the warehouse redacted and truncated."""
    diagnosis = diagnose(record)
    error = " ".join(p for p in (record.error_code, record.error_message) if p) or None
    blocked_by = None
    if record.blocked_by_pid is not None:
        blocked_by = f"pid {record.blocked_by_pid}: {record.blocked_by_query or '(query not visible)'}"
    return QueryProfile(
        query_id=clean(record.query_id, NAME_CHARS) or "?",
        model=clean(model, NAME_CHARS) or UNATTRIBUTED,
        status=record.status,
        elapsed_ms=record.elapsed_ms,
        error=clean(error, ERROR_CHARS),
        diagnosis=clean(diagnosis.text, DIAGNOSIS_CHARS) or "",
        headline=clean(diagnosis.headline, DIAGNOSIS_CHARS) or "",
        blocked_by=clean(blocked_by, BLOCKED_BY_CHARS),
        warehouse=clean(record.warehouse, NAME_CHARS),
        started_at=record.started_at,
        query_text=clean(" ".join(record.query_text.split()), QUERY_TEXT_CHARS) or "",
    )


def incident_window(trigger: Trigger) -> tuple[datetime, datetime]:
    """The queries that may explain this try: from its start (else two hours before the failure) to a
    few minutes after it ended (queries still running, or queued, belong to the story)."""
    ended = trigger.ended_at or trigger.failed_at
    ended = ended if ended.tzinfo else ended.replace(tzinfo=UTC)
    if trigger.started_at is not None:
        return trigger.started_at - TRY_CLOCK_SLACK, ended + INCIDENT_LOOKAHEAD
    return ended - INCIDENT_LOOKBACK, ended + INCIDENT_LOOKAHEAD


def profile_incident(incident: Incident, settings: Settings) -> QueryFinding:
    """The query_profiler specialist's finding for ``incident``.

    A source that cannot be read (our errors: unreachable, refused, timed out) gives an UNAVAILABLE
    finding with the reason; anything unexpected is raised to the specialist task, the one layer
    that catches the rest and times the call.
    """
    if settings.warehouse_url is None:
        return QueryFinding(status=FindingStatus.EMPTY, summary=NO_WAREHOUSE)
    trigger = incident.trigger
    start, end = incident_window(trigger)
    budget_s = settings.specialist_soft_time_limit_s
    url = settings.warehouse_url.get_secret_value()
    notes: list[str] = []  # why the manifest was not used, when it is there (too big, not JSON)
    related = manifest_neighbours(settings.dbt_project_dir, trigger.model, notes=notes)

    def read() -> tuple[str, str, list[QueryProfile]]:
        source = make_source(
            url,
            connect_timeout_s=min(CONNECT_TIMEOUT_MAX_S, budget_s * CONNECT_TIMEOUT_SHARE),
            statement_timeout_s=min(STATEMENT_TIMEOUT_MAX_S, budget_s * STATEMENT_TIMEOUT_SHARE),
        )
        try:
            if trigger.model and related is not None:
                found = profile_queries(source, start=start, end=end, model=trigger.model, related_models=related)
                if found:
                    return source.kind, "model", found
            return source.kind, "window", profile_queries(source, start=start, end=end)
        finally:
            source.close()

    try:
        kind, scope, profiles = call_with_deadline(read, timeout_s=budget_s * DEADLINE_SHARE)
    except IncidentCommanderError as exc:  # the source's own errors, mapped once at its adapter
        return QueryFinding(status=FindingStatus.UNAVAILABLE, summary=_reason(exc))
    details = QueryDetails(
        queries=tuple(p.to_detail() for p in profiles),
        source=kind,
        scope="model" if scope == "model" else "window",
        window_start=start,
        window_end=end,
        model=trigger.model,
        related_models=tuple(sorted(related or ())),
        not_used=tuple(clean(n, 1_000) or "" for n in notes),
    )
    if not profiles:
        empty = f"no failed or slow queries in {kind} query history for the incident window"
        return QueryFinding(
            status=FindingStatus.EMPTY, details=details, summary=clean("; ".join([empty, *notes]), 1_000) or empty
        )
    return QueryFinding(
        status=FindingStatus.OK,
        summary=clean(summary_line(profiles), 1_000) or "",
        details=details,
        evidence=tuple(Evidence(source="query_history", text=clean(evidence_line(p), 2_000) or "") for p in profiles),
    )


def _reason(exc: IncidentCommanderError) -> str:
    text = str(exc).strip() or type(exc).__name__
    return clean(f"query history unavailable: {text}", 1_000) or "query history unavailable"


def summary_line(profiles: list[QueryProfile]) -> str:
    """One line, e.g. ``fct_orders failed: 000904 invalid identifier 'AMOUNT_USD'; orders_daily spilled 12 GB
    to remote storage``."""
    parts = []
    for p in profiles:
        subject = p.model if p.model != UNATTRIBUTED else f"query {p.query_id}"
        parts.append(f"{subject} {p.headline}")
    return "; ".join(parts)


def evidence_line(profile: QueryProfile) -> str:
    """``<query_id> <model> <status>, elapsed <t>: <diagnosis> | <query text>``."""
    line = (
        f"{profile.query_id} {profile.model} {profile.status.value}, elapsed {duration(profile.elapsed_ms)}: "
        f"{profile.diagnosis}"
    )
    return f"{line} | {profile.query_text}" if profile.query_text else line
