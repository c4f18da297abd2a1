"""``incident-commander``: trigger, watch and run the triage by hand.

Every command reads the same settings (environment variables, see ``incident-commander config``).
An error a user can act on (Redis unreachable, a bad setting) ends any command with one line on
stderr naming the variable, and an exit code (``EXIT_*``), never a traceback: ``explain`` decides,
in one place, for every command (``_Commands.invoke``).
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from typer.core import TyperGroup

from shared.errors import (
    ConfigError,
    IncidentCommanderError,
    InvalidTrigger,
    RetryableError,
    UnsafeQuery,
)

EXIT_FAILED = 1  # the command ran and the answer is "no" (no report in time, trigger spooled, ...)
EXIT_CONFIG = 2  # a setting or an argument is wrong: fix it and run again
EXIT_UNREACHABLE = 3  # Redis, the broker, the warehouse or Slack did not answer: retry later


class ServiceError(Exception):
    """A service failed in a way the user can act on; the message is the whole line, the URL masked."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class _Commands(TyperGroup):
    """Every command runs inside ``explain``: one line and an exit code instead of a traceback."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:  # Typer's own Exit/usage errors are not ours to explain: re-raised as they are
            explained = explain(exc)
            if explained is None:
                raise  # a bug: the traceback is what a maintainer needs
            code, line = explained
            typer.echo(line, err=True)
            raise typer.Exit(code) from None


app = typer.Typer(
    cls=_Commands,
    help="Deterministic triage of failed Airflow/dbt tasks into one Slack post "
         "(ROOT CAUSE / IMPACT / OWNER / NEXT ACTION), on Celery and Redis.",
    no_args_is_help=True, add_completion=False, pretty_exceptions_show_locals=False)
console = Console()
err = Console(stderr=True)

# Where the README's second step puts everything: samples/ sits beside the packages.
REPO_ROOT = Path(__file__).resolve().parents[1]

# The settings the running command uses (the last ``_settings`` call): they name the variable behind
# a connection that failed. None until a command has read them.
_in_use: Any = None


def main() -> None:
    """The ``incident-commander`` entry point ([project.scripts]): the app, and ``explain`` for
    anything raised outside a command (the commands themselves are covered by ``_Commands``)."""
    try:
        app(prog_name="incident-commander")
    except Exception as exc:
        explained = explain(exc)
        if explained is None:
            raise
        typer.echo(explained[1], err=True)
        sys.exit(explained[0])


def explain(exc: BaseException) -> tuple[int, str] | None:
    """The exit code and the one line for an error a user can act on; None for a bug."""
    import kombu.exceptions
    import redis.exceptions

    # Not named by ``reaching``: the CLI talks to Redis itself only for incident state
    # (CELERY_RESULT_BACKEND), and to the broker only through Celery (kombu's errors).
    if isinstance(exc, redis.exceptions.RedisError):
        exc = _service_error(exc, "Redis", _where("describe_result_backend", "CELERY_RESULT_BACKEND")) or exc
    elif isinstance(exc, kombu.exceptions.OperationalError):
        exc = _service_error(exc, "the broker", _where("describe_broker", "CELERY_BROKER_URL")) or exc
    if isinstance(exc, ServiceError):
        return exc.exit_code, _line(f"error: {exc}")
    if isinstance(exc, ConfigError | InvalidTrigger | UnsafeQuery):
        return EXIT_CONFIG, _line(f"error: {exc}")
    if isinstance(exc, RetryableError):
        return EXIT_UNREACHABLE, _line(f"error: {exc}")
    if isinstance(exc, IncidentCommanderError):
        return EXIT_FAILED, _line(f"error: {exc}")
    return None


@contextmanager
def reaching(service: str, where: str) -> Iterator[None]:
    """Name ``where`` (``VARIABLE=url``, password masked) when talking to ``service`` fails in the block."""
    try:
        yield
    except Exception as exc:
        named = _service_error(exc, service, where)
        if named is None:
            raise
        raise named from exc


def _service_error(exc: BaseException, service: str, where: str) -> ServiceError | None:
    """``exc`` as the line a user reads, if it is a connection-level error of Redis or the broker."""
    import kombu.exceptions
    import redis.exceptions

    if service == "Redis":
        if isinstance(exc, redis.exceptions.AuthenticationError | redis.exceptions.AuthorizationError):
            return ServiceError(f"Redis refused the credentials ({_reason(exc)}) at {where}", EXIT_CONFIG)
        if isinstance(exc, redis.exceptions.InvalidResponse):
            return ServiceError(f"the server does not speak Redis ({_reason(exc)}) at {where}", EXIT_CONFIG)
        if isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
            return ServiceError(f"cannot reach Redis ({_reason(exc)}) at {where}", EXIT_UNREACHABLE)
    elif isinstance(exc, kombu.exceptions.OperationalError):
        return ServiceError(f"cannot reach {service} ({_reason(exc)}) at {where}", EXIT_UNREACHABLE)
    return None


_CONNECTING = re.compile(r"^Error -?\d+ (?:connecting to|while writing to|reading from) \S+\.\s+")


def _reason(exc: BaseException | str) -> str:
    """The short cause of a connection error: ``Connection refused`` rather than redis-py's whole sentence."""
    from shared.redact import redact

    text = " ".join(str(exc).split()) or type(exc).__name__
    text = _CONNECTING.sub("", text).rstrip(".") or text
    return redact(text)[:300]


