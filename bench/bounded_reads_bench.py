"""Peak memory of reading big query-history exports and an oversized dbt manifest.

    .venv/bin/python bench/bounded_reads_bench.py [--size-mb 200] [--huge-mb 200] [--timeout 120] [--keep DIR]

Generates, in a temporary directory, one export per format of about ``--size-mb`` MB (JSON array,
JSON wrapped in ``{"rows": [...]}``, JSON Lines, CSV; realistic QUERY_HISTORY rows with 2 KB of SQL),
one file per format holding a single record of ``--huge-mb`` MB, and a sparse manifest.json just
over the size limit. Each file is read by ``FileSource.rows()`` (or ``load_manifest`` and
``related_models``) in a fresh process, which reports rows read or the error, the seconds taken and
its peak RSS: ``VmHWM`` from /proc/self/status (``ru_maxrss`` would not do: Linux carries it over
fork and exec, so a child reports its parent's peak). A run over ``--timeout`` seconds is reported.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MB = 1024 * 1024

PROBE_EXPORT = """
import json, sys, time
from pathlib import Path
from query_profiler.sources.file_export import FileSource
from shared.errors import SourceError
started, rows, error = time.perf_counter(), 0, None
try:
    for _ in FileSource(Path(sys.argv[1])).rows():
        rows += 1
except SourceError as exc:
    error = str(exc)
peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")) / 1024
print(json.dumps({"rows": rows, "error": error, "s": time.perf_counter() - started, "peak_mb": peak}))
"""

PROBE_MANIFEST = """
import json, sys, time
from pathlib import Path
from shared.dbt_artifacts import load_manifest
from query_profiler.lineage import related_models
from shared.errors import SourceError
started, error = time.perf_counter(), None
try:
    load_manifest(Path(sys.argv[1]) / "target" / "manifest.json")
except SourceError as exc:
    error = str(exc)
neighbours = related_models(Path(sys.argv[1]), "fct_orders")
peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")) / 1024
print(json.dumps({"rows": 0, "error": error, "lineage": repr(neighbours), "s": time.perf_counter() - started,
                  "peak_mb": peak}))
"""


def _row(i: int) -> dict[str, object]:
    sql = f'/* {{"app": "dbt", "node_id": "model.shop.m{i % 500}"}} */ select ' + ", ".join(
        f"col_{j} as alias_{j}" for j in range(150)
    )
    return {
        "QUERY_ID": f"01b2c3d4-0000-0000-0000-{i:012d}",
        "QUERY_TEXT": sql[:2048],
        "EXECUTION_STATUS": "FAILED_WITH_ERROR" if i % 1000 == 0 else "SUCCESS",
        "ERROR_CODE": "000904" if i % 1000 == 0 else None,
        "WAREHOUSE_NAME": "WH_TRANSFORM",
        "START_TIME": "2026-05-01T10:00:00+00:00",
        "END_TIME": "2026-05-01T10:00:05+00:00",
        "TOTAL_ELAPSED_TIME": 5000 + i % 90000,
        "BYTES_SCANNED": i * 1000,
    }


def _rows_for(size_mb: int) -> int:
    return max(1, size_mb * MB // len(json.dumps(_row(0))))


def generate(directory: Path, size_mb: int, huge_mb: int) -> dict[str, Path]:
    n = _rows_for(size_mb)
    files = {
        "array.json": directory / "array.json",
        "wrapped.json": directory / "wrapped.json",
        "lines.jsonl": directory / "lines.jsonl",
        "export.csv": directory / "export.csv",
    }
    with (
        files["array.json"].open("w") as a,
        files["wrapped.json"].open("w") as w,
        files["lines.jsonl"].open("w") as jl,
        files["export.csv"].open("w", newline="") as c,
    ):
        writer = csv.DictWriter(c, fieldnames=list(_row(0)))
        writer.writeheader()
        a.write("[\n")
        w.write('{"meta": {"exported_by": "bench"}, "rows": [\n')
        for i in range(n):
            row = _row(i)
            text = json.dumps(row)
            sep = ",\n" if i else ""
            a.write(sep + text)
            w.write(sep + text)
            jl.write(text + "\n")
            writer.writerow(row)
        a.write("\n]\n")
        w.write("\n]}\n")
    # One record whose QUERY_TEXT is huge_mb MB, written in pieces (the parent stays small).
    head = json.dumps(dict(_row(0), QUERY_TEXT="@@"))
    before, after = head.split('"@@"')
    for name, prefix, suffix in (
        ("huge.json", "[" + before + '"', '"' + after + "]\n"),
        ("huge.jsonl", before + '"', '"' + after + "\n"),
        ("huge.csv", ",".join(_row(0)) + "\nq1,", ",SUCCESS,,WH,,,1,1\n"),
    ):
        files[name] = directory / name
        with files[name].open("w") as f:
            f.write(prefix)
            for _ in range(huge_mb):
                f.write("x" * MB)
            f.write(suffix)
    manifest_dir = directory / "dbt"
    (manifest_dir / "target").mkdir(parents=True)
    with (manifest_dir / "target" / "manifest.json").open("wb") as f:
        f.truncate(300 * MB)  # sparse: no blocks written
    files["manifest (sparse 300 MB)"] = manifest_dir
    return files


def probe(name: str, path: Path, timeout: float) -> dict[str, object]:
    code = PROBE_MANIFEST if name.startswith("manifest") else PROBE_EXPORT
    started = time.perf_counter()
    try:
        out = subprocess.run(
            [sys.executable, "-c", code, str(path)],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
            timeout=timeout,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
    except subprocess.TimeoutExpired:
        return {"rows": None, "error": f"did not finish in {timeout:.0f} s", "s": time.perf_counter() - started}
    except subprocess.CalledProcessError as exc:
        return {"rows": None, "error": exc.stderr.strip().splitlines()[-1], "s": time.perf_counter() - started}
    return dict(json.loads(out.stdout))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--huge-mb", type=int, default=200)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--keep", type=Path, help="generate into this directory and keep the files")
    args = parser.parse_args()
    directory = args.keep or Path(tempfile.mkdtemp(prefix="bounded-reads-"))
    directory.mkdir(parents=True, exist_ok=True)
    try:
        files = generate(directory, args.size_mb, args.huge_mb)
        print(f"{'file':<26} {'size MB':>8} {'rows':>8} {'seconds':>8} {'peak RSS MB':>12}  error")
        for name, path in files.items():
            size = path.stat().st_size if path.is_file() else (path / "target" / "manifest.json").stat().st_size
            result = probe(name, path, args.timeout)
            rows, peak, error = result.get("rows"), result.get("peak_mb"), str(result.get("error") or "")
            peak_text = f"{float(peak):.0f}" if isinstance(peak, int | float) else "-"
            print(
                f"{name:<26} {size / MB:>8.0f} {rows if rows is not None else '-':>8} "
                f"{float(str(result['s'])):>8.1f} {peak_text:>12}  {error[:150]}"
            )
    finally:
        if args.keep is None:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
