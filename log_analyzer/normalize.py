"""Turn one raw log line into clean text pieces: decode, strip ANSI and known prefixes, unwrap JSON.

Handles Airflow 3 JSON lines (``event``, ``level``, ``error_detail[].exc_type/exc_value``),
dbt ``--log-format json`` lines (``info.msg``, ``data.node_info.unique_id``), Airflow 2 plain
text (``[ts] {file.py:12} LEVEL - msg``), dbt.log (``12:00:00.123 [error] [Thread]: msg``) and
dbt console output (``12:00:00  msg``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

MAX_TEXT_CHARS = 4_000
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-Z\\-_]|\[\d{1,2}(?:;\d{1,3})*m")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# Airflow 2 task logs "[ts] {file.py:12} LEVEL - msg" (MWAA doubles the braces; the UI's copy may drop them)
_AIRFLOW2 = re.compile(r"^\[\d{4}-\d\d-\d\d[ T,][^\]]{0,60}\] (?:\{{1,2}[^}]{0,120}\}{1,2} )?(?P<level>[A-Z]+) - ")
_DBT_FILE = re.compile(r"^\d\d:\d\d:\d\d\.\d+ \[(?P<level>\w+)\s*\] \[[^\]]{0,40}\]: ")
_DBT_CONSOLE = re.compile(r"^\d\d:\d\d:\d\d\s{1,4}")
_TS = r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d| ?[A-Z]{3,4})?"
# structlog's console (Airflow 3's `airflow dags test`, Airflow 3 worker output): "2025-05-09 20:11:08 [error    ] msg"
_STRUCTLOG = re.compile(rf"^{_TS} \[(?P<level>[a-z]+)\s*\] ?")
# Python logging: "2022-11-09 11:48:51,030 - MainThread connectionpool.py:812 - urlopen() - WARNING - msg",
# "2022-06-17 06:22:38,611 kubernetes_executor.py ERROR - msg", "2023-06-08 08:58:41  WARN Spiller:379 - msg"
_PYLOG = re.compile(
    rf"^{_TS}(?: - [^\n]{{0,160}}? -)?\s+(?:[\w.\-]+(?::\d+)?\s+)?"
    r"(?P<level>DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL|FATAL)\b:?\s+(?:- )?"
)
# Celery worker: "[2023-07-17 16:04:30,364: ERROR/MainProcess] msg"
_CELERY = re.compile(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+: (?P<level>[A-Z]+)/[\w\-]+\] ")
# the timestamp docker, kubectl and CI runners put before each line: "2025-10-03T12:04:11.838381786Z msg"
_RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z ")
_LEVEL_ONLY = re.compile(r"^\[(?P<level>debug|info|warning|error|critical)\s*\] ")
_RUNNER = re.compile(r"^##\[(?P<level>[a-z]+)\]")
# docker compose's service prefix "airflow_worker_1     | msg", KubernetesPodOperator's "[base] msg"
_COMPOSE = re.compile(r"^[\w.\-]+\s+\| (?=\S)")
_KPO = re.compile(r"^\[base\]\s+")
_ERROR_LEVELS = frozenset({"error", "critical", "fatal", "exception"})


@dataclass(frozen=True, slots=True)
class Piece:
    """One line of meaning: the message text, its level when known, and a dbt unique_id if given."""

    text: str
    level: str | None = None
    node: str | None = None
    task: str | None = None
    indented: bool = False  # a continuation line (traceback, dbt message) under the previous one

    @property
    def is_error_level(self) -> bool:
        return self.level in _ERROR_LEVELS


def clean_text(text: str) -> str:
    """Remove ANSI colour codes and control characters, cap the length."""
    if "\x1b" in text or "[0m" in text:
        text = _ANSI.sub("", text)
    return _CONTROL.sub("", text)[:MAX_TEXT_CHARS]


def pieces(raw: bytes | str) -> list[Piece]:
    """The clean pieces of one raw line (a JSON line may hold several text lines)."""
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    text = text.rstrip("\r\n")
    stripped = text.lstrip()
    if stripped.startswith("{") and stripped.endswith("}"):
        parsed = _json_pieces(stripped)
        if parsed is not None:
            return parsed
    return _text_pieces(clean_text(text))


def _text_pieces(text: str, level: str | None = None, node: str | None = None, task: str | None = None) -> list[Piece]:
    out = []
    for line in text.split("\n"):
        line, line_level, indented = _strip_prefixes(clean_text(line))
        if line:
            out.append(Piece(line, line_level or level, node, task, indented))
    return out


def _strip_prefixes(line: str) -> tuple[str, str | None, bool]:
    line, level = _strip_transport(line)
    line, logged = _strip_logger(line)
    level = logged or level
    m = _DBT_FILE.match(line)
    if m:
        level, line = m["level"].lower(), line[m.end() :]
    else:
        m = _DBT_CONSOLE.match(line)
        if m:
            line = line[m.end() :]
    return line.strip(), level, line[:1].isspace()


def _strip_transport(line: str) -> tuple[str, str | None]:
    """What carried the line added: docker's/kubectl's timestamp, a CI runner's ##[level], compose's service."""
    level = None
    if line[10:11] == "T" and line[:1].isdigit():
        m = _RFC3339.match(line)
        if m:
            line = line[m.end() :]
            m = _RUNNER.match(line) if line.startswith("##[") else None
            if m:
                level, line = m["level"], line[m.end() :]
    if line[:1].isalpha() and " | " in line[:60]:
        m = _COMPOSE.match(line)
        if m:
            line = line[m.end() :]
    return line, level


def _strip_logger(line: str) -> tuple[str, str | None]:
    """The logging prefix: Airflow 2, Celery, structlog's console, Python logging."""
    first = line[:1]
    if first == "[":
        m = _AIRFLOW2.match(line) or _CELERY.match(line) or _LEVEL_ONLY.match(line)
        if m:
            line = line[m.end() :]
            return (_KPO.sub("", line, count=1) if line.startswith("[base]") else line), m["level"].lower()
    elif first.isdigit() and line[4:5] == "-":
        m = _STRUCTLOG.match(line)
        if m:
            return line[m.end() :], m["level"]
        m = _PYLOG.match(line)
        if m:
            return line[m.end() :], "warning" if m["level"] == "WARN" else m["level"].lower()
    return line, None


def _json_pieces(line: str) -> list[Piece] | None:
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    if isinstance(obj.get("info"), dict):  # dbt --log-format json
        info, data = obj["info"], obj.get("data") or {}
        node_info = data.get("node_info") if isinstance(data, dict) else None
        node = node_info.get("unique_id") if isinstance(node_info, dict) else None
        return _text_pieces(str(info.get("msg", "")), str(info.get("level", "")).lower() or None, node)
    if "event" not in obj:
        return None
    level = str(obj.get("level", "")).lower() or None
    task = obj.get("task_id") if isinstance(obj.get("task_id"), str) else None
    event = str(obj["event"])
    if isinstance(obj.get("signal_name"), str):  # "Process terminated by signal ..." names it only here
        event = f"{event} (signal {obj.get('signal')} {obj['signal_name']})"
    out = _text_pieces(event, level, task=task)
    details = obj.get("error_detail")
    if isinstance(details, list):
        for detail in details:
            if isinstance(detail, dict) and detail.get("exc_type"):
                exc = f"{detail['exc_type']}: {detail.get('exc_value', '')}"
                out.extend(_text_pieces(exc, level or "error", task=task))
    return out
