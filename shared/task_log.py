"""Where a failed task's log comes from, behind one small Protocol.

    LogSource.resolve() -> Path | str     a local file to stream, or the log text itself

Adapters: ``FileSource`` (a path, e.g. the trigger's log_location), ``AirflowFolderSource``
(``{AIRFLOW_LOG_FOLDER}/dag_id=…/run_id=…/task_id=…/[map_index=…/]attempt={try}.log``),
``AirflowApiSource`` (the REST API; v2 with a bearer token, v1 with basic auth; the body is
streamed to a temporary file), ``TextSource`` (the trigger's exception text). A missing file
raises ``SourceError``; an API that does not answer raises ``SourceUnavailable``.

Paths built from a trigger never leave their root: ``FileSource(root=...)`` and
``AirflowFolderSource`` resolve the path (symlinks followed) and refuse one outside the root
with a ``SourceError`` ("refused: … is outside AIRFLOW_LOG_FOLDER (…)"); ``trigger_log_path``
decides whether a trigger's ``log_location`` may be read at all.
"""

from __future__ import annotations

import base64
import json
import re
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from shared.airflow_logs import airflow_task_log_path
from shared.contracts import Trigger
from shared.errors import IncidentCommanderError, SourceError, SourceUnavailable
from shared.paths import PathRefused, inside
from shared.provenance import TaskLogDbt
from shared.settings import Settings

API_TIMEOUT_S = 10.0
MAX_API_BYTES = 2 * 1024 * 1024 * 1024


class LogSource(Protocol):
    @property
    def description(self) -> str:
        """Where the log comes from, for the finding."""
        ...

    def resolve(self) -> Path | str:
        """A local log file, or the log text; raises SourceError / SourceUnavailable."""
        ...


@dataclass(frozen=True)
class FileSource:
    """A local log file; with ``root``, one that must resolve inside it (checked when it is read)."""

    path: Path
    root: Path | None = None
    root_label: str | None = None  # names the root in a refusal, e.g. "AIRFLOW_LOG_FOLDER"

    @property
    def description(self) -> str:
        return str(self.path)

    def resolve(self) -> Path:
        path = inside(self.root, self.path, label=self.root_label) if self.root is not None else self.path
        if not _is_file(path):
            raise SourceError(f"log file not found: {self.path}")
        return path


def _is_file(path: Path) -> bool:
    """``path.is_file()``, False where that raises (a name too long for the file system, ...)."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


@dataclass(frozen=True)
class TextSource:
    text: str
    description: str = "trigger.exception"

    def resolve(self) -> str:
        return self.text


def airflow_log_path(folder: Path, trigger: Trigger) -> Path:
    """The trigger's attempt log under ``folder`` (Airflow's default log_filename_template)."""
    return airflow_task_log_path(
        folder,
        dag_id=trigger.dag_id,
        run_id=trigger.run_id,
        task_id=trigger.task_id,
        map_index=trigger.map_index,
        try_number=trigger.try_number,
    )


@dataclass(frozen=True)
class AirflowFolderSource:
    folder: Path
    trigger: Trigger

    @property
    def description(self) -> str:
        return str(airflow_log_path(self.folder, self.trigger))

    def resolve(self) -> Path:
        """The attempt's log, resolved; a path that leaves the folder (``..``, a symlink) is refused."""
        return FileSource(
            airflow_log_path(self.folder, self.trigger), root=self.folder, root_label="AIRFLOW_LOG_FOLDER"
        ).resolve()


# "file:///x", "file:/x", "ftp://h/x", "https://h/x": a URL, never a local path
_URL = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*):(?=/)")
SHOWN_CHARS = 300  # characters of an untrusted location quoted in a refusal


def shorten(location: str) -> str:
    """An untrusted location as quoted in a refusal: at most SHOWN_CHARS characters."""
    return location if len(location) <= SHOWN_CHARS else location[:SHOWN_CHARS] + "…"


def log_location_url_scheme(location: str) -> str | None:
    """The lower-cased scheme when ``location`` is a URL (``https``, ``file``, ...), else None."""
    m = _URL.match(location)
    return m["scheme"].lower() if m else None


