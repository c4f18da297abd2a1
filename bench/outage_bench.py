"""How long a caller waits when Redis is down or wedged: the producer (Airflow's callback) and the CLI.

    .venv/bin/python bench/outage_bench.py [--repeat 3] [--json]

Three cases on loopback, each ``--repeat`` times:

- producer, broker stopped: ``send_trigger`` to a free port with nothing listening (refused);
- producer, broker wedged: a real redis-server stopped with SIGSTOP (accepts TCP, answers nothing);
- CLI, broker wedged: ``incident-commander failures`` against a listener that never answers, as a user
  runs it (a subprocess; redis-py's socket time-out is 5 s).

Printed: seconds per call (min, median, max) and what the caller got (spooled, or the exit code and
its one line), beside INCIDENT_PUBLISH_TIMEOUT_S. The tests (``tests/integration/test_producer_outage.py``,
``test_cli_unreachable.py``) check that each returns and what it says; the figures are this script's.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from commander.producer import send_trigger  # noqa: E402
from incident_cli.sample import DEFAULT_SAMPLE, sample_trigger  # noqa: E402
from incident_cli.stack import RedisServer, free_port  # noqa: E402
from shared.settings import Settings, load_settings  # noqa: E402

CLI = Path(sys.executable).parent / "incident-commander"


def timed(call: Callable[[], str], repeat: int) -> dict[str, object]:
    seconds, outcomes = [], set()
    for _ in range(repeat):
        t0 = time.perf_counter()
        outcomes.add(call())
        seconds.append(time.perf_counter() - t0)
    return {
        "n": repeat,
        "min_s": round(min(seconds), 3),
        "median_s": round(statistics.median(seconds), 3),
        "max_s": round(max(seconds), 3),
        "outcome": " | ".join(sorted(outcomes)),
    }


def producer(settings: Settings) -> Callable[[], str]:
    counter = iter(range(1_000_000))

    def call() -> str:
        delivery = send_trigger(
            sample_trigger(DEFAULT_SAMPLE, run_suffix=f"__outage{next(counter)}"), settings=settings
        )
        return f"{delivery.status}: {delivery.reason}"

    return call


def cli_failures(url: str) -> Callable[[], str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "SLACK_", "INCIDENT_", "FLOWER_"))}

    def call() -> str:
        done = subprocess.run(
            [str(CLI), "failures"],
            capture_output=True,
            text=True,
            timeout=60,
            env={**clean, "CELERY_RESULT_BACKEND": url, "COLUMNS": "200"},
        )
        lines = (done.stderr or done.stdout).strip().splitlines()
        return f"exit {done.returncode}: {lines[-1] if lines else ''}"

    return call


def run_cases(spool: Path, repeat: int) -> tuple[dict[str, dict[str, object]], float]:
    results: dict[str, dict[str, object]] = {}

    dead = f"redis://127.0.0.1:{free_port()}"
    stopped = load_settings(CELERY_BROKER_URL=f"{dead}/0", CELERY_RESULT_BACKEND=f"{dead}/1", INCIDENT_SPOOL_DIR=spool)
    results["producer, broker stopped"] = timed(producer(stopped), repeat)

    server = RedisServer().start()
    try:
        wedged = load_settings(
            CELERY_BROKER_URL=f"{server.url}/0", CELERY_RESULT_BACKEND=f"{server.url}/1", INCIDENT_SPOOL_DIR=spool
        )
        server.pause()
        results["producer, broker wedged"] = timed(producer(wedged), repeat)
    finally:
        server.stop()

    with socket.create_server(("127.0.0.1", 0), backlog=64) as listener:
        url = f"redis://127.0.0.1:{listener.getsockname()[1]}/1"
        results["CLI failures, broker wedged"] = timed(cli_failures(url), repeat)

    return results, stopped.publish_timeout_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    logging.getLogger("commander.producer").setLevel(logging.ERROR)  # its "spooled" warning, once per call
    spool = Path(tempfile.mkdtemp(prefix="outage-bench-spool-"))
    try:
        results, publish_timeout_s = run_cases(spool, args.repeat)
    finally:
        shutil.rmtree(spool, ignore_errors=True)
    if args.json:
        print(json.dumps({"publish_timeout_s": publish_timeout_s, "cases": results}, indent=2))
        return
    print(f"INCIDENT_PUBLISH_TIMEOUT_S = {publish_timeout_s:g} s\n")
    print(f"{'':30}{'n':>3}{'min s':>8}{'median s':>10}{'max s':>8}  outcome")
    for name, row in results.items():
        print(f"{name:30}{row['n']:>3}{row['min_s']:>8}{row['median_s']:>10}{row['max_s']:>8}  {row['outcome']}")


if __name__ == "__main__":
    main()
