"""``incident-commander``: trigger, watch and run the triage by hand.

Every command reads the same settings (environment variables, see ``incident-commander config``).
An error a user can act on (Redis unreachable, a bad setting) ends any command with one line on
stderr naming the variable, and an exit code (``EXIT_*``), never a traceback: ``explain`` decides,
in one place, for every command (``incident_cli.app``).

This module is the entry point: it imports the modules that register the commands on ``app``;
they import only ``incident_cli.app`` (and each other's helpers), never this module.
"""

from __future__ import annotations

import sys

import typer

# Each registers its commands on ``app``; ``--help`` lists them in this order.
from incident_cli import history_commands, incident_commands, specialist_commands, stack_commands  # noqa: F401
from incident_cli.app import app, explain


def main() -> None:
    """The ``incident-commander`` entry point ([project.scripts]): the app, and ``explain`` for
    anything raised outside a command (the commands themselves are covered by ``incident_cli.app``)."""
    try:
        app(prog_name="incident-commander")
    except Exception as exc:
        explained = explain(exc)
        if explained is None:
            raise
        typer.echo(explained[1], err=True)
        sys.exit(explained[0])


__all__ = ["app", "main"]


if __name__ == "__main__":  # pragma: no cover
    main()