def trigger_log_path(location: str, roots: Sequence[tuple[Path, str]]) -> FileSource:
    """The ``FileSource`` for a trigger's local ``log_location``, or PathRefused if it may not be read.

    ``roots`` are the folders a trigger may point into, with their names (``AIRFLOW_LOG_FOLDER``,
    ``DBT_PROJECT_DIR/logs``). A relative location is taken relative to each root, never to the
    worker's working directory. The path must resolve (symlinks followed) inside a root; the
    returned source checks it again when it is read. URLs are not paths: the caller handles them.
    """
    shown = shorten(location)
    scheme = log_location_url_scheme(location)
    if scheme is not None:
        raise PathRefused(f"refused: {shown} is a {scheme}: URL; only a path inside the log folder is read")
    if not roots:
        raise PathRefused(
            f"refused: {shown} is a local path and neither AIRFLOW_LOG_FOLDER nor "
            "DBT_PROJECT_DIR is set, so no trigger path is trusted"
        )
    candidate = Path(location)
    allowed: list[tuple[Path, str]] = []
    errors: list[PathRefused] = []
    for root, label in roots:
        try:
            real = inside(root, candidate, label=label)
        except PathRefused as exc:
            errors.append(exc)
            continue
        if _is_file(real):
            return FileSource(real, root=root, root_label=label)
        allowed.append((root, label))
    if allowed:  # inside a root, but not there (FileSource says "log file not found")
        root, label = allowed[0]
        return FileSource(candidate if candidate.is_absolute() else root / candidate, root=root, root_label=label)
    if len(errors) == 1:
        raise errors[0]
    where = " and ".join(f"{label} ({root})" for root, label in roots)
    raise PathRefused(f"refused: {shown} resolves outside {where}")


@dataclass(frozen=True)
class AirflowApiSource:
    """GET …/taskInstances/{task}/logs/{try}?full_content=true, streamed to a temp file (caller deletes)."""

    base_url: str
    trigger: Trigger
    token: str | None = None  # Airflow 3: bearer token, /api/v2
    user: str | None = None  # Airflow 2: basic auth, /api/v1
    password: str | None = None

    @property
    def description(self) -> str:
        return self.url

    @property
    def url(self) -> str:
        t, q = self.trigger, urllib.parse.quote
        version = "v2" if self.token or not self.user else "v1"
        return (
            f"{self.base_url.rstrip('/')}/api/{version}/dags/{q(t.dag_id)}/dagRuns/{q(t.run_id, safe='')}"
            f"/taskInstances/{q(t.task_id)}/logs/{t.try_number}?full_content=true&map_index={t.map_index}"
        )

    def resolve(self) -> Path:
        request = urllib.request.Request(self.url, headers={"Accept": "application/json"})
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        elif self.user:
            pair = base64.b64encode(f"{self.user}:{self.password or ''}".encode()).decode()
            request.add_header("Authorization", f"Basic {pair}")
        try:
            with urllib.request.urlopen(request, timeout=API_TIMEOUT_S) as response:  # noqa: S310
                return _save(response)
        except urllib.error.HTTPError as exc:
            if exc.code in (401, 403, 404):
                raise SourceError(f"Airflow API answered {exc.code} for the task log") from exc
            raise SourceUnavailable(f"Airflow API answered {exc.code}", retry_after_s=5.0) from exc
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise SourceUnavailable(f"Airflow API unreachable: {exc}", retry_after_s=5.0) from exc


