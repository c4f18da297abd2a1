"""``incident-commander up`` and ``demo``: the embedded stack, in the foreground or for one triage.

Flower always runs behind basic auth (task arguments hold log lines and exception text):
FLOWER_BASIC_AUTH when set and not a published default, else credentials generated for the run.
They reach Flower in its environment, not its argv, so ``ps`` does not show them.

``up`` reads the user's own sources (DBT_PROJECT_DIR, AIRFLOW_LOG_FOLDER / AIRFLOW_API_URL,
WAREHOUSE_URL, OWNERS_FILE) and points the workers at the bundled incident only with ``--sample``;
``demo`` is the bundled incident's command and always uses it. Both print what each worker reads
(``shared.reads``), the same line each worker logs when it starts.
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
from shared.errors import ConfigError
from shared.reads import reads_lines, sources_set
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


def _sample_env_for_up(base: Any, sample: Path) -> dict[str, str]:
    """The sample's settings for ``up --sample``; ConfigError when the user has set a source of their own.

    Refused rather than merged or overridden: the sample replaces DBT_PROJECT_DIR, AIRFLOW_LOG_FOLDER
    and WAREHOUSE_URL, and keeping only some of the user's (an AIRFLOW_API_URL, an OWNERS_FILE) would
    mix two pipelines in one report, while replacing them is exactly the silent override that reported
    every incident as the sample's. One line says which variables to unset, or to drop --sample.
    """
    mine = sources_set(base)
    if mine:
        raise ConfigError(
            f"--sample points the specialists at the bundled incident ({sample.name}), but "
            f"{_and(mine)} {'is' if len(mine) == 1 else 'are'} set: drop --sample to triage your "
            "pipeline, or unset them to try the sample"
        )
    return sample_env(sample)


def _and(names: tuple[str, ...]) -> str:
    """``A``, ``A and B``, ``A, B and C``."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _print_what_the_workers_read(env: dict[str, str]) -> None:
    """``shared.reads``' line for each worker, read as the workers read their settings (this environment
    plus ``env``), and what to set when no source is configured at all."""
    from shared.settings import load_settings

    workers = load_settings(**env)
    console.print("The workers read:", highlight=False)
    for line in reads_lines(workers):
        console.print(f"  {line}", highlight=False, soft_wrap=True)
    if not sources_set(workers):
        console.print(
            "  No source is configured: set DBT_PROJECT_DIR, AIRFLOW_LOG_FOLDER (or AIRFLOW_API_URL), "
            "WAREHOUSE_URL and OWNERS_FILE to point them at your pipeline, or run `incident-commander up "
            "--sample` to try the bundled incident.",
            highlight=False,
            soft_wrap=True,
        )


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
    """Full triage of the bundled incident: embedded Redis, its workers, one Slack post."""
    from commander.producer import send_trigger
    from shared.incident_store import IncidentStore

    _stop_on_sigterm()
    base = command_settings()
    _check_configured_redis(base)
    env = sample_env(sample)
    if mine := sources_set(base):
        # demo is the sample's command: it uses the sample, and says that the user's settings wait for `up`.
        are = "is" if len(mine) == 1 else "are"
        console.print(
            f"demo triages the bundled incident: {_and(mine)} from your environment {are} not used "
            "by this run (`incident-commander up` reads them)",
            highlight=False,
            soft_wrap=True,
        )
    if base.slack_bot_token is None:
        env["INCIDENT_OUTBOX"] = str((STATE_DIR / "demo-outbox.jsonl").resolve())
    try:
        with console.status("Starting Redis and the workers…", spinner="dots"):
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
        bool,
        typer.Option(
            "--sample/--no-sample",
            help="Point the specialists at the bundled incident (samples/hourly_marts) instead of your "
            "pipeline. Off by default; refused when DBT_PROJECT_DIR, AIRFLOW_LOG_FOLDER, AIRFLOW_API_URL, "
            "WAREHOUSE_URL or OWNERS_FILE is set, so your own configuration is never replaced.",
        ),
    ] = False,
) -> None:
    """Start the embedded stack in the foreground (Ctrl-C stops it), reading your pipeline.

    It prints what each worker reads (DBT_PROJECT_DIR, AIRFLOW_LOG_FOLDER, WAREHOUSE_URL...) and what is not set.
    """
    _stop_on_sigterm()
    base = command_settings()
    # Refused before anything starts: Flower credentials, then --sample over the user's own sources.
    flower_auth, generated = _flower_basic_auth(base) if flower else ("", False)
    env = _sample_env_for_up(base, DEFAULT_SAMPLE) if with_sample else {}
    _check_configured_redis(base)
    try:
        with console.status("Starting Redis and the workers…", spinner="dots"):
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
        console.print(
            "[green]up[/green]"
            + (f" on the bundled incident ({DEFAULT_SAMPLE.name}, --sample)." if with_sample else "."),
            highlight=False,
        )
        _print_what_the_workers_read(env)
        console.print("In another shell:", highlight=False)
        masked = False
        for name in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", *env):
            shown = mask_url(wenv[name])
            masked = masked or shown != wenv[name]
            console.print(f"  export {name}='{shown}'", highlight=False, soft_wrap=True)
        if masked:
            console.print("  # (password masked: use your own CELERY_BROKER_URL)", highlight=False)
        example = (
            "--dag hourly_marts --task dbt_build_marts --model fct_orders"
            if with_sample
            else "--dag <dag_id> --task <task_id> [--run-id <run_id>] [--model <dbt model>]"
        )
        console.print(f"  incident-commander trigger {example} --wait", highlight=False, soft_wrap=True)
        console.print(f"Worker logs: {stack.log_dir}", highlight=False, soft_wrap=True)
        if flower_proc:
            console.print(f"Flower: http://127.0.0.1:{flower_port}/", highlight=False)
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
        console.print("Ctrl-C stops it.", highlight=False)
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
