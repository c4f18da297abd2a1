"""Peak memory does not grow with the log: 200 MB generated, analyzed in a fresh process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

LINE = (
    b'{"timestamp":"2026-11-23T10:00:00.123456Z","level":"info","event":"processed batch of rows=12345 '
    b'for analytics.fct_orders in 0.123s","logger":"airflow.task.operators"}\n'
)
ERROR = (
    b'{"timestamp":"2026-11-23T11:00:00Z","level":"error","event":"Task failed with exception",'
    b'"error_detail":[{"exc_type":"KeyError","exc_value":"\'customer_id\'"}]}\n'
)

# VmHWM, not ru_maxrss: Linux carries ru_maxrss across fork and exec, so a child started by a
# pytest process that has grown would report the parent's peak, not its own.
PROBE = """
import sys
from log_analyzer import analyze_log

def hwm_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])

before = hwm_kb()
result = analyze_log(sys.argv[1])
after = hwm_kb()
print(result.error_class, result.evidence[0].line, (after - before) // 1024, after // 1024)
"""


def test_peak_memory_is_bounded_on_a_200_mb_log(tmp_path: Path) -> None:
    log = tmp_path / "big.log"
    block = LINE * 10_000
    with log.open("wb") as out:
        for _ in range(200 * 1024 * 1024 // len(block)):
            out.write(block)
        out.write(ERROR)
        out.write(LINE * 10)
    lines = log.stat().st_size // len(LINE)
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(log)], capture_output=True, text=True, check=True, cwd=root
    ).stdout.split()
    error_class, line, growth_mb, peak_mb = out[0], int(out[1]), int(out[2]), int(out[3])
    assert error_class == "code_error"
    assert line >= lines - 12
    assert growth_mb < 40, f"analysis grew RSS by {growth_mb} MB"
    assert peak_mb < 150, f"peak RSS {peak_mb} MB"
