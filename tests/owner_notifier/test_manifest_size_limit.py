"""A dbt manifest over MAX_MANIFEST_BYTES is refused before it is read, and the finding says so.

The oversized manifests are sparse files (``truncate``): no test writes 256 MB.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from owner_notifier import manifest as manifest_module
from owner_notifier.manifest import MAX_MANIFEST_BYTES, load_manifest
from owner_notifier.service import notify_owners
from shared.contracts import FindingStatus
from shared.errors import SourceError
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


def test_the_limit_is_256_mb() -> None:
    assert MAX_MANIFEST_BYTES == 256 * 1024 * 1024


def test_a_manifest_over_the_limit_is_refused_by_its_size_without_reading_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _oversized(tmp_path / "target" / "manifest.json")

    def no_read(_path: Path) -> bytes:
        raise AssertionError("an oversized manifest must not be read")

    monkeypatch.setattr(manifest_module, "_read_bounded", no_read)
    with pytest.raises(SourceError) as caught:
        load_manifest(path)
    message = str(caught.value)
    assert message.startswith(REFUSED)
    assert str(path.resolve()) in message  # which file
    assert "is 266 MB (limit 256 MB" in message  # its size and the limit
    assert "dbt parse" in message and "raise the limit" in message  # what to do


def test_a_manifest_at_the_limit_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "manifest.json"
    path.write_text('{"nodes": {}, "metadata": {"project_name": "p"}}')
    monkeypatch.setattr(manifest_module, "MAX_MANIFEST_BYTES", path.stat().st_size)
    assert load_manifest(path).project_name == "p"


def test_the_read_itself_stops_at_the_limit_if_the_file_grew_after_stat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "manifest.json"
    path.write_text('{"nodes": {}}' + " " * 1_000)
    monkeypatch.setattr(manifest_module, "MAX_MANIFEST_BYTES", 100)
    with pytest.raises(SourceError, match="manifest.json over .* MB: not read"):
        manifest_module._read_bounded(path)


def test_an_oversized_manifest_is_a_note_in_the_finding_and_owners_come_from_the_files(project_copy: Path) -> None:
    _oversized(project_copy / "target" / "manifest.json")
    finding = _notify(project_copy, model="fct_orders")
    assert finding.status is FindingStatus.OK
    assert finding.summary == "fct_orders → <@U0MARIA> (model_sql)"
    [owner] = finding.details["owners"]
    notes = [n for n in owner["looked_in"] if REFUSED in n]  # type: ignore[index, union-attr]
    assert notes and notes[0].startswith("target/manifest.json (unusable: ")  # type: ignore[union-attr]
    assert finding.details["downstream"] == {"models": [], "exposures": [], "from_manifest": False}


def test_with_nothing_failed_found_the_empty_summary_says_the_manifest_was_not_read(project_copy: Path) -> None:
    _oversized(project_copy / "target" / "manifest.json")
    (project_copy / "target" / "run_results.json").unlink()
    (project_copy / "target" / "sources.json").unlink()
    finding = _notify(project_copy, task_id="no_such_task")
    assert finding.status is FindingStatus.EMPTY
    assert finding.summary.startswith("no failed dbt node found for task no_such_task")
    assert REFUSED in finding.summary


def test_without_dbt_project_yml_the_unavailable_reason_is_the_refused_manifest(tmp_path: Path) -> None:
    _oversized(tmp_path / "target" / "manifest.json")
    finding = _notify(tmp_path, model="fct_orders")
    assert finding.status is FindingStatus.UNAVAILABLE
    assert "no dbt_project.yml and no usable manifest" in finding.summary
    assert REFUSED in finding.summary
    assert "neither target/manifest.json" not in finding.summary  # it is there; it was too big
