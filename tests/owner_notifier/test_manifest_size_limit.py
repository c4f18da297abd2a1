"""A dbt manifest over MAX_MANIFEST_BYTES is not read, and the owner finding says so.

The limit and the refusal itself are tested in tests/shared/test_dbt_artifacts.py. The oversized
manifests are sparse files (``truncate``): no test writes 256 MB.
"""

from __future__ import annotations

from pathlib import Path

from owner_notifier.service import notify_owners
from shared.bounded_files import MAX_MANIFEST_BYTES
from shared.contracts import Downstream, FindingStatus
from shared.settings import load_settings
from tests.owner_notifier.conftest import OWNERS_FILE, DictDirectory, RecordingSink, make_incident, memory_once

MB = 1024 * 1024
REFUSED = "dbt's manifest.json over 256 MB: not read"


def _oversized(path: Path, size: int = MAX_MANIFEST_BYTES + 10 * MB) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        f.truncate(size)  # sparse: the size is there, the blocks are not
    return path


def _notify(project: Path, **trigger: object):  # noqa: ANN202
    settings = load_settings(DBT_PROJECT_DIR=str(project), OWNERS_FILE=str(OWNERS_FILE))
    return notify_owners(
        make_incident(**trigger),
        settings,
        sink=RecordingSink(),
        directory=DictDirectory({"maria@example.com": "U0MARIA"}),
        once=memory_once(),
    )


def test_an_oversized_manifest_is_a_note_in_the_finding_and_owners_come_from_the_files(project_copy: Path) -> None:
    _oversized(project_copy / "target" / "manifest.json")
    finding = _notify(project_copy, model="fct_orders")
    assert finding.status is FindingStatus.OK
    assert finding.summary == "fct_orders → <@U0MARIA> (model_sql)"
    [owner] = finding.details.owners
    notes = [n for n in owner.looked_in if REFUSED in n]
    assert notes and notes[0].startswith("target/manifest.json (unusable: ")
    assert "Owners are looked up in the project's files instead." in notes[0]  # the caller's sentence
    assert finding.details.downstream == Downstream(from_manifest=False)


def test_with_nothing_failed_found_the_empty_summary_says_the_manifest_was_not_read(project_copy: Path) -> None:
    _oversized(project_copy / "target" / "manifest.json")
    (project_copy / "target" / "run_results.json").unlink()
    (project_copy / "target" / "sources.json").unlink()
    finding = _notify(project_copy, task_id="no_such_task")
    assert finding.status is FindingStatus.EMPTY
    assert "no failed dbt node found for task no_such_task" in finding.summary
    assert REFUSED in finding.summary


def test_without_dbt_project_yml_the_unavailable_reason_is_the_refused_manifest(tmp_path: Path) -> None:
    _oversized(tmp_path / "target" / "manifest.json")
    finding = _notify(tmp_path, model="fct_orders")
    assert finding.status is FindingStatus.UNAVAILABLE
    assert "no dbt_project.yml and no usable manifest" in finding.summary
    assert REFUSED in finding.summary
    assert "neither target/manifest.json" not in finding.summary  # it is there; it was too big
