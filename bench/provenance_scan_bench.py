"""How fast this try's task log is scanned for its dbt runs (shared.provenance.TaskLogDbt.of_file).

Builds a log of --size-mb MB of ordinary task output with the bundled sample's real dbt task log at
its end, then times the chunked scan (the one both specialists run) against a plain line-by-line
scan. Prints MB/s; asserts nothing.

    .venv/bin/python bench/provenance_scan_bench.py --size-mb 200
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from incident_cli.sample import DEFAULT_SAMPLE
from shared.provenance import TaskLogDbt

FILLER = "[2026-11-23T11:02:13.711+0000] {subprocess.py:106} INFO - Processing row batch 1234 of 99999 in raw.orders\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=100, help="size of the generated log (default 100, max 2000)")
    args = parser.parse_args()
    size_mb = max(1, min(args.size_mb, 2_000))
    dbt_log = next((DEFAULT_SAMPLE / "airflow_logs").rglob("task_id=dbt_build_marts/attempt=1.log")).read_text()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "task.log"
        block = FILLER * 10_000
        with path.open("w") as out:
            while out.tell() < size_mb * 1_000_000:
                out.write(block)
            out.write(dbt_log)
        size = path.stat().st_size / 1e6
        for name, scan in (
            ("chunked (TaskLogDbt.of_file)", lambda: TaskLogDbt.of_file(path)),
            ("line by line (TaskLogDbt.scan)", lambda: TaskLogDbt.scan(path.open(encoding="utf-8", errors="replace"))),
        ):
            started = time.perf_counter()
            found = scan()
            elapsed = time.perf_counter() - started
            print(f"{name:32} {size:7.0f} MB  {elapsed:6.2f} s  {size / elapsed:6.0f} MB/s  ran dbt: {found.ran_dbt}")


if __name__ == "__main__":
    main()
