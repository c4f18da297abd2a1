"""Owner declarations read from a dbt project's own files, for when there is no usable manifest.

A parse-time failure (bad ``ref``, Jinja or YAML error) writes no ``manifest.json``, and a model
added since the last good parse is not in it. Then the owner comes from, most specific first:
``{{ config(meta=...) }}`` in the model's SQL, its entry in a schema YAML (``config: meta:`` then
``meta:``), folder-level ``+meta`` in ``dbt_project.yml``, and its ``group``'s owner.

The model name comes from a trigger, so it is never part of a path or a glob pattern: files are
listed with fixed patterns and matched by exact name. Every file read (and every ``model-paths``
entry) must resolve inside the project directory; a symlink out of it is skipped and noted.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from owner_notifier.safe_yaml import MAX_BYTES, load_yaml_file
from shared.paths import PathRefused, inside

_CONFIG_CALL = re.compile(r"\{\{-?\s*config\((?P<args>.*?)\)\s*-?\}\}", re.S)
_MAX_FILES = 20_000  # schema files scanned per lookup; a bigger tree is reported as truncated


@dataclass
class FileDeclarations:
    """What a project's files say about one model, with the files that were looked in."""

    sql_meta: tuple[str, dict[str, Any]] | None = None  # (path, meta)
    yaml_meta: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # (path, key, meta)
    folder_meta: tuple[str, dict[str, Any]] | None = None  # (dbt_project.yml key path, meta)
    folder_meta_where: dict[str, str] = field(default_factory=dict)  # meta key -> the folder that set it
    group: str | None = None
    group_owner: tuple[str, dict[str, Any]] | None = None  # (path, owner)
    looked_in: list[str] = field(default_factory=list)


def read_declarations(project_dir: Path, model: str) -> FileDeclarations:
    """Everything the project's files declare about ``model`` (never raises on a bad file)."""
    found = FileDeclarations()
    project_file = _inside(project_dir, project_dir / "dbt_project.yml", found.looked_in)
    project, problem = load_yaml_file(project_file) if project_file else (None, "refused")
    project = project if isinstance(project, dict) else {}
    if project_file:
        found.looked_in.append("dbt_project.yml" + (f" ({problem})" if problem else ""))
    model_paths = [
        p
        for p in project.get("model-paths") or ["models"]
        if isinstance(p, str) and _inside(project_dir, project_dir / p, found.looked_in)
    ]
    sql_path = _find_sql(project_dir, model_paths, model, found.looked_in)
    if sql_path is not None:
        found.looked_in.append(f"{_rel(sql_path, project_dir)} config()")
        real = _inside(project_dir, sql_path, found.looked_in)
        meta = sql_config_meta(real) if real else None
        if meta:
            found.sql_meta = (_rel(sql_path, project_dir), meta)
        folder = sql_path.parent.relative_to(project_dir).parts[1:]  # drop the model-path itself
        found.folder_meta, found.folder_meta_where, found.group = _folder_config(project, folder)
    groups: dict[str, tuple[str, dict[str, Any]]] = {}
    for path, real in _schema_files(project_dir, model_paths, found.looked_in):
        _scan_schema_file(path, real, project_dir, model, found, groups)
    if found.group and found.group in groups:
        found.group_owner = groups[found.group]
    return found


def _inside(project_dir: Path, path: Path, looked_in: list[str]) -> Path | None:
    """``path`` resolved if it stays inside the project; else None, and the refusal is noted."""
    try:
        return inside(project_dir, path, label="DBT_PROJECT_DIR")
    except PathRefused as exc:
        looked_in.append(f"{_rel(path, project_dir)} ({exc})")
        return None


def sql_config_meta(path: Path) -> dict[str, Any] | None:
    """The literal ``meta=`` dict of a ``{{ config(...) }}`` call in a model's SQL, if any."""
    try:
        if path.stat().st_size > MAX_BYTES:
            return None
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    for call in _CONFIG_CALL.finditer(text):
        try:
            tree = ast.parse(f"config({call['args']})", mode="eval")
        except SyntaxError:
            continue
        if not isinstance(tree.body, ast.Call):
            continue
        for keyword in tree.body.keywords:
            if keyword.arg == "meta":
                try:
                    meta = ast.literal_eval(keyword.value)  # literals only: never evaluates code
                except (ValueError, SyntaxError, TypeError, RecursionError):
                    return None
                return meta if isinstance(meta, dict) else None
    return None


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _find_sql(project_dir: Path, model_paths: list[str], model: str, looked_in: list[str]) -> Path | None:
    """The first ``<model>.sql`` under the model paths, by exact file name (``model`` is never a pattern)."""
    wanted = f"{model}.sql"
    for model_path in model_paths:
        for path in sorted(p for p in (project_dir / model_path).rglob("*.sql") if p.name == wanted):
            if _inside(project_dir, path, looked_in):
                return path
    return None


