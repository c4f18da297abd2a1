"""The ``incident-commander`` Typer app and what every command shares: its settings, its console,
and ``explain``, the one place that turns an error a user can act on into one line and an exit code.

The commands are registered on ``app`` by their modules (``incident_commands``, ``specialist_commands``,
``stack_commands``); ``incident_cli.main`` imports them all and is the entry point.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

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
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
console = Console()
err = Console(stderr=True)

# The settings the running command uses (the last ``command_settings`` call): they name the variable behind
# a connection that failed. None until a command has read them.
_in_use: Any = None


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
            return ServiceError(f"Redis refused the credentials ({short_reason(exc)}) at {where}", EXIT_CONFIG)
        if isinstance(exc, redis.exceptions.InvalidResponse):
            return ServiceError(f"the server does not speak Redis ({short_reason(exc)}) at {where}", EXIT_CONFIG)
        if isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
            return ServiceError(f"cannot reach Redis ({short_reason(exc)}) at {where}", EXIT_UNREACHABLE)
    elif isinstance(exc, kombu.exceptions.OperationalError):
        return ServiceError(f"cannot reach {service} ({short_reason(exc)}) at {where}", EXIT_UNREACHABLE)
    return None


_CONNECTING = re.compile(r"^Error -?\d+ (?:connecting to|while writing to|reading from) \S+\.\s+")


def short_reason(exc: BaseException | str) -> str:
    """The short cause of a connection error: ``Connection refused`` rather than redis-py's whole sentence."""
    from shared.redact import redact

    text = " ".join(str(exc).split()) or type(exc).__name__
    text = _CONNECTING.sub("", text).rstrip(".") or text
    return redact(text)[:300]


def _line(text: str) -> str:
    """One printable line (our exceptions are redacted when made; connection causes by ``short_reason``)."""
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


def command_settings(**overrides: Any) -> Any:
    """The settings for this command (environment plus ``overrides``); a bad value is a ConfigError."""
    global _in_use
    from shared.settings import load_settings

    _in_use = load_settings(**overrides)
    return _in_use
