"""How long redaction takes: a realistic log excerpt, and adversarial inputs that made the old
patterns backtrack for tens of seconds. Prints figures; tests never assert speed.

    .venv/bin/python bench/redact_bench.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.redact import redact  # noqa: E402
from tests.redaction_cases import LOOKALIKE_CASES, SECRET_CASES  # noqa: E402

SAMPLE_LOG = Path(__file__).resolve().parents[1] / "samples" / "hourly_marts" / "airflow_logs"

ADVERSARIAL = {
    "a*200k": "a" * 200_000,
    "unclosed password value": '"password": "' + "x" * 200_000,
    "repeated password keys": '"password": "' * 15_000,
    "a.a.a.": "a." * 100_000,
    "eyJ-": "eyJ-" * 50_000,
    "scheme repeats": "a://b:" * 33_000,
    "quoted escapes": 'x\\"' * 66_000,
}


def _time_ms(fn, *, repeat: int) -> float:  # type: ignore[no-untyped-def]
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - started) * 1000)
    return statistics.median(runs)


def main() -> None:
    log = "\n".join(p.read_text(errors="replace") for p in sorted(SAMPLE_LOG.rglob("*.log")))[:8_192]
    print(f"8 KB of the bundled Airflow log: median {_time_ms(lambda: redact(log), repeat=50):.2f} ms")
    line = "[2026-11-23T03:00:12.345+0000] {taskinstance.py:1234} ERROR - Task failed with exception"
    print(f"one ordinary log line: median {_time_ms(lambda: redact(line), repeat=2_000) * 1000:.0f} µs")
    for name, text in ADVERSARIAL.items():
        print(f"adversarial {name} ({len(text) // 1000} KB): {_time_ms(lambda t=text: redact(t), repeat=3):.0f} ms")
    masked = sum(secret not in redact(text) for _, text, secret in SECRET_CASES)
    kept = sum(redact(text) == text for _, text in LOOKALIKE_CASES)
    print(f"secret shapes masked: {masked}/{len(SECRET_CASES)}; look-alikes kept: {kept}/{len(LOOKALIKE_CASES)}")


if __name__ == "__main__":
    main()
