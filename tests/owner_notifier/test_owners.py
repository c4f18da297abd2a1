"""Owner resolution on the real dbt fixture project (manifest from dbt-core 1.11 + dbt-duckdb)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from owner_notifier.mentions import resolve_mention
from owner_notifier.owners import open_project, resolve_owner
from tests.owner_notifier.conftest import OWNERS_FILE, PROJECT

# model -> [(declared owner, source, Slack mention without a directory)]
MANIFEST_TABLE = {
    "stg_orders": [("maria@example.com", "manifest:config.meta.owner", None)],  # top-level meta, merged by dbt
    "stg_customers": [("<@U0CARLOS>", "manifest:config.meta.owner", "<@U0CARLOS>")],
    "fct_orders": [("maria@example.com", "manifest:config.meta.owner", None)],  # {{ config(meta=...) }}
    "dim_customers": [
        ("ann@example.com", "manifest:config.meta.owner", None),
        ("@bob", "manifest:config.meta.owner", None),
    ],
    "fct_revenue": [("lee@example.com", "manifest:config.meta.owners", None)],
    "fin_ledger": [("finance-team", "manifest:config.meta.owner", "<!subteam^S0FINANCE>")],
    "pay_settlements": [("payments-lead@example.com", "manifest:group", None)],
    "mkt_attribution": [("Marketing Analytics", "manifest:group", "<@U0MKTLEAD>")],
    "source.dbt_owners.raw.raw_orders": [("ingest@example.com", "manifest:config.meta.owner", None)],
    "raw.raw_customers": [("<@U0CRM>", "manifest:config.meta.owner", "<@U0CRM>")],
}


def _rows(project_dir: Path | None, model: str, **kwargs: object) -> list[tuple[str, str, str | None]]:
    project = open_project(project_dir, owners_file=OWNERS_FILE, **kwargs)  # type: ignore[arg-type]
    resolution = resolve_owner(project, model)
    return [
        (
            d.owner,
            d.source,
            resolve_mention(d.owner, directory=None, teams=project.teams, team_keys=d.team_keys).slack,
        )
        for d in resolution.declared
    ]


@pytest.mark.parametrize(("model", "expected"), MANIFEST_TABLE.items())
def test_every_declaration_form_in_the_manifest(model: str, expected: list[tuple[str, str, str | None]]) -> None:
    assert _rows(PROJECT, model) == expected


@pytest.mark.parametrize("model", ["orphan_model", "rpt_daily_revenue"])
def test_no_owner_names_every_place_looked_in(model: str) -> None:
    resolution = resolve_owner(open_project(PROJECT, owners_file=OWNERS_FILE), model)
    assert resolution.declared == ()
    sentence = resolution.no_owner_sentence
    assert sentence.startswith(f"no owner declared for model {model} (looked in: ")
    assert f"target/manifest.json:nodes.model.dbt_owners.{model}" in sentence
    assert "models/**/*.yml|yaml" in sentence


def test_resolves_by_unique_id_and_reports_evidence_path() -> None:
    resolution = resolve_owner(open_project(PROJECT), "model.dbt_owners.fct_orders")
    assert resolution.unique_id == "model.dbt_owners.fct_orders"
    assert resolution.declared[0].evidence == "target/manifest.json:nodes.model.dbt_owners.fct_orders.config.meta.owner"


def test_meta_owner_of_an_older_manifest_without_config_meta(tmp_path: Path) -> None:
    # Given a manifest whose node carries the owner in `meta` only (as older dbt versions wrote it)
    doc = json.loads((PROJECT / "target" / "manifest.json").read_text())
    doc["nodes"]["model.dbt_owners.stg_orders"]["config"]["meta"] = {}
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps(doc))
    # Then meta.owner answers, and says so
    assert _rows(None, "stg_orders", manifest_path=manifest) == [("maria@example.com", "manifest:meta.owner", None)]


NO_MANIFEST_TABLE = {
    "stg_orders": [("maria@example.com", "schema_yaml", None)],
    "stg_customers": [("<@U0CARLOS>", "schema_yaml", "<@U0CARLOS>")],
    "fct_orders": [("maria@example.com", "model_sql", None)],
    "dim_customers": [("ann@example.com", "schema_yaml", None), ("@bob", "schema_yaml", None)],
    "fct_revenue": [("lee@example.com", "schema_yaml", None)],
    "fin_ledger": [("finance-team", "dbt_project_yml", "<!subteam^S0FINANCE>")],
    "pay_settlements": [("payments-lead@example.com", "schema_yaml:group", None)],
    "mkt_attribution": [("Marketing Analytics", "schema_yaml:group", "<@U0MKTLEAD>")],
    "orphan_model": [],
}


@pytest.mark.parametrize(("model", "expected"), NO_MANIFEST_TABLE.items())
def test_without_a_manifest_the_project_files_answer(
    no_manifest_project: Path, model: str, expected: list[tuple[str, str, str | None]]
) -> None:
    assert _rows(no_manifest_project, model) == expected


def test_without_a_manifest_the_sql_config_owner_outranks_the_schema_yaml_owner(no_manifest_project: Path) -> None:
    # Given fct_orders declares its owner twice: {{ config(meta={'owner': 'maria@example.com'}) }} in
    # its SQL, and another owner in a schema YAML entry (and no manifest: a parse-time failure)
    (no_manifest_project / "models" / "marts" / "orders.yml").write_text(
        "version: 2\nmodels:\n  - name: fct_orders\n    config:\n      meta:\n        owner: '<@U0YAML>'\n"
    )
    # When its owner is resolved from the project's files
    resolution = resolve_owner(open_project(no_manifest_project, owners_file=OWNERS_FILE), "fct_orders")
    # Then the SQL config() answers, as dbt itself resolves it ("an in-file config() block -->
    # properties defined in a .yml file --> config defined in the project file"), and says so
    assert [(d.owner, d.source, d.evidence) for d in resolution.declared] == [
        ("maria@example.com", "model_sql", "models/marts/fct_orders.sql:config(meta).owner")
    ]
    assert "models/marts/orders.yml" in resolution.looked_in  # the YAML was read, and outranked


# model -> (files written into the manifest-less copy, dbt_project.yml appended to; the owner
# declared in the more specific place, its source and evidence)
DECLARED_TWICE = {
    "schema_yaml_config_meta_over_its_meta": (
        "orphan_model",
        {
            "models/misc/orphan.yml": "version: 2\nmodels:\n  - name: orphan_model\n"
            "    meta: {owner: old@example.com}\n    config:\n      meta: {owner: new@example.com}\n"
        },
        ("new@example.com", "schema_yaml", "models/misc/orphan.yml:models[0].config.meta.owner"),
    ),
    "schema_yaml_over_dbt_project_yml": (
        "fin_ledger",
        {"models/finance/schema.yml": "version: 2\nmodels:\n  - name: fin_ledger\n    meta: {owner: '<@U0LEDGER>'}\n"},
        ("<@U0LEDGER>", "schema_yaml", "models/finance/schema.yml:models[0].meta.owner"),
    ),
    "dbt_project_yml_over_the_groups_owner": (
        "pay_settlements",
        {"dbt_project.yml": "    grouped:\n      +meta:\n        owner: settlements-team\n"},
        ("settlements-team", "dbt_project_yml", "dbt_project.yml:models.dbt_owners.grouped.+meta.owner"),
    ),
}


@pytest.mark.parametrize(("model", "files", "expected"), DECLARED_TWICE.values(), ids=DECLARED_TWICE.keys())
def test_without_a_manifest_an_owner_declared_twice_comes_from_the_more_specific_place(
    no_manifest_project: Path, model: str, files: dict[str, str], expected: tuple[str, str, str]
) -> None:
    # Given the model's owner declared in a second, more specific place
    for relative, text in files.items():
        with (no_manifest_project / relative).open("a" if relative == "dbt_project.yml" else "w") as fh:
            fh.write(text)
    # When it is resolved without a manifest
    resolution = resolve_owner(open_project(no_manifest_project, owners_file=OWNERS_FILE), model)
    # Then the more specific place answers, alone
    assert [(d.owner, d.source, d.evidence) for d in resolution.declared] == [expected]


def test_missing_manifest_is_reported_in_looked_in(no_manifest_project: Path) -> None:
    resolution = resolve_owner(open_project(no_manifest_project), "orphan_model")
    assert "target/manifest.json (not found)" in resolution.looked_in


BOMB = (
    "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    )
    + "models: [{name: orphan_model, meta: {owner: bomb}}]\n"
)


@pytest.mark.parametrize(
    ("filename", "content", "reason"),
    [
        ("broken.yml", "models:\n  - name: orphan_model\n    meta: {owner: [unclosed\n", "invalid YAML"),
        ("bomb.yml", BOMB, "alias expansion exceeds"),
        ("huge.yml", "# orphan_model\n" + "x" * 1_100_000, "over the 1000000-byte limit"),
        (
            "hostile.yaml",
            "models:\n  - name: orphan_model\n    meta: !!python/object/apply:os.system ['true']\n",
            "invalid YAML",
        ),
    ],
)
def test_hostile_yaml_is_reported_and_skipped(
    no_manifest_project: Path, filename: str, content: str, reason: str
) -> None:
    # Given a good schema file and a bad one that names the same model
    (no_manifest_project / "models" / "misc" / filename).write_text(content)
    (no_manifest_project / "models" / "misc" / "good.yml").write_text(
        "version: 2\nmodels:\n  - name: orphan_model\n    config:\n      meta:\n        owner: '<@U0GOOD>'\n"
    )
    # When its owner is resolved
    resolution = resolve_owner(open_project(no_manifest_project), "orphan_model")
    # Then the bad file is named with its reason, and the good file still answers
    assert any(
        entry.startswith(f"models/misc/{filename} (skipped: ") and reason in entry for entry in resolution.looked_in
    ), resolution.looked_in
    assert [d.owner for d in resolution.declared] == ["<@U0GOOD>"]


def test_owners_file_keyed_by_group_when_nothing_else_declares(no_manifest_project: Path, tmp_path: Path) -> None:
    # Given a model in group "payments" whose group definition is gone, and an owners file for the group
    (no_manifest_project / "models" / "grouped" / "schema.yml").write_text(
        "version: 2\nmodels:\n  - name: pay_settlements\n    config:\n      group: payments\n"
    )
    owners = tmp_path / "owners.yml"
    owners.write_text("payments: '<!subteam^S0PAY>'\n")
    project = open_project(no_manifest_project, owners_file=owners)
    resolution = resolve_owner(project, "pay_settlements")
    assert [(d.owner, d.source) for d in resolution.declared] == [("payments", "owners_file")]
    assert resolve_mention("payments", directory=None, teams=project.teams).slack == "<!subteam^S0PAY>"


def test_a_broken_owners_file_is_reported(tmp_path: Path) -> None:
    owners = tmp_path / "owners.yml"
    owners.write_text("finance-team: [oops\n")
    project = open_project(PROJECT, owners_file=owners)
    assert project.teams == {}
    assert any("OWNERS_FILE" in entry and "invalid YAML" in entry for entry in project.looked_in)
