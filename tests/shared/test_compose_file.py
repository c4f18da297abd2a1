"""docker-compose.yml mounts the user's pipeline and nothing of the bundled sample, runs a worker per
queue, and keeps its state where the workers can write it.

The sample used to be every worker's default dbt project and log folder
(``${DBT_PROJECT_HOST_DIR:-./samples/...}``), so a deployment that forgot a variable reported every
incident as the sample's. The history used to be written to ``/app/.incident-commander``, which the
image's ``commander`` user cannot write (every incident's history write failed, for good), and Redis
ran without persistence. ``make compose-check`` runs ``docker-compose config`` on the same rules.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from shared.celery_app import queues, worker_module
from shared.incident_db.engine import sqlite_path

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
ENV_EXAMPLE = REPO_ROOT / "incident-commander.env.example"
DOCKERFILE = REPO_ROOT / "Dockerfile"
# ${VAR:?message}: docker-compose refuses to start without VAR and prints the message
REQUIRED = re.compile(r"\$\{(?P<var>[A-Z_][A-Z0-9_]*):\?(?P<message>[^}]+)\}")
# any interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?message}, ${VAR?message}
INTERPOLATION = re.compile(r"\$\{(?P<var>[A-Z_][A-Z0-9_]*)(?P<op>:?[-?])?(?P<rest>[^}]*)\}")


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return loaded


def _volumes() -> list[tuple[str, str]]:
    """(service, volume as written) for every service's volumes."""
    services: dict[str, Any] = _compose()["services"]
    return [(name, volume) for name, service in services.items() for volume in service.get("volumes") or []]


def _named_volumes(service: str) -> dict[str, str]:
    """The named volumes (declared at the top level) ``service`` mounts: target folder -> volume."""
    compose = _compose()
    declared = set(compose.get("volumes") or {})
    mounted = {}
    for volume in compose["services"][service].get("volumes") or []:
        source, target = volume.split(":")[:2]
        if source in declared:
            mounted[target] = source
    return mounted


def _env_example() -> dict[str, str]:
    return dict(
        line.split("=", 1) for line in ENV_EXAMPLE.read_text().splitlines() if line and not line.startswith("#")
    )


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
        if volume.split(":")[0] not in (_compose().get("volumes") or {}):  # a host folder: the pipeline
            assert volume.endswith(":ro"), f"the pipeline is mounted read-only: {volume}"


def test_the_example_env_file_points_at_the_mounts_not_at_the_sample() -> None:
    values = _env_example()
    assert values["DBT_PROJECT_DIR"] == "/dbt"
    assert values["AIRFLOW_LOG_FOLDER"] == "/airflow-logs"
    assert "samples" not in ENV_EXAMPLE.read_text()
    # an empty `NAME=` is a value, not "unset": a source left empty would be read as configured
    assert not [name for name, value in values.items() if not value and name != "FLOWER_BASIC_AUTH"]


def test_every_queue_has_a_worker_service_consuming_it() -> None:
    services: dict[str, Any] = _compose()["services"]
    consumed: dict[str, str] = {}
    for service in services.values():
        command = service.get("command") or []
        if "worker" in command and "-Q" in command:
            for queue in command[command.index("-Q") + 1].split(","):
                consumed[queue] = command[command.index("-A") + 1]
    for queue in queues():
        assert consumed.get(queue) == worker_module(queue), f"no service runs {worker_module(queue)} on {queue}"
    # the history's worker is a service of its own: its slots are not the commander's
    assert consumed["history"] == consumed["commander"] == "commander.worker"
    assert "history" not in services["commander"]["command"][services["commander"]["command"].index("-Q") + 1]


def test_the_history_and_the_spool_are_on_named_volumes_the_workers_user_can_write() -> None:
    values = _env_example()
    history = sqlite_path(values["INCIDENT_DB_URL"])
    assert history is not None and history.is_absolute(), "the example's history is a SQLite file at an absolute path"
    history_dir, spool_dir = str(PurePosixPath(history).parent), values["INCIDENT_SPOOL_DIR"]
    # the workers that read or write the history mount a named volume there; the commander the spool too
    for service in ("commander", "history"):
        assert history_dir in _named_volumes(service), f"{service} does not mount a volume at {history_dir}"
    assert _named_volumes("commander")[history_dir] == _named_volumes("history")[history_dir]
    assert spool_dir in _named_volumes("commander")
    # the image makes those folders the workers' user's (a new named volume takes their ownership),
    # before it switches to that user, and defaults to them when an env file does not say
    dockerfile = DOCKERFILE.read_text()
    user_at = dockerfile.index("USER commander")
    for folder in (history_dir, spool_dir):
        made = re.search(rf"mkdir -p[^\n]*{re.escape(folder)}", dockerfile)
        owned = re.search(rf"chown commander:commander[^\n]*{re.escape(folder)}", dockerfile)
        assert made and owned and made.start() < user_at and owned.start() < user_at, folder
    assert f"INCIDENT_DB_URL={values['INCIDENT_DB_URL']}" in dockerfile
    assert f"INCIDENT_SPOOL_DIR={spool_dir}" in dockerfile


def test_redis_keeps_its_data_in_an_append_only_file_on_a_volume() -> None:
    redis = _compose()["services"]["redis"]
    command = [str(part) for part in redis["command"]]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert _named_volumes("redis").get("/data"), "Redis's data folder is a named volume"
