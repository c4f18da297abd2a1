"""The owner notifier reads no file outside DBT_PROJECT_DIR, whatever the trigger's model name says.

The model name comes from the trigger: it is never a path or a glob pattern. Files the project
links to outside itself (a schema YAML, a model's SQL, dbt_project.yml, target/ artifacts) are
skipped and the refusal is listed where the notifier says where it looked. The hostile owner is
``<@U0EVIL>``: a Slack mention, so reading the outside file would ping it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from owner_notifier.owners import open_project, resolve_owner
from owner_notifier.project_files import read_declarations
from owner_notifier.service import notify_owners
from shared.contracts import FindingStatus, OwnerFinding
from shared.settings import load_settings
from tests.owner_notifier.conftest import (
    FIXTURE_TRY,
    OWNERS_FILE,
    DictDirectory,
    RecordingSink,
    make_incident,
    memory_once,
)

EVIL = "<@U0EVIL>"
EVIL_SQL = f"{{{{ config(meta={{'owner': '{EVIL}'}}) }}}}\nselect 1 as id\n"


def _notify(project: Path, **trigger: Any) -> tuple[OwnerFinding, RecordingSink]:
    settings = load_settings(DBT_PROJECT_DIR=str(project), OWNERS_FILE=str(OWNERS_FILE))
    sink = RecordingSink()
    finding = notify_owners(
        make_incident(**trigger), settings, sink=sink, directory=DictDirectory({}), once=memory_once()
    )
    return finding, sink


def _rows(finding: OwnerFinding, key: str) -> list[dict[str, Any]]:
    return [row.model_dump() for row in getattr(finding.details, key)]


def _assert_evil_unread(finding: OwnerFinding, sink: RecordingSink) -> None:
    assert "U0EVIL" not in finding.model_dump_json()
    assert all("U0EVIL" not in post["text"] for post in sink.posts)


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A folder beside the project (tmp_path/project) that a hostile name or link points into."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    (folder / "evil.sql").write_text(EVIL_SQL)
    return folder


def test_a_model_name_with_dotdot_never_reaches_outside_the_project(no_manifest_project: Path, elsewhere: Path) -> None:
    # rglob("../../elsewhere/evil.sql") walks out of models/: the name must not be a pattern
    found = read_declarations(no_manifest_project, "../../elsewhere/evil")
    assert found.sql_meta is None and found.yaml_meta == []
    assert not any("elsewhere" in place for place in found.looked_in)


@pytest.mark.parametrize("model", ["*", "fin_*", "[f]in_ledger", "**/fin_ledger", "../../elsewhere/evil"])
def test_a_model_name_is_matched_literally_not_as_a_glob(
    no_manifest_project: Path, elsewhere: Path, model: str
) -> None:
    # "*" used to pick the first SQL file (models/finance/fin_ledger.sql) and ping its folder's team
    finding, sink = _notify(no_manifest_project, model=model)
    _assert_evil_unread(finding, sink)
    assert finding.status is FindingStatus.EMPTY and sink.posts == []
    assert "no owner declared" in finding.summary


def test_the_real_model_name_still_finds_its_sql(no_manifest_project: Path) -> None:
    finding, sink = _notify(no_manifest_project, model="fct_orders")
    assert finding.status is FindingStatus.OK
    assert _rows(finding, "owners")[0]["source"] == "model_sql"


def _relink(path: Path, outside: Path) -> None:
    """Move ``path`` out of the project to ``outside`` and leave a symlink in its place."""
    shutil.move(path, outside)
    path.symlink_to(outside)


def test_a_schema_yaml_symlinked_outside_is_skipped(no_manifest_project: Path, elsewhere: Path) -> None:
    outside = elsewhere / "schema.yml"
    outside.write_text(f"version: 2\nmodels:\n  - name: orphan_model\n    meta:\n      owner: '{EVIL}'\n")
    link = no_manifest_project / "models" / "misc" / "schema.yml"
    link.symlink_to(outside)
    finding, sink = _notify(no_manifest_project, model="orphan_model")
    _assert_evil_unread(finding, sink)
    assert sink.posts == [] and "models/misc/schema.yml (refused:" in finding.summary

    link.unlink()  # control: the same file inside the project declares the owner
    shutil.copy(outside, link)
    finding, sink = _notify(no_manifest_project, model="orphan_model")
    assert EVIL in finding.summary


def test_a_model_sql_symlinked_outside_is_not_read(no_manifest_project: Path, elsewhere: Path) -> None:
    sql = no_manifest_project / "models" / "misc" / "orphan_model.sql"
    sql.unlink()
    sql.symlink_to(elsewhere / "evil.sql")
    finding, sink = _notify(no_manifest_project, model="orphan_model")
    _assert_evil_unread(finding, sink)
    assert "models/misc/orphan_model.sql (refused:" in finding.summary and "outside DBT_PROJECT_DIR" in finding.summary


def test_a_dbt_project_yml_symlinked_outside_is_not_read(no_manifest_project: Path, elsewhere: Path) -> None:
    project_yml = no_manifest_project / "dbt_project.yml"
    text = project_yml.read_text() + f"    misc:\n      +meta:\n        owner: '{EVIL}'\n"
    project_yml.unlink()
    (elsewhere / "dbt_project.yml").write_text(text)
    project_yml.symlink_to(elsewhere / "dbt_project.yml")
    found = read_declarations(no_manifest_project, "orphan_model")
    assert found.folder_meta is None
    assert any(place.startswith("dbt_project.yml (refused:") for place in found.looked_in)


def test_a_model_path_outside_the_project_is_not_walked(no_manifest_project: Path, elsewhere: Path) -> None:
    project_yml = no_manifest_project / "dbt_project.yml"
    project_yml.write_text(
        project_yml.read_text().replace('model-paths: ["models"]', 'model-paths: ["models", "../elsewhere"]')
    )
    found = read_declarations(no_manifest_project, "evil")
    assert found.sql_meta is None
    assert any(place.startswith("../elsewhere (refused:") for place in found.looked_in)


def test_a_manifest_symlinked_outside_is_refused(project_copy: Path, elsewhere: Path) -> None:
    _relink(project_copy / "target" / "manifest.json", elsewhere / "manifest.json")
    project = open_project(project_copy, owners_file=OWNERS_FILE)
    assert project.manifest is None
    assert any("refused:" in place and "outside DBT_PROJECT_DIR" in place for place in project.looked_in)
    # an explicit --manifest on the command line is the user's own choice: read as given
    assert open_project(None, manifest_path=elsewhere / "manifest.json").manifest is not None
    assert resolve_owner(project, "fct_orders").declared  # the project's files still answer


def test_run_results_symlinked_outside_is_refused(project_copy: Path, elsewhere: Path) -> None:
    (project_copy / "target" / "sources.json").unlink()
    run_results = project_copy / "target" / "run_results.json"
    doc = {
        "metadata": {"generated_at": FIXTURE_TRY["ended_at"]},  # written by the try the trigger names
        "results": [{"unique_id": "model.dbt_owners.fin_ledger", "status": "error", "message": "Database Error"}],
    }
    run_results.write_text(json.dumps(doc))
    _relink(run_results, elsewhere / "run_results.json")
    finding, sink = _notify(project_copy)
    assert finding.details.failed_nodes == () and sink.posts == []
    looked_in = finding.details.targets_looked_in
    assert any(str(place).startswith("target/run_results.json (refused:") for place in looked_in)

    run_results.unlink()  # control: the same file inside the project names fin_ledger
    shutil.copy(elsewhere / "run_results.json", run_results)
    finding, _ = _notify(project_copy, exception="Database Error in model fin_ledger (models/fin_ledger.sql)")
    assert [n["name"] for n in _rows(finding, "failed_nodes")] == ["fin_ledger"]
