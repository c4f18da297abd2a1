"""``incident-commander analyze-log PATH [--run-results FILE] [--json]``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from log_analyzer.analyzer import analyze_log
from log_analyzer.incident import to_finding
from shared.contracts import dump


def analyze_log_command(
    path: Annotated[Path, typer.Argument(help="A log file: Airflow task log, dbt console output, dbt.log.")],
    run_results: Annotated[Path | None, typer.Option("--run-results", help="dbt run_results.json")] = None,
    json_: Annotated[bool, typer.Option("--json", help="Print the finding as JSON.")] = False,
) -> None:
    """Print the root failure found in a log (and run_results.json)."""
    if not path.is_file():
        typer.echo(f"log file not found: {path}", err=True)
        raise typer.Exit(2)
    finding = to_finding(analyze_log(path, run_results=run_results))
    details = finding.details
    if json_:
        # The finding's fields at the top level, as scripts want them; evidence with line numbers.
        out = {
            "status": finding.status.value,
            **details.model_dump(mode="json", exclude={"not_used"}),
            "evidence": [dump(ev) for ev in finding.evidence],
        }
        typer.echo(json.dumps(out, indent=2))
        return
    console = Console()
    console.print(f"[bold]ROOT CAUSE[/bold] {escape(finding.summary)}", highlight=False)
    for label, value in (
        ("error_class", details.error_class),
        ("failed_node", details.failed_node),
        ("step", details.step),
        ("runbook", details.runbook),
    ):
        if value:
            console.print(f"  [dim]{label}:[/dim] {escape(value)}", highlight=False)
    if details.skipped:
        console.print(f"  [dim]skipped:[/dim] {escape(', '.join(details.skipped))}", highlight=False)
    for ev in finding.evidence:
        console.print(f"  [dim]{escape(ev.source)}:{ev.line}[/dim] {escape(ev.text)}", highlight=False)
