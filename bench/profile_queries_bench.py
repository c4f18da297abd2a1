"""Benchmark: profile a 100,000-row query-history export (JSON) and report wall time and peak RSS.

.venv/bin/python bench/profile_queries_bench.py [--rows 100000] [--model fct_orders]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from query_profiler.profiler import profile_queries  # noqa: E402
from query_profiler.sources.file_export import FileSource  # noqa: E402

MODELS = [f"model_{i:03d}" for i in range(300)]
STATUSES = ["SUCCESS"] * 97 + ["FAILED_WITH_ERROR"] * 2 + ["RUNNING"]


def write_export(path: Path, rows: int, *, seed: int = 7) -> datetime:
    """A Snowflake-shaped export, written row by row; returns the window's start."""
    rng = random.Random(seed)
    start = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
    with path.open("w", encoding="utf-8") as out:
        out.write("[\n")
        for i in range(rows):
            model = rng.choice(MODELS)
            began = start + timedelta(seconds=rng.uniform(0, 7_200))
            elapsed_ms = int(rng.lognormvariate(7, 2))
            status = rng.choice(STATUSES)
            comment = (
                (
                    f'/* {{"app": "dbt", "dbt_version": "1.10.0", "profile_name": "shop", '
                    f'"target_name": "prod", "node_id": "model.shop.{model}"}} */'
                )
                if i % 3
                else ""
            )
            row = {
                "QUERY_ID": f"01b{i:013x}",
                "QUERY_TEXT": f"select * from analytics.{model} where id > {i}\n{comment}",
                "QUERY_TYPE": "SELECT",
                "USER_NAME": "DBT_PROD",
                "WAREHOUSE_NAME": "WH_TRANSFORM",
                "QUERY_TAG": "",
                "EXECUTION_STATUS": status,
                "ERROR_CODE": "000904" if status.startswith("FAILED") else None,
                "ERROR_MESSAGE": "SQL compilation error: invalid identifier 'X'"
                if status.startswith("FAILED")
                else None,
                "START_TIME": began.isoformat(),
                "END_TIME": (began + timedelta(milliseconds=elapsed_ms)).isoformat(),
                "TOTAL_ELAPSED_TIME": elapsed_ms,
                "BYTES_SCANNED": rng.randint(0, 10**11),
                "PARTITIONS_SCANNED": rng.randint(0, 5_000),
                "PARTITIONS_TOTAL": 5_000,
                "BYTES_SPILLED_TO_LOCAL_STORAGE": rng.choice([0] * 20 + [rng.randint(0, 10**10)]),
                "BYTES_SPILLED_TO_REMOTE_STORAGE": rng.choice([0] * 50 + [rng.randint(0, 10**10)]),
                "QUEUED_OVERLOAD_TIME": rng.choice([0] * 10 + [rng.randint(0, 60_000)]),
            }
            out.write(("," if i else "") + json.dumps(row) + "\n")
        out.write("]\n")
    return start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--model", default=None, help="also time a model-scoped run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "query_history.json"
        began = time.perf_counter()
        start = write_export(path, args.rows)
        size_mb, took_s = path.stat().st_size / 1e6, time.perf_counter() - began
        print(f"generated {args.rows:,} rows ({size_mb:.1f} MB) in {took_s:.2f} s")
        rss_before_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        for model in (None, args.model) if args.model else (None,):
            began, cpu_began = time.perf_counter(), time.process_time()
            profiles = profile_queries(FileSource(path), start=start, end=start + timedelta(hours=3), model=model)
            wall_s, cpu_s = time.perf_counter() - began, time.process_time() - cpu_began
            peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            print(
                f"profile_queries(model={model!r}): {wall_s:.2f} s wall ({cpu_s:.2f} s CPU), "
                f"peak RSS {peak_kb / 1024:.0f} MB (before profiling {rss_before_kb / 1024:.0f} MB)"
            )
            for p in profiles:
                print(f"  {p.query_id} {p.model} {p.status.value} {p.elapsed_ms:.0f} ms: {p.diagnosis}")


if __name__ == "__main__":
    main()
