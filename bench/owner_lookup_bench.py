"""Owner lookup on a generated 10,000-model manifest: cold and warm time, peak memory.

    .venv/bin/python bench/owner_lookup_bench.py [--models 10000] [--repeat 5]

Every generated node is a copy of a real dbt-core 1.11 model node from the owner fixture project
(tests/fixtures/dbt_owners), so the manifest has the real shape and size per node; a chain of
refs gives each model a parent and a child. "cold" = a new file version: read + json parse +
index build + resolve (``clear_cache()`` first); "warm" = the same lookup again (cached index).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import resource
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path

from owner_notifier.owners import open_project, resolve_owner
from shared import dbt_manifest_decode as manifest_decode
from shared.dbt_artifacts import _build, clear_cache, load_manifest

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "dbt_owners" / "project" / "target"


def generate(path: Path, models: int) -> None:
    base = json.loads((FIXTURE / "manifest.json").read_text())
    template = base["nodes"]["model.dbt_owners.fct_orders"]
    nodes, child_map, parent_map = {}, {}, {}
    for i in range(models):
        uid = f"model.big.m_{i:05d}"
        node = copy.deepcopy(template)
        node.update(
            name=f"m_{i:05d}",
            unique_id=uid,
            package_name="big",
            fqn=["big", f"m_{i:05d}"],
            original_file_path=f"models/m_{i // 100:03d}/m_{i:05d}.sql",
            path=f"m_{i:05d}.sql",
        )
        owner = f"team{i % 50}@example.com" if i % 3 else [f"user{i}@example.com", "@oncall"]
        node["config"]["meta"] = node["meta"] = {"owner": owner}
        parents = [f"model.big.m_{i - 1:05d}"] if i else []
        node["depends_on"]["nodes"] = parents
        nodes[uid] = node
        parent_map[uid] = parents
        child_map[uid] = [f"model.big.m_{i + 1:05d}"] if i + 1 < models else []
    base.update(nodes=nodes, sources={}, child_map=child_map, parent_map=parent_map, exposures={})
    path.write_text(json.dumps(base))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        manifest = Path(tmp) / "manifest.json"
        generate(manifest, args.models)
        size_mb = manifest.stat().st_size / 1e6
        target = f"m_{args.models // 2:05d}"
        cold_ms, cold_cpu_ms, stdlib_ms, stdlib_cpu_ms = [], [], [], []
        fast = manifest_decode.msgspec
        for _ in range(args.repeat):
            clear_cache()
            started, cpu = time.perf_counter(), time.process_time()
            resolution = resolve_owner(open_project(None, manifest_path=manifest), target)
            cold_ms.append((time.perf_counter() - started) * 1000)
            cold_cpu_ms.append((time.process_time() - cpu) * 1000)
            # the same build without msgspec (what a machine without the accelerator does)
            manifest_decode.msgspec = None
            started, cpu = time.perf_counter(), time.process_time()
            _build(manifest, manifest.read_bytes())
            stdlib_ms.append((time.perf_counter() - started) * 1000)
            stdlib_cpu_ms.append((time.process_time() - cpu) * 1000)
            manifest_decode.msgspec = fast
        assert resolution.declared, resolution
        project = open_project(None, manifest_path=manifest)
        warm_us = []
        for _ in range(1_000):
            started = time.perf_counter()
            resolve_owner(project, target)
            warm_us.append((time.perf_counter() - started) * 1e6)
        warm_open_us = []
        for _ in range(200):  # the service re-opens the project per incident: stat() + cache hit
            started = time.perf_counter()
            resolve_owner(open_project(None, manifest_path=manifest), target)
            warm_open_us.append((time.perf_counter() - started) * 1e6)
        clear_cache()
        tracemalloc.start()
        index = load_manifest(manifest)
        _, peak = tracemalloc.get_traced_memory()
        retained, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        med = statistics.median
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
        decoder = f"msgspec {fast.__version__}" if fast else "stdlib json (msgspec not installed)"
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (wall times suffer under load)")
        print(f"manifest: {args.models} models, {size_mb:.1f} MB; lookup {target} -> {resolution.declared[0].owner}")
        print(
            f"cold, {decoder} (read + decode + index + resolve): median {med(cold_ms):.0f} ms wall / "
            f"{med(cold_cpu_ms):.0f} ms CPU, min {min(cold_ms):.0f} ms wall, {args.repeat} runs"
        )
        print(
            f"cold, stdlib json fallback (read + decode + index): median {med(stdlib_ms):.0f} ms wall / "
            f"{med(stdlib_cpu_ms):.0f} ms CPU, min {min(stdlib_ms):.0f} ms wall"
        )
        print(f"warm resolve_owner (cached index): median {med(warm_us):.1f} us, p99 {sorted(warm_us)[989]:.1f} us")
        print(f"warm open_project + resolve (stat + cache hit): median {med(warm_open_us):.1f} us")
        print(
            f"peak Python memory while loading: {peak / 1e6:.0f} MB; index retained: {retained / 1e6:.1f} MB "
            f"({len(index.nodes)} nodes); process max RSS {rss_mb:.0f} MB"
        )


if __name__ == "__main__":
    main()
