"""``incident-commander up`` and ``demo``: the embedded stack, in the foreground or for one triage.

Flower always runs behind basic auth (task arguments hold log lines and exception text):
FLOWER_BASIC_AUTH when set and not a published default, else credentials generated for the run.
They reach Flower in its environment, not its argv, so ``ps`` does not show them.
"""

from __future__ import annotations

import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from incident_cli.app import app, command_settings, console, err, reaching
from incident_cli.incident_commands import await_incident_id, watch_incident
from incident_cli.sample import DEFAULT_SAMPLE, sample_env, sample_trigger
from incident_cli.stack import Stack, StackError
from shared.redact import mask_url

STATE_DIR = Path(".incident-commander")
GENERATED_FLOWER_USER = "admin"


def _check_configured_redis(settings: Any) -> None:
    """A configured Redis that does not answer: one line now, not workers waiting a minute for it."""
    from shared.incident_store import IncidentStore

    if settings.broker_url is None:
        return  # the embedded one, started below
    with reaching("Redis", settings.describe_broker()):
        IncidentStore.from_url(settings.effective_broker_url).ping()


def _flower_basic_auth(settings: Any) -> tuple[str, bool]:
    """``user:password`` for Flower and whether it was generated; ConfigError for a value refused."""
    configured = settings.flower_credentials()
    if configured is not None:
        return configured, False
    return f"{GENERATED_FLOWER_USER}:{secrets.token_urlsafe(18)}", True


def _stop_on_sigterm() -> None:
    """SIGTERM (systemd, timeout, docker stop) cleans up like Ctrl-C: no orphaned workers."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


@app.command()
def demo(
    sample: Annotated[Path, typer.Option(help="A bundled incident folder.")] = DEFAULT_SAMPLE,
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    timeout_s: Annotated[float, typer.Option("--timeout", help="Seconds to wait for the report.")] = 60.0,
) -> None:
    """Full triage of the bundled incident: embedded Redis, four workers, one Slack post."""
    from commander.producer import send_trigger
    from shared.incident_store import IncidentStore

    _stop_on_sigterm()
    base = command_settings()
    _check_configured_redis(base)
    env = sample_env(sample)
    if base.slack_bot_token is None:
        env["INCIDENT_OUTBOX"] = str((STATE_DIR / "demo-outbox.jsonl").resolve())
    try:
        with console.status("Starting Redis and the four workers…", spinner="dots"):
            started = time.perf_counter()
            stack = Stack(env=env, broker_url=base.broker_url).start()
        console.print(
            f"stack up in {time.perf_counter() - started:.1f} s "
            f"(workers: {', '.join(stack.workers)}; logs in {stack.log_dir})",
            highlight=False,
        )
    except StackError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    try:
        wenv = stack.worker_env
        settings = command_settings(
            CELERY_BROKER_URL=wenv["CELERY_BROKER_URL"],
            CELERY_RESULT_BACKEND=wenv["CELERY_RESULT_BACKEND"],
            INCIDENT_SPOOL_DIR=str(STATE_DIR / "demo-spool"),
        )
        # On a shared Redis, a second demo run is a new failure, not a duplicate of the first.
        suffix = "" if base.broker_url is None else f"__demo{int(time.time())}"
        trig = sample_trigger(sample, run_suffix=suffix)
        console.print(
            f"Airflow reports: {trig.dag_id}.{trig.task_id} failed (run {trig.run_id}, try {trig.try_number})",
            highlight=False,
        )
        t0 = time.perf_counter()
        delivery = send_trigger(trig, settings=settings)
        if delivery.status != "sent":
            err.print(f"[red]could not enqueue: {delivery.reason}[/red]")
            raise typer.Exit(1)
        incident_id = await_incident_id(settings, trig.dedup_key, timeout_s=15)
        if incident_id is None:
            err.print("[red]the commander did not open an incident[/red]")
            raise typer.Exit(1)
        watch_incident(settings, incident_id, timeout_s=timeout_s, json_out=json_out)
        elapsed_ms = (time.perf_counter() - t0) * 1000
        report = IncidentStore.from_url(settings.state_redis_url).get_report(incident_id)
        if not json_out:
            console.print(
                f"trigger → final post: {elapsed_ms:.0f} ms, the first incident on workers that are "
                "still warming up (steady state: bench/e2e_latency.py); posted to "
                f"{'Slack' if base.slack_bot_token else 'the console sink ' + env['INCIDENT_OUTBOX']}",
                highlight=False,
                soft_wrap=True,
            )
        if report is None:
            raise typer.Exit(1)
    finally:
        stack.stop()


@app.command()
def up(
    flower: Annotated[bool, typer.Option("--flower/--no-flower", help="Also start Flower.")] = True,
    flower_port: Annotated[int, typer.Option(help="Flower's port (127.0.0.1 only).")] = 5555,
    concurrency: Annotated[int, typer.Option(help="Processes per worker.")] = 1,
    with_sample: Annotated[
        bool, typer.Option("--with-sample/--no-sample", help="Point the specialists at the bundled incident.")
    ] = True,
) -> None:
    """Start the embedded stack in the foreground (Ctrl-C stops it) for trying it by hand."""
    _stop_on_sigterm()
    base = command_settings()
    flower_auth, generated = _flower_basic_auth(base) if flower else ("", False)  # refused before anything starts
    _check_configured_redis(base)
    env = sample_env(DEFAULT_SAMPLE) if with_sample else {}
    try:
        with console.status("Starting Redis and the four workers…", spinner="dots"):
            stack = Stack(env=env, broker_url=base.broker_url, concurrency=concurrency).start()
    except StackError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    flower_proc = None
    try:
        wenv = stack.worker_env
        if flower:
            # Flower 2.x reads every FLOWER_<OPTION> variable (flower/command.py apply_env_options).
            flower_log = open(stack.log_dir / "flower.log", "ab")  # noqa: SIM115 - owned by the process
            flower_proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "commander.worker",
                    "flower",
                    "--address=127.0.0.1",
                    f"--port={flower_port}",
                ],
                env={**wenv, "FLOWER_BASIC_AUTH": flower_auth},
                stdout=flower_log,
                stderr=subprocess.STDOUT,
            )
        console.print("[green]up[/green]. In another shell:", highlight=False)
        masked = False
        for name in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", *env):
            shown = mask_url(wenv[name])
            masked = masked or shown != wenv[name]
            console.print(f"  export {name}='{shown}'", highlight=False, soft_wrap=True)
        if masked:
            console.print("  # (password masked: use your own CELERY_BROKER_URL)", highlight=False)
        console.print(
            "  incident-commander trigger --dag hourly_marts --task dbt_build_marts --model fct_orders --wait",
            highlight=False,
            soft_wrap=True,
        )
        if flower_proc:
            console.print(f"Flower: http://127.0.0.1:{flower_port}/  worker logs: {stack.log_dir}", highlight=False)
            if generated:
                user, _, password = flower_auth.partition(":")
                console.print(
                    f"  Flower login (generated for this run; set FLOWER_BASIC_AUTH=user:password to "
                    f"choose): user {user}, password {password}",
                    highlight=False,
                    soft_wrap=True,
                )
            else:
                console.print("  Flower login: FLOWER_BASIC_AUTH", highlight=False)
        while all(p.poll() is None for p in stack.workers.values()):
            time.sleep(1)
        err.print("[red]a worker exited; stopping[/red]")
    except KeyboardInterrupt:
        console.print("stopping…")
    finally:
        if flower_proc is not None:
            flower_proc.terminate()
            flower_proc.wait(10)
        stack.stop()
