"""The specialists' own commands, for running each analysis by hand: ``analyze-log``,
``profile-queries`` and ``owner`` (each defined by its service's ``cli`` module)."""

from __future__ import annotations

from incident_cli.app import app
from log_analyzer.cli import analyze_log_command
from owner_notifier.cli import owner_command
from query_profiler.cli import profile_queries_command

app.command("analyze-log")(analyze_log_command)
app.command("profile-queries")(profile_queries_command)
app.command("owner")(owner_command)