def _line(text: str) -> str:
    """One printable line (our exceptions are redacted when made; connection causes by ``_reason``)."""
    from shared.redact import one_line

    return one_line(text)


def _where(describe: str, variable: str) -> str:
    """``VARIABLE=url`` from the settings in use (``Settings.describe_*``), or the bare variable."""
    settings = _in_use
    if settings is None:
        from shared.settings import get_settings

        try:
            settings = get_settings()
        except ConfigError:
            return variable
    return str(getattr(settings, describe)())


def _settings(**overrides: Any) -> Any:
    """The settings for this command (environment plus ``overrides``); a bad value is a ConfigError."""
    global _in_use
    from shared.settings import load_settings

    _in_use = load_settings(**overrides)
    return _in_use


@app.command()
def trigger(
    dag: Annotated[str, typer.Option("--dag", help="The failed task's DAG id.")],
    task: Annotated[str, typer.Option("--task", help="The failed task id.")],
    run_id: Annotated[str | None, typer.Option(help="The DAG run id (default: manual__<now>).")] = None,
    try_number: Annotated[int, typer.Option(help="Which attempt failed.")] = 1,
    model: Annotated[str | None, typer.Option(help="The suspect dbt model.")] = None,
    context: Annotated[str | None, typer.Option(help='Free text, e.g. "Failed 3 times in 30 minutes".')] = None,
    log: Annotated[Path | None, typer.Option(
        help="The task log to analyse (else found in AIRFLOW_LOG_FOLDER). The workers read it only if it "
             "is inside AIRFLOW_LOG_FOLDER or DBT_PROJECT_DIR/logs; anything else is refused and the "
             "finding says so. To analyse any file here and now, use analyze-log.")] = None,
    exception: Annotated[str | None, typer.Option(help="The exception text, if you have it.")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the report and print it.")] = False,
    timeout_s: Annotated[float, typer.Option("--timeout", help="Seconds to wait with --wait.")] = 120.0,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Trigger a triage by hand; prints the incident id (and the report with --wait)."""
    from commander.producer import send_trigger
    from shared.contracts import Trigger, TriggerSource
    from shared.redact import clean

    settings = _settings()
    try:
        trig = Trigger(dag_id=dag, task_id=task, run_id=run_id or f"manual__{datetime.now(UTC).isoformat()}",
                       try_number=try_number, model=model, context=context,
                       log_location=str(log.resolve()) if log else None,
                       exception=clean(exception, 4_000), source=TriggerSource.CLI)
    except ValueError as exc:
        err.print(f"[red]bad trigger:[/red] {exc}")
        raise typer.Exit(2) from exc
    delivery = send_trigger(trig, settings=settings)
    if delivery.status != "sent":
        _emit(json_out, {"status": delivery.status, "reason": delivery.reason,
                         "spool_path": str(delivery.spool_path) if delivery.spool_path else None},
              f"[yellow]{delivery.status}[/yellow]: {delivery.reason}")
        raise typer.Exit(1)
    incident_id = _await_incident_id(settings, trig.dedup_key, timeout_s=min(timeout_s, 15.0))
    if incident_id is None:
        _emit(json_out, {"status": "queued", "dedup_key": trig.dedup_key},
              "queued; no incident id yet (is the commander worker running?)")
        raise typer.Exit(1 if wait else 0)
    if not wait:
        _emit(json_out, {"status": "opened", "incident_id": incident_id}, incident_id)
        return
    if not json_out:
        console.print(f"[bold]{incident_id}[/bold] opened; waiting for the specialists…")
    _watch(settings, incident_id, timeout_s=timeout_s, json_out=json_out)


@app.command()
def watch(
    incident_id: Annotated[str, typer.Argument(help="e.g. INC-20261123-0007")],
    timeout_s: Annotated[float, typer.Option("--timeout", help="Give up after this many seconds.")] = 120.0,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON object per event.")] = False,
) -> None:
    """Stream each specialist's finding as it arrives, then print the report."""
    _watch(_settings(), incident_id, timeout_s=timeout_s, json_out=json_out)


def _watch(settings: Any, incident_id: str, *, timeout_s: float, json_out: bool) -> None:
    from incident_cli.render import finding_line, print_report
    from shared.contracts import Finding, Report
    from shared.incident_store import IncidentStore

    store = IncidentStore.from_url(settings.state_redis_url)
    after, deadline = "0", time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for entry_id, kind, data in store.events(incident_id, after=after, block_ms=500):
            after = entry_id
            if json_out:
                print(json.dumps({"event": kind, "data": json.loads(data)}), flush=True)
            elif kind == "finding":
                console.print(finding_line(Finding.model_validate_json(data)))
            if kind == "report":
                if not json_out:
                    print_report(console, Report.model_validate_json(data))
                return
    err.print(f"[red]no report for {incident_id} within {timeout_s:g} s[/red]")
    raise typer.Exit(1)


def _await_incident_id(settings: Any, dedup_key: str, *, timeout_s: float) -> str | None:
    from shared.incident_store import IncidentStore

    return IncidentStore.from_url(settings.state_redis_url).wait_for_incident_id(dedup_key, timeout_s=timeout_s)


@app.command()
def config(json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Print the effective configuration (secrets masked)."""
    masked = _settings().masked()
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

    settings = _settings()
    result = flush_spool(settings=settings)
    error = _reason(result.error) if result.error else None  # redacted, short: it reaches stdout and --json
    if json_out or not result.send_failed:
        _emit(json_out, {"sent": result.sent, "remaining": result.remaining, "error": error},
              f"sent {result.sent}, remaining {result.remaining}" + (f" ({error})" if error else ""))
    if result.send_failed:
        typer.echo(_line(f"error: the broker did not take a spooled trigger ({error or '?'}) "
                         f"at {settings.describe_broker()}; sent {result.sent}, {result.remaining} still spooled "
                         f"in {settings.spool_dir}"), err=True)
        raise typer.Exit(EXIT_UNREACHABLE)
    if result.error and result.remaining:
        raise typer.Exit(EXIT_FAILED)


@app.command()
def failures(limit: Annotated[int, typer.Option(help="How many.")] = 20,
             json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Triggers that did not end in a post (invalid input, Slack refused, retries exhausted)."""
    from shared.incident_store import IncidentStore

    items = IncidentStore.from_url(_settings().state_redis_url).failures(limit=limit)
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


def _register_specialist_commands() -> None:
    """The specialists' own commands, for running each analysis by hand."""
    from log_analyzer.cli import analyze_log_command
    from owner_notifier.cli import owner_command
    from query_profiler.cli import profile_queries_command

    app.command("analyze-log")(analyze_log_command)
    app.command("profile-queries")(profile_queries_command)
    app.command("owner")(owner_command)


_register_specialist_commands()

from incident_cli import stack_commands  # noqa: E402  (registers up and demo on ``app``)

__all__ = ["EXIT_CONFIG", "EXIT_FAILED", "EXIT_UNREACHABLE", "ServiceError", "app", "explain", "main", "reaching",
           "stack_commands"]


if __name__ == "__main__":  # pragma: no cover
    main()
