"""``incident-commander owner MODEL_OR_UNIQUE_ID``: who owns a dbt model, and where it says so.

Registered by the CLI package with ``app.command("owner")(owner_command)``. It uses the same
resolver as the task, without Slack: ``slack`` is a mention only when the owner is declared as
one (``<@U…>``, ``<!subteam^S…>``, directly or through OWNERS_FILE); emails stay unresolved.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from owner_notifier.mentions import resolve_mention
from owner_notifier.owners import open_project, resolve_owner
from owner_notifier.targets import owner_nodes
from shared.settings import get_settings


def owner_command(
    model_or_unique_id: Annotated[str, typer.Argument(help="A model name or unique id (model.pkg.name).")],
    project_dir: Annotated[
        Path | None, typer.Option("--project-dir", help="The dbt project (default: DBT_PROJECT_DIR).")
    ] = None,
    manifest: Annotated[
        Path | None,
        typer.Option("--manifest", help="A manifest.json (default: PROJECT/target/manifest.json)."),
    ] = None,
    json_: Annotated[bool, typer.Option("--json", help="Print JSON: model, owner, source, slack, looked_in.")] = False,
) -> None:
    """Show the declared owner of a dbt model, where it was declared, and its Slack mention."""
    settings = get_settings()
    project_dir = project_dir or (settings.dbt_project_dir if manifest is None else None)
    if project_dir is None and manifest is None:
        typer.echo("give --project-dir or --manifest (or set DBT_PROJECT_DIR)", err=True)
        raise typer.Exit(2)
    project = open_project(project_dir, manifest_path=manifest, owners_file=settings.owners_file)
    rows = [row for node in owner_nodes(project.manifest, model_or_unique_id) for row in owner_rows(project, node)]
    if json_:
        # one stable shape: the first (primary) owner's fields at the top, every owner under "owners"
        typer.echo(json.dumps({**rows[0], "owners": rows}, indent=2))
        return
    for row in rows:
        if row["owner"] is None:
            typer.echo(f"no owner declared for model {row['model']} (looked in: {', '.join(row['looked_in'])})")
        else:
            slack = row["slack"] or f"no Slack mention ({row['note']})"
            typer.echo(f"{row['model']}: {row['owner']}  [{row['source']}]  -> {slack}")
    if all(row["owner"] is None for row in rows):
        raise typer.Exit(1)


def owner_rows(project: Any, model_or_unique_id: str) -> list[dict[str, Any]]:
    """One row per declared owner (a single row with owner None when there is none)."""
    resolution = resolve_owner(project, model_or_unique_id)
    base = {
        "model": resolution.model,
        "unique_id": resolution.unique_id,
        "looked_in": list(resolution.looked_in),
    }
    if not resolution.declared:
        return [{**base, "owner": None, "source": None, "slack": None, "note": None}]
    rows = []
    for declared in resolution.declared:
        mention = resolve_mention(declared.owner, directory=None, teams=project.teams, team_keys=declared.team_keys)
        rows.append(
            {
                **base,
                "owner": declared.owner,
                "source": declared.source,
                "slack": mention.slack,
                "note": mention.note,
                "evidence": declared.evidence,
            }
        )
    return rows
