"""Who owns a dbt node, and where that was declared.

Resolution order (the first place that declares an owner wins; every answer names its source):

1. the manifest node: ``config.meta.owner|owners`` (which includes folder-level ``+meta`` from
   ``dbt_project.yml``, as dbt merges it), then ``meta.owner|owners``; a source's ``source_meta``;
2. the node's ``group`` -> ``groups[...].owner`` (its email(s), else its name);
3. without a manifest entry: the project's files (``{{ config(meta=...) }}`` in the SQL, schema
   YAML ``config: meta:`` / ``meta:``, ``dbt_project.yml`` ``+meta``, a YAML group's owner);
4. ``OWNERS_FILE`` keyed by the node's group name, when nothing above names an owner
   (team names found in 1-3 are translated through the same file by ``mentions``);
5. nothing: ``Resolution.declared`` is empty and ``no_owner_sentence`` says where we looked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from owner_notifier.project_files import read_declarations
from owner_notifier.safe_yaml import load_yaml_file
from shared.dbt_artifacts import ManifestIndex, NodeInfo, load_manifest, package_of, short_name
from shared.errors import SourceError
from shared.paths import PathRefused, inside

_MAX_OWNERS = 20
_WITHOUT_MANIFEST = "Owners are looked up in the project's files instead."


@dataclass(frozen=True, slots=True)
class Declared:
    """One owner string exactly as declared, and where."""

    owner: str
    source: str  # manifest:config.meta.owner, manifest:meta.owner, manifest:group, schema_yaml, model_sql, ...
    evidence: str  # "<file>:<key path>", e.g. target/manifest.json:nodes.model.p.x.config.meta.owner
    team_keys: tuple[str, ...] = ()  # further OWNERS_FILE keys to try (the dbt group's name)


@dataclass(frozen=True, slots=True)
class Resolution:
    """The owners of one node (possibly none) and every place that was looked in."""

    model: str
    unique_id: str | None
    declared: tuple[Declared, ...]
    looked_in: tuple[str, ...]
    kind: str = "model"  # "task" for an Airflow task that is not a dbt node

    @property
    def no_owner_sentence(self) -> str:
        return f"no owner declared for {self.kind} {self.model} (looked in: {', '.join(self.looked_in)})"


@dataclass
class Project:
    """A dbt project as the resolver sees it: its directory, its manifest (if any), the owners file."""

    project_dir: Path | None
    manifest: ManifestIndex | None
    manifest_label: str
    teams: dict[str, Any] = field(default_factory=dict)
    looked_in: list[str] = field(default_factory=list)  # problems met while opening (reported once)
    task_rules: Any = None  # OWNERS_FILE ``tasks:`` as loaded (owner_notifier.task_owners reads it)
    owners_file_problem: str | None = None  # why OWNERS_FILE could not be read, when it is set


def open_project(
    project_dir: Path | None, *, manifest_path: Path | None = None, owners_file: Path | None = None
) -> Project:
    """Load what is there; a missing or corrupt manifest or owners file is noted, never raised.

    The project's own ``target/manifest.json`` must resolve inside ``project_dir`` (a symlink out
    of it is refused and noted); an explicit ``manifest_path`` (the CLI's --manifest) is read as given.
    """
    root = project_dir if manifest_path is None else None  # the project's own manifest stays inside it
    if manifest_path is None and project_dir is not None:
        manifest_path = project_dir / "target" / "manifest.json"
    label = _label(manifest_path, project_dir) if manifest_path else "target/manifest.json"
    project = Project(project_dir=project_dir, manifest=None, manifest_label=label)
    if manifest_path is not None:
        try:
            if root is not None:
                manifest_path = inside(root, manifest_path, label="DBT_PROJECT_DIR")
            project.manifest = load_manifest(manifest_path, instead=_WITHOUT_MANIFEST)
        except PathRefused as exc:
            project.looked_in.append(f"{label} ({exc})")
        except FileNotFoundError:
            project.looked_in.append(f"{label} (not found)")
        except (SourceError, OSError) as exc:
            project.looked_in.append(f"{label} (unusable: {exc})")
    if owners_file is not None:
        data, problem = load_yaml_file(owners_file)
        if problem or not isinstance(data, dict):
            project.owners_file_problem = f"OWNERS_FILE {owners_file} ({problem or 'not a mapping'})"
            project.looked_in.append(project.owners_file_problem)
        else:
            rest = {k: v for k, v in data.items() if k != "tasks"}
            teams: dict[str, Any] = data["teams"] if isinstance(data.get("teams"), dict) else rest
            project.teams = {str(k): v for k, v in teams.items()}
            project.task_rules = data.get("tasks")
    return project


def resolve_owner(project: Project, name_or_unique_id: str) -> Resolution:
    """The declared owners of the model (or source) ``name_or_unique_id``."""
    looked_in = list(project.looked_in)
    node = _pick(project.manifest.lookup(name_or_unique_id)) if project.manifest else None
    model = node.name if node else short_name(name_or_unique_id)
    declared: list[Declared] = []
    group: str | None = None
    if project.manifest is not None:
        if node is None:
            looked_in.append(f"{project.manifest_label} (no node {name_or_unique_id})")
        else:
            looked_in.append(f"{project.manifest_label}:{_section(node)}.{node.unique_id}")
            declared = _from_manifest(project, node)
            group = node.group
    if not declared and project.project_dir is not None and (node is None or node.resource_type == "model"):
        files_declared, files_group = _from_files(project.project_dir, model, looked_in)
        declared, group = files_declared, group or files_group
    if not declared and group and project.teams:
        looked_in.append(f"OWNERS_FILE[{group}]")
        if group in project.teams:
            declared = [Declared(group, "owners_file", f"OWNERS_FILE:{group}")]
    return Resolution(
        model=model,
        unique_id=node.unique_id if node else None,
        declared=tuple(declared[:_MAX_OWNERS]),
        looked_in=tuple(looked_in),
    )


def owners_in_meta(meta: dict[str, Any]) -> tuple[str, list[str]] | None:
    """``("owner"|"owners", [owner, ...])`` from a meta dict: a string, a list, or {email, name}."""
    for key in ("owner", "owners"):
        values = _strings(meta.get(key))
        if values:
            return key, values
    return None


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value.strip()] if value.strip() else []
    if isinstance(value, dict):
        return _strings(value.get("slack") or value.get("email") or value.get("name"))
    if isinstance(value, list):
        return [s for item in value[:_MAX_OWNERS] if not isinstance(item, list) for s in _strings(item)]
    return []


def _pick(nodes: list[NodeInfo]) -> NodeInfo | None:
    """A name shared by several nodes: prefer a model, then a source, then whatever came first."""
    for kind in ("model", "source", "snapshot", "seed"):
        for node in nodes:
            if node.resource_type == kind:
                return node
    return nodes[0] if nodes else None


def _section(node: NodeInfo) -> str:
    return "sources" if node.resource_type == "source" else "nodes"


def _from_manifest(project: Project, node: NodeInfo) -> list[Declared]:
    where = f"{project.manifest_label}:{_section(node)}.{node.unique_id}"
    for label, meta in (
        ("config.meta", node.config_meta),
        ("meta", node.meta),
        ("source_meta", node.source_meta),
    ):
        found = owners_in_meta(meta)
        if found:
            key, values = found
            return [Declared(v, f"manifest:{label}.{key}", f"{where}.{label}.{key}") for v in values]
    if node.group and project.manifest is not None:
        group = project.manifest.group(node.group, package_of(node.unique_id))
        owner = group.get("owner") if group else None
        if isinstance(owner, dict):
            return _group_owners(
                owner,
                node.group,
                f"{project.manifest_label}:groups.{group['unique_id']}.owner"
                if group and "unique_id" in group
                else f"{project.manifest_label}:groups",
            )
    return []


def _group_owners(owner: dict[str, Any], group: str, evidence: str) -> list[Declared]:
    emails = _strings(owner.get("email"))
    if emails:
        return [Declared(e, "manifest:group", f"{evidence}.email", (group,)) for e in emails]
    return [Declared(n, "manifest:group", f"{evidence}.name", (group,)) for n in _strings(owner.get("name"))]


def _from_files(project_dir: Path, model: str, looked_in: list[str]) -> tuple[list[Declared], str | None]:
    found = read_declarations(project_dir, model)
    looked_in.extend(found.looked_in)
    candidates: list[tuple[str, str, dict[str, Any]]] = []
    if found.sql_meta:
        candidates.append(("model_sql", f"{found.sql_meta[0]}:config(meta)", found.sql_meta[1]))
    candidates += [("schema_yaml", f"{path}:{key}", meta) for path, key, meta in found.yaml_meta]
    if found.folder_meta:
        candidates.append(("dbt_project_yml", found.folder_meta[0], found.folder_meta[1]))
    for source, evidence, meta in candidates:
        hit = owners_in_meta(meta)
        if hit:
            key, values = hit
            if source == "dbt_project_yml":  # merged across folders: cite the folder that set this key
                evidence = found.folder_meta_where.get(key, evidence)
            return [Declared(v, source, f"{evidence}.{key}") for v in values], found.group
    if found.group_owner and found.group:
        path, owner = found.group_owner
        declared = _group_owners(owner, found.group, path)
        return [Declared(d.owner, "schema_yaml:group", d.evidence, d.team_keys) for d in declared], found.group
    return [], found.group


def _label(path: Path, project_dir: Path | None) -> str:
    if project_dir is not None:
        try:
            return str(path.resolve().relative_to(project_dir.resolve()))
        except ValueError:
            pass
    return str(path)
