"""Throughput of analyze_log on a generated 1 GB Airflow 3 log, beside `grep -c ERROR` on the same file.

    .venv/bin/python bench/log_analyzer_bench.py [--size-mb 1024] [--keep DIR]

Prints MB/s for both, the ratio, and the analyzer's peak RSS (measured in a fresh process, its
worker threads included; children too, should it ever spawn any), and which big-file path ran.
The page cache is warmed once (cat); then grep and the analyzer each run twice, alternately, and
the faster run of each is kept, so both see the same cache and the same machine load.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INFO = [
    json.dumps(
        {
            "timestamp": f"2026-11-23T10:{i % 60:02d}:00.{i:06d}Z",
            "level": "info",
            "event": f"Processed batch {i} rows={i * 37 % 99991} into analytics.fct_orders_{i % 7} "
            f"in {i % 13}.{i % 997:03d}s",
            "logger": "airflow.task.operators",
            "dag_id": "hourly_marts",
            "task_id": "dbt_build",
        }
    )
    for i in range(997)
]
WARN = json.dumps(
    {
        "timestamp": "2026-11-23T10:30:00Z",
        "level": "warning",
        "event": "Connection retry 1/3 to warehouse (transient)",
        "logger": "task",
    }
)
FAILURE = [
    json.dumps({"timestamp": "2026-11-23T11:00:00Z", "level": "info", "event": s, "logger": "task.stdout"})
    for s in (
        "\u001b[31mFailure in model fct_orders (models/marts/fct_orders.sql)\u001b[0m",
        "  Database Error in model fct_orders (models/marts/fct_orders.sql)",
        "  000904 (42000): SQL compilation error: error line 3 at position 4",
        "  invalid identifier 'ORDER_TOTAL'",
    )
] + [
    json.dumps(
        {
            "timestamp": "2026-11-23T11:00:01Z",
            "level": "error",
            "event": "Task failed with exception",
            "error_detail": [
                {
                    "exc_type": "AirflowException",
                    "exc_value": "Bash command failed. The command returned a non-zero exit code 1.",
                }
            ],
        }
    )
]

PROBE = """
import resource, sys, time
from log_analyzer import analyze_log, bigscan
t = time.perf_counter()
r = analyze_log(sys.argv[1])
dt = time.perf_counter() - t
path = (("hyperscan+numpy" if bigscan.numpy is not None else "hyperscan") + f",{bigscan.default_workers()}-threads"
        if bigscan.accelerated() else "pure-Python")
rss = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
print(dt, rss // 1024, path, r.error_class, r.root_cause)
"""


def generate(path: Path, size_mb: int) -> None:
    block = ("\n".join(INFO) + "\n" + WARN + "\n").encode()
    target = size_mb * 1024 * 1024
    with path.open("wb") as out:
        written = 0
        while written < target:
            out.write(block)
            written += len(block)
        out.write(("\n".join(FAILURE) + "\n").encode())
        out.write(("\n".join(INFO[:20]) + "\n").encode())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--keep", type=Path, default=None, help="directory to keep the generated log in")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = (args.keep or Path(tmp)) / "attempt=1.log"
        print(f"generating {args.size_mb} MB at {path} ...", flush=True)
        generate(path, args.size_mb)
        size_mb = path.stat().st_size / 2**20
        subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)  # warm the page cache
        grep_s, ours_s, rss_mb = float("inf"), float("inf"), 0
        for _ in range(2):
            t = time.perf_counter()
            grep = subprocess.run(["grep", "-c", "ERROR", str(path)], capture_output=True, text=True)
            grep_s = min(grep_s, time.perf_counter() - t)
            count = grep.stdout.strip()
            probe = subprocess.run(
                [sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True, cwd=ROOT, check=True
            )
            out = probe.stdout.split(" ", 4)
            ours_s, rss_mb = min(ours_s, float(out[0])), max(rss_mb, int(out[1]))
        print(f"file: {size_mb:.0f} MB")
        print(f"grep -c ERROR: {size_mb / grep_s:8.0f} MB/s ({grep_s:.2f} s, count={count})")
        print(f"analyze_log:   {size_mb / ours_s:8.0f} MB/s ({ours_s:.2f} s) -> {out[3]}: {out[4].strip()}")
        print(f"big-file path: {out[2]}")
        print(f"ratio analyze_log/grep: {grep_s / ours_s:.2f}")
        print(f"analyze_log peak RSS: {rss_mb} MB")


if __name__ == "__main__":
    main()
