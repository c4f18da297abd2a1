"""docker-compose.yml mounts the user's pipeline and nothing of the bundled sample.

The sample used to be every worker's default dbt project and log folder
(``${DBT_PROJECT_HOST_DIR:-./samples/...}``), so a deployment that forgot a variable reported every
incident as the sample's. ``make compose-check`` runs ``docker-compose config`` on the same rules.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
ENV_EXAMPLE = REPO_ROOT / "incident-commander.env.example"
# ${VAR:?message}: docker-compose refuses to start without VAR and prints the message
REQUIRED = re.compile(r"\$\{(?P<var>[A-Z_][A-Z0-9_]*):\?(?P<message>[^}]+)\}")
# any interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?message}, ${VAR?message}
INTERPOLATION = re.compile(r"\$\{(?P<var>[A-Z_][A-Z0-9_]*)(?P<op>:?[-?])?(?P<rest>[^}]*)\}")


def _volumes() -> list[tuple[str, str]]:
    """(service, volume as written) for every service's volumes."""
    services: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    return [(name, volume) for name, service in services.items() for volume in service.get("volumes") or []]


def test_no_volume_mounts_or_defaults_to_a_path_under_samples() -> None:
    volumes = _volumes()
    assert volumes, "the workers mount the pipeline's folders"
    for service, volume in volumes:
        assert "samples" not in volume, f"{service} mounts the bundled sample: {volume}"
        for m in INTERPOLATION.finditer(volume):
            assert m["op"] in (":?", "?"), f"{service}: {m[0]} has a default; it must be required (${{VAR:?...}})"


def test_the_pipelines_host_folders_are_required_with_a_message_naming_them() -> None:
    host_sides = {volume.rsplit(":", 2)[0] if volume.endswith((":ro", ":rw")) else volume for _, volume in _volumes()}
    required = {m["var"]: m["message"] for side in host_sides for m in REQUIRED.finditer(side)}
    assert set(required) == {"DBT_PROJECT_HOST_DIR", "AIRFLOW_LOGS_HOST_DIR"}
    for var, message in required.items():
        assert f"set {var}" in message
    for _, volume in _volumes():
        assert volume.endswith(":ro"), f"the pipeline is mounted read-only: {volume}"


def test_the_example_env_file_points_at_the_mounts_not_at_the_sample() -> None:
    values = dict(
        line.split("=", 1) for line in ENV_EXAMPLE.read_text().splitlines() if line and not line.startswith("#")
    )
    assert values["DBT_PROJECT_DIR"] == "/dbt"
    assert values["AIRFLOW_LOG_FOLDER"] == "/airflow-logs"
    assert "samples" not in ENV_EXAMPLE.read_text()
    # an empty `NAME=` is a value, not "unset": a source left empty would be read as configured
    assert not [name for name, value in values.items() if not value and name != "FLOWER_BASIC_AUTH"]
