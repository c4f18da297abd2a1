"""Trigger → final Slack post latency, against the floor of a bare chord, in one run.

Starts a real Redis, the workers and the Slack-compatible server on loopback; sends
``--incidents`` triggers of the bundled incident one after another (each a new failure) and
times each from ``send_trigger`` to the report event, which the commander publishes right
after ``chat.update`` returned. Then does the same for a bare chord of three no-op tasks on
the same Redis, and times the producer's publish alone.

    .venv/bin/python bench/e2e_latency.py [--incidents 100] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import redis

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from commander.producer import publish, send_trigger  # noqa: E402
from incident_cli.sample import DEFAULT_SAMPLE, sample_env, sample_trigger  # noqa: E402
from incident_cli.stack import Stack  # noqa: E402
from shared.contracts import dump  # noqa: E402
from shared.incident_store import IncidentStore  # noqa: E402
from shared.settings import load_settings  # noqa: E402


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50_ms": round(pct(values, 50), 1),
        "p95_ms": round(pct(values, 95), 1),
        "p99_ms": round(pct(values, 99), 1),
        "max_ms": round(max(values), 1),
        "mean_ms": round(statistics.fmean(values), 1),
    }


def start_slack() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.slack_server", "--port", "0"], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def triage_latencies(stack: Stack, settings: object, n: int) -> list[float]:
    store = IncidentStore.from_url(stack.worker_env["CELERY_RESULT_BACKEND"])
    out = []
    for i in range(n + 5):  # the first 5 warm the workers up and are not counted
        trigger = sample_trigger(DEFAULT_SAMPLE, run_suffix=f"__bench{i}")
        t0 = time.perf_counter()
        send_trigger(trigger, settings=settings)  # type: ignore[arg-type]
        incident_id = store.wait_for_incident_id(trigger.dedup_key, timeout_s=30, poll_s=0.0005)
        after, done = "0", False
        while not done:
            for entry_id, kind, _ in store.events(incident_id, after=after, block_ms=30_000):
                after = entry_id
                done = done or kind == "delivered"  # the report is in Slack (the console sink here)
        if i >= 5:
            out.append((time.perf_counter() - t0) * 1000)
    return out


def floor_latencies(stack: Stack, n: int) -> list[float]:
    env = stack.worker_env
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "bench.noop_chord",
                "worker",
                "-Q",
                q,
                "-n",
                f"{q}-{uuid.uuid4().hex[:4]}@%h",
                "-c",
                "1",
                "-E",
                "--without-mingle",
                "--without-gossip",
                "-l",
                "WARNING",
            ],
            cwd=REPO,
            env=env,
        )
        for q in ("bench_commander", "bench_a", "bench_b", "bench_c")
    ]
    try:
        import os

        from shared.settings import get_settings

        os.environ["CELERY_BROKER_URL"] = env["CELERY_BROKER_URL"]
        os.environ["CELERY_RESULT_BACKEND"] = env["CELERY_RESULT_BACKEND"]
        get_settings.cache_clear()
        from bench.noop_chord import DONE_KEY, app

        client = redis.Redis.from_url(env["CELERY_RESULT_BACKEND"])
        deadline = time.monotonic() + 60
        while len(app.control.ping(timeout=0.5) or []) < 4 + len(stack.workers):
            if time.monotonic() > deadline:
                raise RuntimeError("no-op workers did not start")
        out = []
        for i in range(n + 5):
            token = uuid.uuid4().hex
            t0 = time.perf_counter()
            app.send_task("bench.commander", args=(token,), queue="bench_commander")
            client.blpop([f"{DONE_KEY}:{token}"], timeout=30)
            if i >= 5:
                out.append((time.perf_counter() - t0) * 1000)
        return out
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            w.wait(15)


def publish_latencies(stack: Stack, settings: object, n: int = 1000) -> list[float]:
    """The producer's publish alone, once imported and connected, to a queue nobody consumes."""
    base = stack.worker_env["CELERY_BROKER_URL"].rsplit("/", 1)[0]
    quiet = load_settings(CELERY_BROKER_URL=f"{base}/5", CELERY_RESULT_BACKEND=f"{base}/6")
    payload = dump(sample_trigger(DEFAULT_SAMPLE))
    publish(payload, settings=quiet)  # connect
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        publish(payload, settings=quiet)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--incidents", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    slack, slack_url = start_slack()
    env = {**sample_env(DEFAULT_SAMPLE), "SLACK_BOT_TOKEN": "xoxb-test-token", "SLACK_API_URL": slack_url}
    try:
        with Stack(env=env) as stack:
            wenv = stack.worker_env
            settings = load_settings(
                **env, CELERY_BROKER_URL=wenv["CELERY_BROKER_URL"], CELERY_RESULT_BACKEND=wenv["CELERY_RESULT_BACKEND"]
            )
            triage = summary(triage_latencies(stack, settings, args.incidents))
            floor = summary(floor_latencies(stack, args.incidents))
            producer = summary(publish_latencies(stack, settings))
    finally:
        slack.terminate()
    result = {
        "triage": triage,
        "bare_chord_floor": floor,
        "producer_publish": producer,
        "p50_ratio_to_floor": round(triage["p50_ms"] / floor["p50_ms"], 2),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{'':28}{'n':>5}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for name, row in (
        ("trigger → final post", triage),
        ("bare chord of 3 no-ops", floor),
        ("producer publish (warm)", producer),
    ):
        print(f"{name:28}{row['n']:>5}{row['p50_ms']:>9}{row['p95_ms']:>9}{row['p99_ms']:>9}{row['max_ms']:>9}")
    print(f"p50 ratio triage / floor: {result['p50_ratio_to_floor']}x  (target ≤ 3x; p95 target < 250 ms)")


if __name__ == "__main__":
    main()