def _folder_config(
    project: dict[str, Any], folder: tuple[str, ...]
) -> tuple[tuple[str, dict[str, Any]] | None, dict[str, str], str | None]:
    """Folder-level ``+meta`` and ``+group`` from ``dbt_project.yml``, as dbt resolves them, with the
    folder each meta key was set in (a parent's ``owner`` and a subfolder's ``owners`` both survive
    the merge, and each is cited where it was written).

    ``+meta`` dicts merge key by key, the deepest folder winning; ``+group`` is replaced.
    """
    models = project.get("models")
    name = project.get("name")
    level = models.get(name) if isinstance(models, dict) and isinstance(name, str) else None
    merged: dict[str, Any] = {}
    set_in: dict[str, str] = {}
    where = meta_where = f"models.{name}"
    group: str | None = None
    for part in (None, *folder):
        if part is not None:
            level = level.get(part) if isinstance(level, dict) else None
            where += f".{part}"
        if not isinstance(level, dict):
            break
        spelt = "+meta" if "+meta" in level else "meta"
        meta = level.get(spelt)
        if isinstance(meta, dict):
            merged.update(meta)
            set_in.update((key, f"dbt_project.yml:{where}.{spelt}") for key in meta if isinstance(key, str))
            meta_where = f"{where}.{spelt}"
        found_group = level.get("+group", level.get("group"))
        group = found_group if isinstance(found_group, str) else group
    return ((f"dbt_project.yml:{meta_where}", merged) if merged else None), set_in, group


def _schema_files(project_dir: Path, model_paths: list[str], looked_in: list[str]) -> Iterator[tuple[Path, Path]]:
    """(path as found, path resolved) of each schema YAML that stays inside the project."""
    count = 0
    for model_path in model_paths:
        looked_in.append(f"{model_path}/**/*.yml|yaml")
        for path in sorted((project_dir / model_path).rglob("*")):
            if path.suffix in (".yml", ".yaml") and path.is_file():
                count += 1
                if count > _MAX_FILES:
                    looked_in.append(f"(stopped after {_MAX_FILES} schema files)")
                    return
                real = _inside(project_dir, path, looked_in)
                if real is not None:
                    yield path, real


def _scan_schema_file(
    path: Path,
    real: Path,
    root: Path,
    model: str,
    found: FileDeclarations,
    groups: dict[str, tuple[str, dict[str, Any]]],
) -> None:
    """Read ``real`` (the resolved ``path``); name it by ``path`` relative to the project."""
    rel = _rel(path, root)
    try:
        text = real.read_text(encoding="utf-8", errors="replace") if real.stat().st_size <= MAX_BYTES else None
    except OSError:
        text = None
    if text is not None and model not in text and "groups" not in text:
        return  # cheap pre-check: a file naming neither the model nor a group declares nothing for it
    doc, problem = load_yaml_file(real)
    if problem:
        found.looked_in.append(f"{rel} ({problem})")
        return
    if not isinstance(doc, dict):
        return
    for group in doc.get("groups") or ():
        if isinstance(group, dict) and isinstance(group.get("name"), str) and isinstance(group.get("owner"), dict):
            groups[group["name"]] = (f"{rel}:groups.{group['name']}.owner", group["owner"])
    for index, entry in enumerate(doc.get("models") or ()):
        if not (isinstance(entry, dict) and entry.get("name") == model):
            continue
        found.looked_in.append(rel)
        config: dict[str, Any] = entry["config"] if isinstance(entry.get("config"), dict) else {}
        for key, meta in (
            (f"models[{index}].config.meta", config.get("meta")),
            (f"models[{index}].meta", entry.get("meta")),
        ):
            if isinstance(meta, dict):
                found.yaml_meta.append((rel, key, meta))
        group = config.get("group", entry.get("group"))
        if isinstance(group, str):
            found.group = group
