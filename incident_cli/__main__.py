"""``python -m incident_cli`` is ``incident-commander``."""

from incident_cli.main import app

app(prog_name="incident-commander")
