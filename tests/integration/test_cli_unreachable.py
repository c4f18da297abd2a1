"""Every command answers a service that is not there with one line naming the variable, never a traceback.

The installed ``incident-commander`` script (``incident_cli.main:main``) runs as a user runs it,
against a real unreachable address: a free loopback port with nothing listening.
"""

from __future__ import annotations

import os
import socket
import socketserver
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from commander import spool
from incident_cli.app import EXIT_CONFIG, EXIT_UNREACHABLE, explain
from incident_cli.stack import RedisServer, free_port
from shared.settings import MASK
from tests.conftest import SAMPLE

pytestmark = pytest.mark.integration

CLI = Path(sys.executable).parent / "incident-commander"
PASSWORD = "s3cret-do-not-print"


def run(*args: str, env: dict[str, str], timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    """The installed script, with only the variables given (none inherited from the shell running pytest)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "SLACK_", "INCIDENT_", "FLOWER_"))}
    return subprocess.run(
        [str(CLI), *args], capture_output=True, text=True, timeout=timeout_s, env={**clean, **env, "COLUMNS": "80"}
    )


def assert_one_line(done: subprocess.CompletedProcess[str], code: int, *names: str) -> str:
    """stderr is a single ``error: ...`` line naming each of ``names``, password masked; exit ``code``."""
    lines = done.stderr.splitlines()
    assert done.returncode == code, done.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert PASSWORD not in done.stderr + done.stdout
    for name in names:
        assert name in lines[0]
    return lines[0]


@pytest.fixture
def dead_redis(tmp_path: Path) -> dict[str, str]:
    """Broker and result backend on a loopback port nobody listens on, with a password to be masked."""
    port = free_port()
    return {
        "CELERY_BROKER_URL": f"redis://:{PASSWORD}@127.0.0.1:{port}/0",
        "CELERY_RESULT_BACKEND": f"redis://:{PASSWORD}@127.0.0.1:{port}/1",
        "INCIDENT_SPOOL_DIR": str(tmp_path / "spool"),
    }


@pytest.fixture
def live_redis() -> Iterator[RedisServer]:
    """A Redis of this test's own: a trigger left in its queue reaches no other test's workers."""
    server = RedisServer().start()
    yield server
    server.stop()


def test_the_installed_script_is_the_main_entry_point() -> None:
    assert CLI.is_file(), "run: .venv/bin/pip install -e . --no-deps"
    assert "from incident_cli.main import main" in CLI.read_text()


@pytest.mark.parametrize(
    "args",
    [
        ("watch", "INC-20261130-0001", "--timeout", "2"),
        ("watch", "INC-20261130-0001", "--timeout", "2", "--json"),
        ("failures",),
        ("failures", "--json"),
    ],
)
def test_state_commands_name_the_result_backend(args: tuple[str, ...], dead_redis: dict[str, str]) -> None:
    done = run(*args, env=dead_redis)
    line = assert_one_line(done, EXIT_UNREACHABLE, "CELERY_RESULT_BACKEND=", f":{MASK}@127.0.0.1:")
    assert "Connection refused" in line


def test_a_result_backend_derived_from_the_broker_says_so(dead_redis: dict[str, str]) -> None:
    del dead_redis["CELERY_RESULT_BACKEND"]
    done = run("failures", env=dead_redis)
    assert_one_line(done, EXIT_UNREACHABLE, "CELERY_RESULT_BACKEND=", "derived from CELERY_BROKER_URL")


def test_trigger_with_the_broker_down_still_spools_and_says_so(dead_redis: dict[str, str]) -> None:
    done = run("trigger", "--dag", "d", "--task", "t", env=dead_redis)
    assert done.returncode == 1
    assert "spooled" in done.stdout
    assert "Traceback" not in done.stderr + done.stdout
    assert len(spool.pending(Path(dead_redis["INCIDENT_SPOOL_DIR"]))) == 1


def test_trigger_with_the_broker_up_and_the_result_backend_down_names_the_backend(
    live_redis: RedisServer, dead_redis: dict[str, str]
) -> None:
    env = {**dead_redis, "CELERY_BROKER_URL": f"{live_redis.url}/0"}
    done = run("trigger", "--dag", "d", "--task", "t", env=env)
    assert_one_line(done, EXIT_UNREACHABLE, "CELERY_RESULT_BACKEND=", f":{MASK}@127.0.0.1:")


def test_flush_spool_with_the_broker_down_names_the_broker_and_keeps_the_trigger(dead_redis: dict[str, str]) -> None:
    spool_dir = Path(dead_redis["INCIDENT_SPOOL_DIR"])
    spool.write({"dag_id": "d", "task_id": "t"}, spool_dir)
    done = run("flush-spool", env=dead_redis)
    line = assert_one_line(done, EXIT_UNREACHABLE, "CELERY_BROKER_URL=", f":{MASK}@127.0.0.1:")
    assert "1 still spooled" in line
    assert len(spool.pending(spool_dir)) == 1


@pytest.mark.parametrize("command", ["up", "demo"])
def test_up_and_demo_with_a_configured_redis_down_stop_at_once(command: str, dead_redis: dict[str, str]) -> None:
    done = run(command, env=dead_redis, timeout_s=30)  # not the workers' 60 s readiness wait
    assert_one_line(done, EXIT_UNREACHABLE, "CELERY_BROKER_URL=", f":{MASK}@127.0.0.1:")


def test_commands_that_need_no_redis_still_work_without_it(dead_redis: dict[str, str]) -> None:
    shown = run("config", env=dead_redis)
    assert shown.returncode == 0 and PASSWORD not in shown.stdout
    dbt = SAMPLE / "dbt_project"
    analysed = run("analyze-log", str(dbt / "logs" / "dbt.log"), "--json", env=dead_redis)
    assert analysed.returncode == 0, analysed.stderr


def test_an_unreachable_warehouse_is_one_line_without_its_password() -> None:
    url = f"postgresql://etl:{PASSWORD}@127.0.0.1:{free_port()}/warehouse"
    done = run("profile-queries", "--since", "1h", env={"WAREHOUSE_URL": url})
    assert done.returncode != 0
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr and PASSWORD not in done.stderr


def test_a_bad_setting_is_one_line_with_exit_2() -> None:
    done = run("watch", "INC-1", env={"CELERY_BROKER_URL": "amqp://guest:guest@rabbit//"})
    assert_one_line(done, EXIT_CONFIG, "CELERY_BROKER_URL")


class _NotRedis(socketserver.BaseRequestHandler):
    """Answers whatever it is sent the way an HTTP server does, and keeps the connection open."""

    def handle(self) -> None:
        self.request.recv(4096)
        self.request.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        self.request.recv(4096)  # until the client gives up


def test_a_server_that_is_not_redis_is_a_configuration_mistake() -> None:
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), _NotRedis) as server:
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            url = f"redis://:{PASSWORD}@127.0.0.1:{server.server_address[1]}/1"
            done = run("failures", env={"CELERY_RESULT_BACKEND": url})
        finally:
            server.shutdown()
    assert_one_line(done, EXIT_CONFIG, "CELERY_RESULT_BACKEND=", "does not speak Redis")


def test_a_wrong_redis_password_is_a_configuration_mistake(tmp_path: Path) -> None:
    server = RedisServer(password="the-right-one").start()
    try:
        done = run("failures", env={"CELERY_BROKER_URL": f"redis://:{PASSWORD}@127.0.0.1:{server.port}/0"})
    finally:
        server.stop()
    assert_one_line(done, EXIT_CONFIG, "refused the credentials", "derived from CELERY_BROKER_URL", f":{MASK}@")


def test_a_redis_that_accepts_and_never_answers_is_one_line_after_the_socket_timeout() -> None:
    """A wedged Redis: the kernel completes the handshake, nothing ever replies (redis-py times out at 5 s).

    The command gives up by itself while the server is still wedged, and says it timed out; how long
    that takes is printed by ``bench/outage_bench.py``. ``timeout_s`` only turns a hang into a failure.
    """
    # Given a listener that accepts connections and never answers
    with socket.create_server(("127.0.0.1", 0), backlog=8) as listener:
        url = f"redis://:{PASSWORD}@127.0.0.1:{listener.getsockname()[1]}/1"
        # When a command needs it
        done = run("failures", env={"CELERY_RESULT_BACKEND": url}, timeout_s=30)
    # Then it exits as unreachable, on one line that names the variable and the time-out
    line = assert_one_line(done, EXIT_UNREACHABLE, "CELERY_RESULT_BACKEND=", f":{MASK}@127.0.0.1:")
    assert "Timeout" in line


def test_errors_that_are_bugs_keep_their_traceback() -> None:
    assert explain(RuntimeError("a bug")) is None
    assert explain(KeyError("x")) is None
