"""``python -m incident_cli`` is ``incident-commander``."""

from incident_cli.main import main

main()
