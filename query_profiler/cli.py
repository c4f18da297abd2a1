"""``incident-commander profile-queries``: the profiler from a terminal (registered by incident_cli).

app.command("profile-queries")(profile_queries_command)
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from query_profiler.diagnosis import duration
from query_profiler.profiler import DEFAULT_TOP, profile_queries
from query_profiler.records import QueryProfile
from query_profiler.sources import make_source
from shared.errors import IncidentCommanderError
from shared.redact import redact
from shared.settings import get_settings

_SINCE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$", re.I)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3_600, "d": 86_400}


def profile_queries_command(
    warehouse_url: Annotated[
        str | None,
        typer.Option(
            "--warehouse-url",
            help=("snowflake://, postgresql://, file:// or a path to a JSON/CSV export (default: $WAREHOUSE_URL)"),
        ),
    ] = None,
    since: Annotated[str, typer.Option("--since", help="window ending now, e.g. 30m, 1h, 2d")] = "1h",
    start: Annotated[str | None, typer.Option("--start", help="window start, ISO 8601 (overrides --since)")] = None,
    end: Annotated[str | None, typer.Option("--end", help="window end, ISO 8601 (default: now)")] = None,
    model: Annotated[str | None, typer.Option("--model", help="only queries issued by this dbt model")] = None,
    top: Annotated[int, typer.Option("--top", min=1, max=100, help="how many queries to show")] = DEFAULT_TOP,
    as_json: Annotated[bool, typer.Option("--json", help="print a JSON list instead of a table")] = False,
) -> None:
    """Top failed and slow warehouse queries in a window, their dbt models, and why."""
    url = warehouse_url or _configured_url()
    window_start, window_end = parse_window(since=since, start=start, end=end)
    source = None
    try:
        source = make_source(url)
        profiles = profile_queries(source, start=window_start, end=window_end, model=model, top=top)
    except IncidentCommanderError as exc:
        typer.echo(f"error: {redact(str(exc))}", err=True)
        raise typer.Exit(code=2) from exc
    finally:
        if source is not None:
            source.close()
    if as_json:
        typer.echo(json.dumps([json_row(p) for p in profiles], indent=2))
    else:
        render_table(profiles, console=Console())


def json_row(profile: QueryProfile) -> dict[str, object]:
    """The ``--json`` shape of one query."""
    return profile.to_detail().model_dump(
        mode="json", include={"query_id", "model", "status", "elapsed_ms", "error", "diagnosis", "blocked_by"}
    )


def render_table(profiles: list[QueryProfile], *, console: Console) -> None:
    if not profiles:
        console.print("No failed or slow queries in the window.")
        return
    table = Table(title="Top queries", show_lines=True)
    for column in ("query id", "model", "status", "elapsed", "diagnosis"):
        table.add_column(column, overflow="fold")
    for p in profiles:
        table.add_row(p.query_id, p.model, p.status.value, duration(p.elapsed_ms), p.diagnosis)
    console.print(table)


def parse_window(
    *, since: str, start: str | None, end: str | None, now: datetime | None = None
) -> tuple[datetime, datetime]:
    """[start, end] from ``--start/--end`` (ISO 8601) or from ``--since`` (e.g. ``1h``) ending now."""
    window_end = _timestamp(end, "--end") if end else (now or datetime.now(UTC))
    if start:
        window_start = _timestamp(start, "--start")
    else:
        match = _SINCE.match(since)
        if not match:
            raise typer.BadParameter("use a number and a unit: 30m, 1h, 2d", param_hint="--since")
        window_start = window_end - timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()])
    if window_start >= window_end:
        raise typer.BadParameter("the window must start before it ends", param_hint="--start/--end")
    return window_start, window_end


def _timestamp(text: str, option: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise typer.BadParameter("expected ISO 8601, e.g. 2026-05-01T10:00:00+00:00", param_hint=option) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _configured_url() -> str:
    configured = get_settings().warehouse_url
    if configured is None:
        raise typer.BadParameter("give --warehouse-url or set WAREHOUSE_URL", param_hint="--warehouse-url")
    return configured.get_secret_value()
