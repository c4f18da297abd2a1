"""Owner resolution rules that mutation testing (``make mutate TARGET=owners``) found unpinned:
every answer names exactly where it was declared, and what was looked in; odd files never crash.

Projects are the real fixture project, or a few files written for one rule; manifests the
fixture's, or a ``ManifestIndex`` built in memory (the resolver's own type, no patching).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from owner_notifier.mentions import Mention, resolve_mention
from owner_notifier.owners import Declared, Project, open_project, owners_in_meta, resolve_owner
from owner_notifier.project_files import _MAX_FILES
from owner_notifier.safe_yaml import MAX_BYTES
from shared.dbt_artifacts import ManifestIndex, NodeInfo
from shared.errors import SlackPermanent
from tests.owner_notifier.conftest import OWNERS_FILE, PROJECT


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def _files_project(tmp_path: Path, files: dict[str, str], *, owners: str | None = None) -> Project:
    """A project without a manifest: the owner comes from its files (dbt_project.yml named ``p``)."""
    files = {"dbt_project.yml": "name: p\n", **files}
    root = _write(tmp_path / "project", files)
    owners_file = _write(tmp_path, {"owners.yml": owners}) / "owners.yml" if owners is not None else None
    return open_project(root, owners_file=owners_file)


def _node(uid: str, *, meta: dict[str, Any] | None = None, source_meta: dict[str, Any] | None = None,
          group: str | None = None) -> NodeInfo:  # fmt: skip
    rtype, package, *rest = uid.split(".")
    return NodeInfo(uid, rest[-1], rtype, f"models/{rest[-1]}.sql", {}, meta or {}, source_meta or {}, group, None, ())


def _manifest_project(*nodes: NodeInfo, groups: dict[str, dict[str, Any]] | None = None, **teams: str) -> Project:
    by_name: dict[str, list[str]] = {}
    for n in nodes:
        by_name.setdefault(n.name, []).append(n.unique_id)
    index = ManifestIndex(
        path=Path("target/manifest.json"),
        project_name="p",
        nodes={n.unique_id: n for n in nodes},
        by_name=by_name,
        groups=groups or {},
        exposures={},
        child_map={},
    )
    return Project(project_dir=None, manifest=index, manifest_label="target/manifest.json", teams=dict(teams))


# ---- where an owner was declared, exactly ------------------------------------------------------
def test_a_manifest_group_owner_names_the_groups_path_and_keeps_its_name_as_a_team_key() -> None:
    project = open_project(PROJECT, owners_file=OWNERS_FILE)
    by_email = resolve_owner(project, "pay_settlements")
    assert by_email.declared == (
        Declared(
            "payments-lead@example.com",
            "manifest:group",
            "target/manifest.json:groups.group.dbt_owners.payments.owner.email",
            ("payments",),
        ),
    )
    assert by_email.looked_in == ("target/manifest.json:nodes.model.dbt_owners.pay_settlements",)
    by_name = resolve_owner(project, "mkt_attribution")
    assert by_name.declared == (
        Declared(
            "Marketing Analytics",
            "manifest:group",
            "target/manifest.json:groups.group.dbt_owners.marketing.owner.name",
            ("marketing",),
        ),
    )


def test_a_source_is_looked_up_and_named_under_sources() -> None:
    resolution = resolve_owner(open_project(PROJECT, owners_file=OWNERS_FILE), "raw.raw_customers")
    uid = "source.dbt_owners.raw.raw_customers"
    assert (resolution.model, resolution.unique_id) == ("raw_customers", uid)
    assert resolution.declared == (
        Declared("<@U0CRM>", "manifest:config.meta.owner", f"target/manifest.json:sources.{uid}.config.meta.owner"),
    )
    assert resolution.looked_in == (f"target/manifest.json:sources.{uid}",)


def test_a_sources_owner_declared_on_the_source_is_named_source_meta() -> None:
    project = _manifest_project(_node("source.p.raw.orders", source_meta={"owner": "ingest@example.com"}))
    [declared] = resolve_owner(project, "source.p.raw.orders").declared
    assert (declared.source, declared.evidence) == (
        "manifest:source_meta.owner",
        "target/manifest.json:sources.source.p.raw.orders.source_meta.owner",
    )


def test_a_nodes_group_is_looked_up_in_the_nodes_own_package() -> None:
    groups = {
        f"group.{pkg}.core": {"name": "core", "unique_id": f"group.{pkg}.core", "owner": {"email": f"{pkg}@x.com"}}
        for pkg in ("other", "p")
    }
    project = _manifest_project(_node("model.p.orders", group="core"), groups=groups)
    [declared] = resolve_owner(project, "orders").declared
    assert declared == Declared("p@x.com", "manifest:group", "target/manifest.json:groups.group.p.core.owner.email",
                                ("core",))  # fmt: skip


def test_a_group_missing_from_the_manifest_declares_nothing_and_falls_back_to_owners_file() -> None:
    project = _manifest_project(_node("model.p.orders", group="core"), core="<@U0CORE>")
    resolution = resolve_owner(project, "orders")
    assert resolution.declared == (Declared("core", "owners_file", "OWNERS_FILE:core"),)
    assert resolution.looked_in == ("target/manifest.json:nodes.model.p.orders", "OWNERS_FILE[core]")


def test_a_group_without_a_unique_id_is_named_by_the_groups_section() -> None:
    groups = {"group.p.core": {"name": "core", "owner": {"name": "Core Team"}}}
    project = _manifest_project(_node("model.p.orders", group="core"), groups=groups)
    [declared] = resolve_owner(project, "orders").declared
    assert declared == Declared("Core Team", "manifest:group", "target/manifest.json:groups.name", ("core",))


@pytest.mark.parametrize(
    ("rtypes", "picked"),
    [
        (("seed", "model"), "model"),
        (("seed", "source"), "source"),
        (("seed", "snapshot"), "snapshot"),
        (("analysis", "seed"), "seed"),
        (("analysis", "operation"), "analysis"),  # none preferred: the first
    ],
)
def test_a_name_shared_by_several_nodes_resolves_model_then_source_then_snapshot_then_seed(
    rtypes: tuple[str, str], picked: str
) -> None:
    nodes = [_node(f"{rtype}.p.orders") for rtype in rtypes]
    assert resolve_owner(_manifest_project(*nodes), "orders").unique_id == f"{picked}.p.orders"


@pytest.mark.parametrize(
    ("meta", "found"),
    [
        ({"owner": {"slack": "<@U1>", "email": "a@x.com", "name": "A"}}, ("owner", ["<@U1>"])),
        ({"owner": {"email": "a@x.com", "name": "A"}}, ("owner", ["a@x.com"])),
        ({"owner": {"name": "A"}}, ("owner", ["A"])),
        ({"owner": "   ", "owners": ["b@x.com"]}, ("owners", ["b@x.com"])),  # a blank owner is no owner
        ({"owner": "  "}, None),
    ],
)
def test_an_owner_is_taken_slack_first_then_email_then_name(meta: dict[str, Any], found: object) -> None:
    assert owners_in_meta(meta) == found


# ---- without a manifest: the project's files ---------------------------------------------------
@pytest.fixture
def files_only(tmp_path: Path) -> Project:
    copy = tmp_path / "project"
    shutil.copytree(PROJECT, copy, ignore=shutil.ignore_patterns("target", "*.duckdb", "logs"))
    return open_project(copy, owners_file=OWNERS_FILE)


def test_a_yaml_group_owner_names_the_schema_file_and_keeps_the_group_as_a_team_key(files_only: Project) -> None:
    resolution = resolve_owner(files_only, "pay_settlements")
    assert resolution.declared == (
        Declared(
            "payments-lead@example.com",
            "schema_yaml:group",
            "models/grouped/schema.yml:groups.payments.owner.email",
            ("payments",),
        ),
    )
    assert resolution.looked_in == (
        "target/manifest.json (not found)",
        "dbt_project.yml",
        "models/grouped/pay_settlements.sql config()",
        "models/**/*.yml|yaml",
        "models/grouped/schema.yml",
    )


def test_a_folder_owner_names_its_dbt_project_yml_path(files_only: Project) -> None:
    resolution = resolve_owner(files_only, "fin_ledger")
    assert resolution.declared == (
        Declared("finance-team", "dbt_project_yml", "dbt_project.yml:models.dbt_owners.finance.+meta.owner"),
    )


def test_the_folder_owner_is_named_by_the_deepest_folder_that_declares_one(tmp_path: Path) -> None:
    yml = "name: p\nmodels:\n  p:\n    +meta: {owner: a@x.com}\n    sub:\n      meta: {tier: 1}\n"
    project = _files_project(tmp_path, {"dbt_project.yml": yml, "models/sub/m.sql": "select 1"})
    assert resolve_owner(project, "m").declared == (
        Declared("a@x.com", "dbt_project_yml", "dbt_project.yml:models.p.+meta.owner"),
    )
    yml = "name: p\nmodels:\n  p:\n    +meta: {tier: 1}\n    sub:\n      meta: {owners: [b@x.com]}\n"
    project = _files_project(tmp_path / "2", {"dbt_project.yml": yml, "models/sub/m.sql": "select 1"})
    assert resolve_owner(project, "m").declared == (
        Declared("b@x.com", "dbt_project_yml", "dbt_project.yml:models.p.sub.meta.owners"),
    )


def test_a_folder_owner_is_cited_in_the_folder_that_set_it_when_folders_merge(tmp_path: Path) -> None:
    # dbt merges +meta key by key: the parent's `owner` survives beside the subfolder's `owners`. The owner
    # read (owner before owners) must be cited where it was written, not in the deepest folder with a meta.
    yml = "name: p\nmodels:\n  p:\n    +meta: {owner: a@x.com}\n    sub:\n      +meta: {owners: [b@x.com]}\n"
    project = _files_project(tmp_path, {"dbt_project.yml": yml, "models/sub/m.sql": "select 1"})
    assert resolve_owner(project, "m").declared == (
        Declared("a@x.com", "dbt_project_yml", "dbt_project.yml:models.p.+meta.owner"),
    )


@pytest.mark.parametrize("key", ["+group", "group"])
def test_a_folder_group_in_dbt_project_yml_is_the_owners_file_key(tmp_path: Path, key: str) -> None:
    yml = f"name: p\nmodels:\n  p:\n    sub:\n      {key}: core\n"
    project = _files_project(tmp_path, {"dbt_project.yml": yml, "models/sub/m.sql": "select 1"}, owners="core: '@c'\n")
    assert resolve_owner(project, "m").declared == (Declared("core", "owners_file", "OWNERS_FILE:core"),)


def test_a_folder_group_is_inherited_by_the_folders_below(tmp_path: Path) -> None:
    yml = "name: p\nmodels:\n  p:\n    +group: core\n    sub:\n      +materialized: table\n"
    project = _files_project(tmp_path, {"dbt_project.yml": yml, "models/sub/m.sql": "select 1"}, owners="core: '@c'\n")
    assert resolve_owner(project, "m").declared == (Declared("core", "owners_file", "OWNERS_FILE:core"),)


@pytest.mark.parametrize("where", ["config", "entry"])
def test_a_model_group_in_yaml_is_read_from_config_or_the_entry(tmp_path: Path, where: str) -> None:
    entry = "  - name: m\n    config: {group: core}\n" if where == "config" else "  - name: m\n    group: core\n"
    files = {"models/m.sql": "select 1", "models/schema.yml": "models:\n" + entry}
    project = _files_project(tmp_path, files, owners="core: '@c'\n")
    assert resolve_owner(project, "m").declared == (Declared("core", "owners_file", "OWNERS_FILE:core"),)


def test_groups_declared_in_a_file_that_does_not_name_the_model_still_count(tmp_path: Path) -> None:
    files = {
        "models/fct_orders.sql": "select 1",
        "models/schema.yml": "models:\n  - name: fct_orders\n    config: {group: core}\n",
        "models/groups.yml": "groups:\n  - name: core\n    owner: {email: core@x.com}\n",
    }
    [declared] = resolve_owner(_files_project(tmp_path, files), "fct_orders").declared
    assert declared == Declared(
        "core@x.com", "schema_yaml:group", "models/groups.yml:groups.core.owner.email", ("core",)
    )


def test_malformed_groups_and_undecodable_yaml_are_skipped_not_fatal(tmp_path: Path) -> None:
    files = {
        "models/m.sql": "select 1",
        "models/schema.yml": "groups:\n  - core\n  - owner: {email: x@x.com}\n  - name: core\n    owner: {name: C}\n"
        "models:\n  - name: m\n    config: {group: core}\n",
    }
    project = _files_project(tmp_path, files)
    (tmp_path / "project" / "models" / "bad.yml").write_bytes(b"models:\n  - name: m\xff\xfe\n")
    [declared] = resolve_owner(project, "m").declared
    assert (declared.owner, declared.source) == ("C", "schema_yaml:group")


def test_model_paths_default_to_models_and_a_project_without_a_models_block_resolves(tmp_path: Path) -> None:
    files = {"models/m.sql": "{{ config(meta={'owner': 'a@x.com'}) }} select 1"}
    [declared] = resolve_owner(_files_project(tmp_path, files), "m").declared
    assert declared == Declared("a@x.com", "model_sql", "models/m.sql:config(meta).owner")


def test_the_first_config_call_that_parses_gives_the_sql_meta(tmp_path: Path) -> None:
    sql = "{{ config(tags=['a'] + ) }}\n{{ config(x) or (y) }}\n{{ config(meta={'owner': 'a@x.com'}) }}\nselect 1"
    [declared] = resolve_owner(_files_project(tmp_path, {"models/m.sql": sql}), "m").declared
    assert declared.owner == "a@x.com"


def test_a_meta_that_is_not_a_mapping_declares_nothing(tmp_path: Path) -> None:
    project = _files_project(tmp_path, {"models/m.sql": "{{ config(meta=['a@x.com']) }} select 1"})
    assert resolve_owner(project, "m").declared == ()


def test_a_model_sql_of_exactly_the_size_limit_is_still_read(tmp_path: Path) -> None:
    head = "{{ config(meta={'owner': 'a@x.com'}) }}\n"
    sql = head + "-" * (MAX_BYTES - len(head))
    [declared] = resolve_owner(_files_project(tmp_path, {"models/m.sql": sql}), "m").declared
    assert declared.owner == "a@x.com"


# ---- what was looked in ------------------------------------------------------------------------
def test_a_name_missing_from_the_manifest_is_noted_and_the_files_are_searched() -> None:
    resolution = resolve_owner(open_project(PROJECT, owners_file=OWNERS_FILE), "ghost")
    assert resolution.looked_in == ("target/manifest.json (no node ghost)", "dbt_project.yml", "models/**/*.yml|yaml")


def test_only_yml_and_yaml_files_are_read_as_schema_files(tmp_path: Path) -> None:
    files = {"models/m.sql": "select 1", "models/README.md": "m: [not yaml", "models/s.yaml": "models:\n  - name: m\n"}
    resolution = resolve_owner(_files_project(tmp_path, files), "m")
    assert resolution.looked_in[1:] == (
        "dbt_project.yml",
        "models/m.sql config()",
        "models/**/*.yml|yaml",
        "models/s.yaml",
    )


def test_problems_with_dbt_project_yml_and_a_too_big_schema_file_are_noted(tmp_path: Path) -> None:
    files = {"dbt_project.yml": "name: [p", "models/m.sql": "select 1", "models/big.yml": "#" * (MAX_BYTES + 1)}
    looked_in = resolve_owner(_files_project(tmp_path, files), "m").looked_in
    assert looked_in[1].startswith("dbt_project.yml (skipped: invalid YAML")
    assert looked_in[-1] == f"models/big.yml (skipped: {MAX_BYTES + 1} bytes is over the {MAX_BYTES}-byte limit)"


def test_a_tree_of_more_schema_files_than_the_limit_is_searched_up_to_it_and_says_so(tmp_path: Path) -> None:
    root = tmp_path / "project"
    _write(root, {"dbt_project.yml": "name: p\n", "models/m.sql": "select 1"})
    many = root / "models" / "many"
    many.mkdir()
    for i in range(_MAX_FILES + 1):
        (many / f"{i:05d}.yml").write_text("x: 1\n")
    # the last file within the limit declares the owner, the first one past it another
    (many / f"{_MAX_FILES - 1:05d}.yml").write_text("models:\n  - name: m\n    meta: {owner: last@x.com}\n")
    (many / f"{_MAX_FILES:05d}.yml").write_text("models:\n  - name: m\n    meta: {owner: past@x.com}\n")
    resolution = resolve_owner(open_project(root), "m")
    assert [d.owner for d in resolution.declared] == ["last@x.com"]
    assert resolution.looked_in[-1] == f"(stopped after {_MAX_FILES} schema files)"


def test_no_project_and_no_manifest_resolve_to_nobody_without_failing() -> None:
    resolution = resolve_owner(open_project(None), "m")
    assert (resolution.declared, resolution.looked_in) == ((), ())


def test_an_explicit_manifest_outside_the_project_is_named_by_its_path(tmp_path: Path) -> None:
    manifest = tmp_path / "elsewhere" / "manifest.json"
    manifest.parent.mkdir()
    shutil.copy(PROJECT / "target" / "manifest.json", manifest)
    resolution = resolve_owner(open_project(None, manifest_path=manifest), "fct_orders")
    assert resolution.looked_in == (f"{manifest}:nodes.model.dbt_owners.fct_orders",)


@pytest.mark.parametrize(
    ("text", "teams", "noted"),
    [
        ("- a\n- b\n", {}, "not a mapping"),
        ("teams:\n  core: '@c'\n", {"core": "@c"}, None),
        ("core: '@c'\n", {"core": "@c"}, None),
    ],
)
def test_the_owners_file_is_a_mapping_of_teams_optionally_under_teams(
    tmp_path: Path, text: str, teams: dict[str, str], noted: str | None
) -> None:
    owners = _write(tmp_path, {"owners.yml": text}) / "owners.yml"
    project = open_project(None, owners_file=owners)
    assert project.teams == teams
    assert project.looked_in == ([f"OWNERS_FILE {owners} ({noted})"] if noted else [])


# ---- mentions ----------------------------------------------------------------------------------
class _Directory:
    def __init__(self, answer: str | None = None, *, fails: bool = False) -> None:
        self.answer, self.fails = answer, fails

    def user_id_for_email(self, email: str) -> str | None:
        if self.fails:
            raise SlackPermanent("invalid_auth")
        return self.answer


@pytest.mark.parametrize(
    ("directory", "expected"),
    [
        (None, Mention(None, "none", "a@x.com: no Slack directory configured to look the email up")),
        (_Directory(fails=True), Mention(None, "none", "a@x.com: Slack lookup failed (invalid_auth)")),
        (_Directory(None), Mention(None, "none", "a@x.com: no Slack user has this email")),
        (_Directory("U1\n"), Mention(None, "none", "a@x.com: directory returned an invalid user id")),
        (_Directory("U0A"), Mention("<@U0A>", "user_directory")),
    ],
)
def test_an_email_becomes_a_mention_only_through_the_directory_and_says_why_not(
    directory: _Directory | None, expected: Mention
) -> None:
    assert resolve_mention("a@x.com", directory=directory) == expected


def test_an_exact_team_key_wins_over_one_that_differs_only_in_case() -> None:
    teams = {"Payments": "<@U0UPPER>", "payments": "<@U0LOWER>"}
    assert resolve_mention("payments", directory=None, teams=teams).slack == "<@U0LOWER>"
    assert resolve_mention("PAYMENTS", directory=None, teams=teams).slack == "<@U0UPPER>"


def test_a_team_listed_with_several_values_is_mentioned_by_its_first_string() -> None:
    mention = resolve_mention("core", directory=None, teams={"core": [7, "<@U0FIRST>", "<@U0SECOND>"]})
    assert mention == Mention("<@U0FIRST>", "owners_file", "OWNERS_FILE[core] = <@U0FIRST>")
    assert resolve_mention("core", directory=None, teams={"core": [7, 8]}) == Mention(
        None, "none", "'core' is not an email or Slack mention and is not in OWNERS_FILE"
    )
