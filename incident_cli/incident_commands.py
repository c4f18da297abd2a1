"""The commands around one incident: ``trigger``, ``watch``, ``config``, ``flush-spool``, ``failures``."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from incident_cli.app import EXIT_FAILED, EXIT_UNREACHABLE, app, command_settings, console, err, short_reason

# ISO 8601 as Airflow prints it: 2026-11-23T03:01:48.483905+00:00, 2026-11-23T03:01:48Z, no zone = UTC
_TIME_FORMATS = ["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f"]


@app.command()
def trigger(
    dag: Annotated[str, typer.Option("--dag", help="The failed task's DAG id.")],
    task: Annotated[str, typer.Option("--task", help="The failed task id.")],
    run_id: Annotated[str | None, typer.Option(help="The DAG run id (default: manual__<now>).")] = None,
    try_number: Annotated[int, typer.Option(help="Which attempt failed.")] = 1,
    model: Annotated[str | None, typer.Option(help="The suspect dbt model.")] = None,
    context: Annotated[str | None, typer.Option(help='Free text, e.g. "Failed 3 times in 30 minutes".')] = None,
    log: Annotated[
        Path | None,
        typer.Option(
            help="The task log to analyse (else found in AIRFLOW_LOG_FOLDER). The workers read it only if it "
            "is inside AIRFLOW_LOG_FOLDER or DBT_PROJECT_DIR/logs; anything else is refused and the "
            "finding says so. To analyse any file here and now, use analyze-log."
        ),
    ] = None,
    exception: Annotated[str | None, typer.Option(help="The exception text, if you have it.")] = None,
    started_at: Annotated[
        datetime | None,
        typer.Option(
            help="When the failed try started (ISO 8601, UTC if no zone). With it, dbt artifacts written during "
            "the try count as its evidence; without it, only those whose invocation id is in the task log.",
            formats=_TIME_FORMATS,
            metavar="ISO-TIME",
        ),
    ] = None,
    ended_at: Annotated[
        datetime | None,
        typer.Option(
            help="When the failed try ended (ISO 8601; default: now).",
            formats=_TIME_FORMATS,
            metavar="ISO-TIME",
        ),
    ] = None,
    owner: Annotated[
        str | None, typer.Option(help="The Airflow task's owner argument (for a task that is not a dbt node).")
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the report and print it.")] = False,
    timeout_s: Annotated[float, typer.Option("--timeout", help="Seconds to wait with --wait.")] = 120.0,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Trigger a triage by hand; prints the incident id (and the report with --wait)."""
    from commander.producer import send_trigger
    from shared.contracts import Trigger, TriggerSource
    from shared.redact import clean

    settings = command_settings()
    try:
        trig = Trigger(
            dag_id=dag,
            task_id=task,
            run_id=run_id or f"manual__{datetime.now(UTC).isoformat()}",
            try_number=try_number,
            model=model,
            context=context,
            log_location=str(log.resolve()) if log else None,
            exception=clean(exception, 4_000),
            source=TriggerSource.CLI,
            started_at=started_at,
            ended_at=ended_at,
            task_owner=owner,
        )
    except ValueError as exc:
        err.print(f"[red]bad trigger:[/red] {exc}")
        raise typer.Exit(2) from exc
    delivery = send_trigger(trig, settings=settings)
    if delivery.status != "sent":
        _emit(
            json_out,
            {
                "status": delivery.status,
                "reason": delivery.reason,
                "spool_path": str(delivery.spool_path) if delivery.spool_path else None,
            },
            f"[yellow]{delivery.status}[/yellow]: {delivery.reason}",
        )
        raise typer.Exit(1)
    incident_id = await_incident_id(settings, trig.dedup_key, timeout_s=min(timeout_s, 15.0))
    if incident_id is None:
        _emit(
            json_out,
            {"status": "queued", "dedup_key": trig.dedup_key},
            "queued; no incident id yet (is the commander worker running?)",
        )
        raise typer.Exit(1 if wait else 0)
    if not wait:
        _emit(json_out, {"status": "opened", "incident_id": incident_id}, incident_id)
        return
    if not json_out:
        console.print(f"[bold]{incident_id}[/bold] opened; waiting for the specialists…")
    watch_incident(settings, incident_id, timeout_s=timeout_s, json_out=json_out)