def _save(response) -> Path:  # type: ignore[no-untyped-def]
    """Stream the body to disk; a JSON body's ``content`` (a list of lines or records) becomes lines.

    The temporary file is removed if anything fails (a time-out, the soft time limit), so a
    worker that meets many such failures does not fill its disk.
    """
    raw = tempfile.NamedTemporaryFile("wb", suffix=".log", delete=False)  # noqa: SIM115 - removed below on error
    path = Path(raw.name)
    try:
        with raw:
            total = 0
            while chunk := response.read(1024 * 1024):
                total += len(chunk)
                if total > MAX_API_BYTES:
                    break
                raw.write(chunk)
        expected = response.headers.get("Content-Length") if hasattr(response, "headers") else None
        if expected is not None and expected.isdigit() and total < int(expected):
            raise SourceUnavailable(f"Airflow API log cut short ({total} of {expected} bytes)", retry_after_s=5.0)
        with path.open("rb") as head:
            is_json = head.read(1) == b"{"
        if is_json and path.stat().st_size < 256 * 1024 * 1024:
            _json_content_to_lines(path)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def _json_content_to_lines(path: Path) -> None:
    """Airflow's ``{"content": [...]}`` reply rewritten as one line per log record (bounded by the caller)."""
    try:
        content = json.loads(path.read_bytes()).get("content")
    except (ValueError, AttributeError):
        return
    lines = content if isinstance(content, list) else str(content).splitlines()
    with path.open("w", encoding="utf-8") as out:
        for item in lines:
            out.write((json.dumps(item) if isinstance(item, dict) else str(item)) + "\n")


def task_log_sources(trigger: Trigger, settings: Settings) -> tuple[list[LogSource], list[str]]:
    """This try's task-log sources worth trying, best first, and one line per location that will not be used
    (the log analyzer reads the first that resolves; the owner notifier scans it for dbt invocations)."""
    t = trigger
    out: list[LogSource] = []
    not_used: list[str] = []
    loc = t.log_location
    api = _api(settings, t) if settings.airflow_api_url else None
    if loc:
        if log_location_url_scheme(loc) in ("http", "https"):
            if api is None:  # never fetched as given (SSRF): only the configured API is asked
                not_used.append(
                    f"log_location: {shorten(loc)} not fetched: a URL is never fetched as given, and "
                    "AIRFLOW_API_URL is not set to read the log through the Airflow API"
                )
        else:
            try:
                out.append(trigger_log_path(loc, _log_roots(settings)))
            except PathRefused as exc:
                not_used.append(f"log_location: {exc}")
    if settings.airflow_log_folder:
        out.append(AirflowFolderSource(settings.airflow_log_folder, t))
    if api is not None:
        out.append(api)
    return out, not_used


def _log_roots(settings: Settings) -> list[tuple[Path, str]]:
    """The folders a trigger's log_location may point into."""
    roots: list[tuple[Path, str]] = []
    if settings.airflow_log_folder:
        roots.append((settings.airflow_log_folder, "AIRFLOW_LOG_FOLDER"))
    if settings.dbt_project_dir:
        roots.append((settings.dbt_project_dir / "logs", "DBT_PROJECT_DIR/logs"))
    return roots


def _api(settings: Settings, trigger: Trigger) -> AirflowApiSource:
    token = settings.airflow_api_token.get_secret_value() if settings.airflow_api_token else None
    password = settings.airflow_api_password.get_secret_value() if settings.airflow_api_password else None
    return AirflowApiSource(
        str(settings.airflow_api_url), trigger, token=token, user=settings.airflow_api_user, password=password
    )


def dbt_in_task_log(trigger: Trigger, settings: Settings) -> tuple[TaskLogDbt, list[str]]:
    """What this try's own log says about dbt, and one line per source that could not be read. The
    first source that resolves is the log; when none can be read, what the trigger names stands in
    (``TaskLogDbt.stand_in``)."""
    sources, problems = task_log_sources(trigger, settings)
    for source in sources:
        try:
            located = source.resolve()
        except IncidentCommanderError as exc:  # PathRefused, SourceError, SourceUnavailable
            problems.append(f"task log: {exc}")
            continue
        try:
            return (TaskLogDbt.of_file(located) if isinstance(located, Path) else TaskLogDbt.of_text(located)), problems
        except OSError as exc:  # there, but not readable (permissions, a vanished file)
            problems.append(f"task log: {source.description}: {exc.__class__.__name__}")
            return TaskLogDbt.stand_in(trigger, f"{exc.__class__.__name__}"), problems
        finally:
            if isinstance(source, AirflowApiSource) and isinstance(located, Path):
                located.unlink(missing_ok=True)
    return TaskLogDbt.stand_in(trigger), problems
