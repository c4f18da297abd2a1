"""Read what dbt wrote: ``target/run_results.json`` (node status and message) and the project name."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from shared.errors import SourceError

MAX_RUN_RESULTS_BYTES = 256 * 1024 * 1024
FAILED_STATUSES = ("error", "runtime error", "fail")  # in order of preference
_NAME = re.compile(r"^name:\s*['\"]?(?P<name>[\w]+)", re.M)


@dataclass(frozen=True, slots=True)
class NodeResult:
    unique_id: str
    status: str
    message: str

    @property
    def name(self) -> str:
        return self.unique_id.split(".")[-1] if not self.unique_id.startswith("test.") else \
            self.unique_id.split(".")[2]


@dataclass(frozen=True, slots=True)
class RunResults:
    path: Path
    failed: tuple[NodeResult, ...]
    skipped: tuple[str, ...]


def read_run_results(path: Path) -> RunResults:
    """The failed and skipped nodes of one run; SourceError if the file is not run_results JSON."""
    if path.stat().st_size > MAX_RUN_RESULTS_BYTES:
        raise SourceError(f"{path} is larger than {MAX_RUN_RESULTS_BYTES} bytes; not read")
    try:
        data = json.loads(path.read_bytes())
        results = data["results"]
    except (ValueError, KeyError, TypeError) as exc:
        raise SourceError(f"{path} is not a dbt run_results.json: {exc}") from exc
    failed, skipped = [], []
    for r in results:
        status = str(r.get("status", ""))
        if status in FAILED_STATUSES:
            failed.append(NodeResult(str(r.get("unique_id")), status, str(r.get("message") or "")))
        elif status == "skipped":
            skipped.append(str(r.get("unique_id")))
    failed.sort(key=lambda n: FAILED_STATUSES.index(n.status))
    return RunResults(path, tuple(failed), tuple(skipped))


def project_name(project_dir: Path) -> str | None:
    """The ``name:`` in dbt_project.yml, or None."""
    try:
        m = _NAME.search((project_dir / "dbt_project.yml").read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return None
    return m["name"] if m else None