@app.command()
def watch(
    incident_id: Annotated[str, typer.Argument(help="e.g. INC-20261123-0007")],
    timeout_s: Annotated[float, typer.Option("--timeout", help="Give up after this many seconds.")] = 120.0,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON object per event.")] = False,
) -> None:
    """Stream each specialist's finding as it arrives, then print the report."""
    watch_incident(command_settings(), incident_id, timeout_s=timeout_s, json_out=json_out)


def watch_incident(settings: Any, incident_id: str, *, timeout_s: float, json_out: bool) -> None:
    """Print the incident's findings as they arrive, then its report; exit 1 if none within ``timeout_s``."""
    from incident_cli.render import finding_line, print_report
    from shared.contracts import Report, parse_finding_json
    from shared.incident_store import IncidentStore

    store = IncidentStore.from_url(settings.state_redis_url)
    after, deadline = "0", time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for entry_id, kind, data in store.events(incident_id, after=after, block_ms=500):
            after = entry_id
            if json_out:
                print(json.dumps({"event": kind, "data": json.loads(data)}), flush=True)
            elif kind == "finding":
                console.print(finding_line(parse_finding_json(data)))
            if kind == "report":
                if not json_out:
                    print_report(console, Report.model_validate_json(data))
                return
    err.print(f"[red]no report for {incident_id} within {timeout_s:g} s[/red]")
    raise typer.Exit(1)


def await_incident_id(settings: Any, dedup_key: str, *, timeout_s: float) -> str | None:
    """The id of the incident the commander opened for ``dedup_key``; None if none within ``timeout_s``."""
    from shared.incident_store import IncidentStore

    return IncidentStore.from_url(settings.state_redis_url).wait_for_incident_id(dedup_key, timeout_s=timeout_s)


@app.command()
def config(json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Print the effective configuration (secrets masked)."""
    masked = command_settings().masked()
    if json_out:
        print(json.dumps(masked, indent=2))
        return
    width = max(map(len, masked))
    for name, value in masked.items():
        console.print(f"{name:<{width}}  {value}", highlight=False)


@app.command("flush-spool")
def flush_spool_command(json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Send the triggers the producer spooled while the broker was down."""
    from commander.producer import flush_spool
    from shared.redact import one_line

    settings = command_settings()
    result = flush_spool(settings=settings)
    error = short_reason(result.error) if result.error else None  # redacted, short: it reaches stdout and --json
    if json_out or not result.send_failed:
        _emit(
            json_out,
            {"sent": result.sent, "remaining": result.remaining, "error": error},
            f"sent {result.sent}, remaining {result.remaining}" + (f" ({error})" if error else ""),
        )
    if result.send_failed:
        typer.echo(
            one_line(
                f"error: the broker did not take a spooled trigger ({error or '?'}) "
                f"at {settings.describe_broker()}; sent {result.sent}, {result.remaining} still spooled "
                f"in {settings.spool_dir}"
            ),
            err=True,
        )
        raise typer.Exit(EXIT_UNREACHABLE)
    if result.error and result.remaining:
        raise typer.Exit(EXIT_FAILED)


@app.command()
def failures(
    limit: Annotated[int, typer.Option(help="How many.")] = 20,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Triggers that did not end in a post (invalid input, Slack refused, retries exhausted)."""
    from shared.incident_store import IncidentStore

    items = IncidentStore.from_url(command_settings().state_redis_url).failures(limit=limit)
    if json_out:
        print(json.dumps(items, indent=2))
        return
    for item in items or [{"at": "", "what": "no failures recorded", "reason": ""}]:
        console.print(f"{item['at']}  [bold]{item['what']}[/bold]  {item['reason']}", highlight=False)


def _emit(json_out: bool, payload: dict[str, Any], human: str) -> None:
    if json_out:
        print(json.dumps(payload))
    else:
        console.print(human, highlight=False)
