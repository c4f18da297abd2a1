"""What each worker reads (or where the commander posts), said in one line: the policy in one place.

Every worker logs its line when it starts (``shared.worker_boot``), and ``incident-commander up``
prints the same lines before it says it is up, so the question "is it reading my pipeline or the
sample?" is answered by the first lines a user sees. Secrets never appear: URLs are shown through
``shared.redact.mask_url`` (password and secret query values masked), and tokens and passwords
only by the name of their variable.

    log_analyzer reads: task logs from AIRFLOW_LOG_FOLDER=/airflow-logs, Airflow API: AIRFLOW_API_URL not set,
        dbt artifacts from DBT_PROJECT_DIR=/dbt
    query_profiler reads: query history from WAREHOUSE_URL=snowflake://etl:**********@acct/db, dbt manifest
        from DBT_PROJECT_DIR=/dbt
    owner_notifier reads: owners from the dbt artifacts in DBT_PROJECT_DIR=/dbt, owners file: OWNERS_FILE not set
    commander posts to: the console sink INCIDENT_OUTBOX=.incident-commander/outbox.jsonl (SLACK_BOT_TOKEN not set)

A source that is not configured is named with its variable, and when that leaves the specialist
little to go on the line ends with what it does instead (`` - only the trigger's exception text``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from shared.contracts import Specialist
from shared.redact import mask_url
from shared.settings import Settings
from shared.specialists import SPECIALISTS

COMMANDER = "commander"

# The variables that say where a specialist reads: set by the user, they are the user's pipeline,
# and nothing (not even ``up --sample``) may replace them silently.
SOURCE_VARIABLES: tuple[str, ...] = (
    "DBT_PROJECT_DIR",
    "AIRFLOW_LOG_FOLDER",
    "AIRFLOW_API_URL",
    "WAREHOUSE_URL",
    "OWNERS_FILE",
)


def sources_set(settings: Settings) -> tuple[str, ...]:
    """The ``SOURCE_VARIABLES`` that have a value in ``settings``, in that order."""
    by_alias = {field.alias: name for name, field in type(settings).model_fields.items()}
    return tuple(var for var in SOURCE_VARIABLES if getattr(settings, by_alias[var]) is not None)


def reads_line(settings: Settings, service: str) -> str:
    """The one line saying what ``service`` (a specialist's name, or ``commander``) reads."""
    describe = _SERVICES.get(service)
    if describe is None:
        return f"{service} reads: not described (add it to shared/reads.py)"
    return describe(settings)


def reads_lines(settings: Settings, services: Iterable[str] | None = None) -> list[str]:
    """One line per worker: the commander's, then each registered specialist's (the stack's order)."""
    return [reads_line(settings, s) for s in (services if services is not None else (COMMANDER, *SPECIALISTS.names()))]


def _line(service: str, parts: list[str], consequence: str | None = None) -> str:
    return f"{service} reads: {', '.join(parts)}" + (f" - {consequence}" if consequence else "")


def _path(variable: str, value: Path | None, kind: Literal["folder", "file"], *, read: str, what: str) -> str:
    """``<read> VAR=/path`` (`` (not found)`` when it is not there), or ``<what>: VAR not set``."""
    if value is None:
        return f"{what}: {variable} not set"
    return f"{read} {variable}={value}{_missing(value, kind)}"


def _missing(path: Path, kind: Literal["folder", "file"]) -> str:
    """`` (not found)``, `` (not a folder)`` / `` (not a file)``, or ``""`` when ``path`` is what it should be."""
    try:
        if not path.exists():
            return " (not found)"
        ok = path.is_dir() if kind == "folder" else path.is_file()
    except OSError as exc:  # a parent that cannot be listed
        return f" (cannot be read: {exc.strerror or type(exc).__name__})"
    return "" if ok else f" (not a {kind})"


def _log_analyzer(s: Settings) -> str:
    folder = _path("AIRFLOW_LOG_FOLDER", s.airflow_log_folder, "folder", read="task logs from", what="task logs")
    if s.airflow_api_url is None:
        api = "Airflow API: AIRFLOW_API_URL not set"
    else:
        if s.airflow_api_token is not None:
            auth = "with AIRFLOW_API_TOKEN"
        elif s.airflow_api_user is not None:
            auth = f"as AIRFLOW_API_USER={s.airflow_api_user}"
        else:
            auth = "without credentials"
        api = f"task logs over the Airflow API at AIRFLOW_API_URL={mask_url(s.airflow_api_url)} ({auth})"
    dbt = _path("DBT_PROJECT_DIR", s.dbt_project_dir, "folder", read="dbt artifacts from", what="dbt artifacts")
    consequence = None
    if s.airflow_log_folder is None and s.airflow_api_url is None:
        consequence = (
            "only the trigger's exception text"
            if s.dbt_project_dir is None
            else "no Airflow task log: dbt's artifacts and the trigger's exception text only"
        )
    return _line(Specialist.LOG_ANALYZER.value, [folder, api, dbt], consequence)


def _query_profiler(s: Settings) -> str:
    consequence = None
    if s.warehouse_url is None:
        warehouse = "query history: WAREHOUSE_URL not set"
        consequence = "no query history (its finding says no warehouse is configured)"
    else:
        url = s.warehouse_url.get_secret_value()
        if not url.strip():
            warehouse = "query history: WAREHOUSE_URL is empty"
            consequence = "no query history"
        else:
            warehouse = f"query history from WAREHOUSE_URL={mask_url(url)}{_export_missing(url)}"
    manifest = _path("DBT_PROJECT_DIR", s.dbt_project_dir, "folder", read="dbt manifest from", what="dbt manifest")
    return _line(Specialist.QUERY_PROFILER.value, [warehouse, manifest], consequence)


def _export_missing(url: str) -> str:
    """For a ``file://`` export, whether the file is there; other warehouses are only reached by a triage."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "file":
        return ""
    return _missing(Path(unquote(parts.netloc + parts.path)), "file")


def _owner_notifier(s: Settings) -> str:
    dbt = _path("DBT_PROJECT_DIR", s.dbt_project_dir, "folder", read="owners from the dbt artifacts in", what="owners")
    owners_file = _path("OWNERS_FILE", s.owners_file, "file", read="owners file", what="owners file")
    logs = (
        f"this try's task log (for its dbt runs) from AIRFLOW_LOG_FOLDER={s.airflow_log_folder}"
        if s.airflow_log_folder
        else "this try's task log: AIRFLOW_LOG_FOLDER not set"
        + (", Airflow API at AIRFLOW_API_URL" if s.airflow_api_url else "")
    )
    consequence = None
    if s.dbt_project_dir is None and s.owners_file is None:
        consequence = "only the Airflow task's own owner argument can name an owner"
    return _line(Specialist.OWNER_NOTIFIER.value, [dbt, owners_file, logs], consequence)


def _commander(s: Settings) -> str:
    if s.slack_bot_token is None:
        where = f"the console sink INCIDENT_OUTBOX={s.outbox_path} (SLACK_BOT_TOKEN not set)"
    else:
        where = f"Slack INCIDENT_SLACK_CHANNEL={s.slack_channel} at SLACK_API_URL={mask_url(s.slack_api_url)}"
    return f"{COMMANDER} posts to: {where}; history in INCIDENT_DB_URL={mask_url(s.incident_db_url)}"


_SERVICES: dict[str, Callable[[Settings], str]] = {
    COMMANDER: _commander,
    Specialist.LOG_ANALYZER.value: _log_analyzer,
    Specialist.QUERY_PROFILER.value: _query_profiler,
    Specialist.OWNER_NOTIFIER.value: _owner_notifier,
}
