"""`make mutate`: mutation testing of the core with mutmut, one target at a time, against its own tests.

    make mutate                   # every target (about 10 minutes on 2 cores)
    make mutate TARGET=redact     # one target; TARGET=redact,spool for several
    .venv/bin/python mutation/run.py --list            # the targets, their modules and tests
    .venv/bin/python mutation/run.py redact --show     # ... and the diff of every survivor

Why mutmut (3.x) and not cosmic-ray: mutmut never edits the working tree (it mutates a copy in
``mutants/``), forks one process per mutant from a warm interpreter, and runs each mutant against
only the tests that executed the mutated function (measured in a first "stats" pass); it also
mutates string literals, which is most of what Slack escaping and redaction are made of.
cosmic-ray rewrites the source file in place for every mutant (others edit this tree, and an
interrupted run leaves a mutant behind), starts a fresh pytest per mutant (~1.5 s here) and has
no string operators: ``cosmic-ray init`` finds ~4,200 mutants in these modules, 1.5-2 hours.

What mutmut cannot see, so no score here covers it (README.md, "Mutation testing"):
- code that runs in another process: every test listed below runs in the pytest process
  (Redis, the Slack test server and Celery's tracer are real, but no worker subprocess);
- decorated functions and everything nested in them (``@app.task`` closures in
  commander/tasks.py, ``@contextmanager`` in commander/spool.py), printed per module below;
- module-level tables (``RULES``, ``ALLOWED_FUNCTIONS``) and functions that run only while the
  module is imported (listed in ``import_time``): a mutant is switched on after import.

Each target runs mutmut in its own directory, ``mutants/<target>/`` (git-ignored, rebuilt every
run), with ``[tool.mutmut]`` from pyproject.toml plus the target's modules and tests; the run is
killed after its budget (``budget_s``). Survivors listed in mutation/equivalent.md are counted apart.
"""

from __future__ import annotations

import argparse
import ast
import fnmatch
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "mutants"
EQUIVALENT_FILE = ROOT / "mutation" / "equivalent.md"


@dataclass(frozen=True)
class Target:
    name: str
    modules: tuple[str, ...]  # files mutated
    # in-process tests that exercise them, as glob patterns: a new tests/…/test_<topic>_rules.py is
    # picked up; the stats pass then runs each mutant against the ones that called its function
    tests: tuple[str, ...]
    # "<module>:<pattern>" (fnmatch on "function" / "Class.method"): that module's functions mutated;
    # a module named in none of them has every function mutated
    only: tuple[str, ...] = ()
    import_time: tuple[str, ...] = ()  # functions that run only at import: left out (see the docstring)
    budget_s: int = 300


# The one table: what is mutated, and the tests it is run against.
TARGETS: tuple[Target, ...] = (
    Target(
        "redact",
        ("shared/redact.py",),
        ("tests/shared/test_redact*.py", "tests/shared/test_contract_redaction.py", "tests/shared/test_settings.py"),
        import_time=("_token", "_mask_group"),  # build RULES' patterns and replacers at import
    ),
    Target(
        "slack_format",
        ("shared/slack_format.py",),
        ("tests/slack/test_format*.py", "tests/shared/test_specialists.py", "tests/shared/test_findings.py"),
    ),
    Target(
        "guard",
        ("query_profiler/guard.py",),
        ("tests/query_profiler/test_guard*.py", "tests/query_profiler/test_snowflake_source.py"),
        import_time=("_node_types",),  # builds _FORBIDDEN_NODES / _SYNTAX_NODES at import
    ),
    Target(
        "owners",
        ("owner_notifier/owners.py", "owner_notifier/project_files.py", "owner_notifier/mentions.py"),
        tuple(
            f"tests/owner_notifier/test_{name}.py"
            for name in ("owner*", "mentions*", "paths", "sample", "targets", "service", "manifest_size_limit")
        ),
    ),
    Target(
        "dedup",
        ("shared/incident_store.py",),
        ("tests/commander/test_incidents.py", "tests/commander/test_dedup*.py", "tests/shared/test_retry_policy.py"),
        only=tuple(f"shared/incident_store.py:IncidentStore.{f}" for f in ("claim", "once", "forget")),
    ),
    Target(
        "deadline",
        ("commander/incidents.py", "commander/tasks.py"),
        (
            "tests/commander/test_incidents.py",
            "tests/commander/test_deadline*.py",
            "tests/shared/test_retry_policy.py",
            "tests/shared/test_findings.py",
            "tests/shared/test_specialists.py",
        ),
        # finalize_overdue and report_chord_failure are @app.task closures (out of mutmut's reach):
        # what they call is mutated instead
        only=(
            *(f"commander/incidents.py:{f}" for f in ("finish_incident", "findings_from_results", "*_unavailable")),
            "commander/incidents.py:is_reported",
            *(f"commander/tasks.py:{f}" for f in ("dispatch_specialists", "_deadline_remaining_s", "_after_finish")),
        ),
    ),
    Target("spool", ("commander/spool.py",), ("tests/commander/test_spool*.py",)),
    Target(
        "analyzer",
        ("log_analyzer/engine.py", "log_analyzer/report.py", "log_analyzer/analyzer.py"),
        tuple(f"tests/log_analyzer/test_{name}.py" for name in ("engine", "fixtures", "incident", "selection*")),
        # analyzer.py: the selection only (reading and scanning files is I/O, not the rule)
        only=tuple(f"log_analyzer/analyzer.py:{f}" for f in ("_decide", "_pick", "_from_message", "_NodeScanner.*")),
    ),
)


def tests_of(target: Target) -> list[str]:
    """The target's test patterns, expanded. A pattern matching nothing is said (a typo in the
    table, or a file renamed); a target left with no test at all is an error."""
    found: list[str] = []
    for pattern in target.tests:
        matched = sorted(str(p.relative_to(ROOT)) for p in ROOT.glob(pattern))
        if not matched:
            print(f"   warning: {target.name}: no test file matches {pattern}", file=sys.stderr)
        found += [m for m in matched if m not in found]
    if not found:
        raise SystemExit(f"mutation/run.py: {target.name}: no test file matches {', '.join(target.tests)}")
    return found


@dataclass
class Row:
    module: str
    counts: Counter[str]
    survivors: list[str]
    out_of_reach: list[str]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def score(self) -> float | None:
        scored = self.total - self.counts["equivalent"] - self.counts["not checked"]
        return 100 * (self.counts["killed"] + self.counts["timeout"]) / scored if scored else None


def functions(path: Path) -> dict[str, str]:
    """``function`` / ``Class.method`` -> mutmut's mangled name, for the functions mutmut mutates."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and _mutable(node):
            found[node.name] = f"x_{node.name}"
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and _mutable(item):
                    found[f"{node.name}.{item.name}"] = f"x\u01c1{node.name}\u01c1{item.name}"
    return found


def _mutable(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    return all(isinstance(d, ast.Name) and d.id in ("staticmethod", "classmethod") for d in node.decorator_list)


def decorated(path: Path) -> list[str]:
    """Decorated functions at any depth: mutmut leaves them (and all they contain) alone."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        n.name
        for n in ast.walk(tree)
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and not _mutable(n) and n.decorator_list
    ]


def selected(target: Target, module: str) -> dict[str, str]:
    """The functions of ``module`` that ``target`` mutates: function name -> mangled name."""
    patterns = [p.partition(":")[2] for p in target.only if p.partition(":")[0] == module]
    return {
        name: mangled
        for name, mangled in functions(ROOT / module).items()
        if (not patterns or any(fnmatch.fnmatchcase(name, p) for p in patterns)) and name not in target.import_time
    }


def dotted(module: str) -> str:
    return module.removesuffix(".py").replace("/", ".")


def equivalent_keys() -> dict[str, str]:
    """mutation/equivalent.md: table rows whose first cell is a mutant name (or glob) in backticks."""
    keys = {}
    for line in EQUIVALENT_FILE.read_text(encoding="utf-8").splitlines() if EQUIVALENT_FILE.exists() else []:
        m = re.match(r"^\|\s*`([^`]+)`\s*\|\s*(.*?)\s*\|?$", line)
        if m:
            keys[m[1]] = m[2]
    return keys


def mutmut_config(target: Target) -> str:
    """The repo's pyproject.toml, its [tool.mutmut] table extended with the target's modules and tests."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    settings = dict(tomllib.loads(text).get("tool", {}).get("mutmut", {}))
    settings["only_mutate"] = list(target.modules)
    settings["pytest_add_cli_args_test_selection"] = tests_of(target)
    kept = re.sub(r"(?ms)^\[tool\.mutmut\]\n.*?(?=^\[|\Z)", "", text)
    body = "\n".join(f"{key} = {json.dumps(value)}" for key, value in settings.items())
    return f"{kept.rstrip()}\n\n[tool.mutmut]\n{body}\n"


def run_target(target: Target, *, jobs: int) -> tuple[list[Row], str | None]:
    work = WORK / target.name
    shutil.rmtree(work, ignore_errors=True)  # mutmut caches by mtime; a stale copy would lie
    work.mkdir(parents=True)
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mutmut"]
    for name in {*settings["source_paths"], *settings.get("also_copy", ()), "tests"}:
        (work / name).symlink_to(ROOT / name)  # read only: mutmut copies them into work/mutants/
    (work / "pyproject.toml").write_text(mutmut_config(target), encoding="utf-8")
    picked = {m: selected(target, m) for m in target.modules}
    globs = [f"{dotted(m)}.{mangled}__mutmut_*" for m, names in picked.items() for mangled in names.values()]
    mutmut = Path(sys.executable).with_name("mutmut")
    cmd = [str(mutmut), "run", "--max-children", str(jobs), *globs]
    problem = None
    with (work / "mutmut.log").open("w") as log:
        proc = subprocess.Popen(cmd, cwd=work, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            if proc.wait(timeout=target.budget_s) != 0:
                problem = f"mutmut exited {proc.returncode}: see {(work / 'mutmut.log').relative_to(ROOT)}"
        except subprocess.TimeoutExpired:
            problem = f"budget of {target.budget_s} s used up: unchecked mutants are counted as such"
        finally:
            if proc.poll() is None:  # over budget, or this driver interrupted (Ctrl-C)
                os.killpg(proc.pid, signal.SIGKILL)  # mutmut and the forks it started, nothing else
                proc.wait()
    return [_row(target, work, m, picked[m]) for m in target.modules], problem


def _row(target: Target, work: Path, module: str, picked: dict[str, str]) -> Row:
    from mutmut.stats import status_by_exit_code  # the tool's own reading of its exit codes

    meta = work / "mutants" / f"{module}.meta"
    codes = json.loads(meta.read_text())["exit_code_by_key"] if meta.exists() else {}
    prefixes = tuple(f"{dotted(module)}.{mangled}__mutmut_" for mangled in picked.values())
    equivalent = equivalent_keys()
    counts: Counter[str] = Counter()
    survivors = []
    for key, code in sorted(codes.items(), key=lambda kv: _natural(kv[0])):
        if not key.startswith(prefixes):
            continue
        status = status_by_exit_code[code]
        if status in ("survived", "no tests") and any(fnmatch.fnmatchcase(key, k) for k in equivalent):
            status = "equivalent"
        elif status in ("survived", "no tests"):
            survivors.append(f"{key} ({status})" if status != "survived" else key)
        elif status == "killed" and key in equivalent:
            survivors.append(f"{key} (listed as equivalent but killed: mutation/equivalent.md is stale)")
        counts[status] += 1
    skipped = [f"{f} (import time)" for f in target.import_time if f in functions(ROOT / module)]
    return Row(module, counts, survivors, [*decorated(ROOT / module), *skipped])


def _natural(key: str) -> tuple[str, int]:
    base, _, n = key.rpartition("_")
    return base, int(n) if n.isdigit() else 0


COLUMNS = ("module", "mutants", "killed", "survived", "no tests", "timeout/suspicious", "equivalent", "score")


def table(rows: list[tuple[str, Row]], *, markdown: bool) -> str:
    lines = []
    for target, row in rows:
        c = row.counts
        other = c["timeout"] + c["suspicious"] + c["segfault"] + c["not checked"]
        score = f"{row.score:.1f} %" if row.score is not None else "-"
        cells = [
            f"{row.module} ({target})",
            row.total,
            c["killed"],
            c["survived"],
            c["no tests"],
            other,
            c["equivalent"],
            score,
        ]
        lines.append([str(x) for x in cells])
    if markdown:
        out = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        return "\n".join([*out, *("| " + " | ".join(cells) + " |" for cells in lines)])
    widths = [max(len(str(x)) for x in col) for col in zip(COLUMNS, *lines, strict=True)]
    fmt = "  ".join(f"{{:{'<' if i == 0 else '>'}{w}}}" for i, w in enumerate(widths))
    return "\n".join([fmt.format(*COLUMNS), *(fmt.format(*cells) for cells in lines)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("targets", nargs="*", help="target names (default: all); commas allowed")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="mutants tested at once")
    parser.add_argument("--list", action="store_true", help="print the targets and their tests, run nothing")
    parser.add_argument("--show", action="store_true", help="print the diff of every survivor")
    parser.add_argument("--markdown", action="store_true", help="print the table as markdown (for the README)")
    parser.add_argument("--last", action="store_true", help="run nothing: report the last run's results again")
    args = parser.parse_args(argv)
    by_name = {t.name: t for t in TARGETS}
    wanted = [n for arg in args.targets for n in arg.split(",") if n] or list(by_name)
    unknown = [n for n in wanted if n not in by_name]
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)}; known: {', '.join(by_name)}")
    if args.list:
        for t in (by_name[n] for n in wanted):
            print(f"{t.name}: {', '.join(t.modules)}\n  tests: {', '.join(tests_of(t))}")
        return 0
    rows: list[tuple[str, Row]] = []
    problems = []
    started = time.monotonic()
    for t in (by_name[n] for n in wanted):
        t0 = time.monotonic()
        print(f"== {t.name}: {', '.join(t.modules)}", flush=True)
        if args.last:
            target_rows, problem = [_row(t, WORK / t.name, m, selected(t, m)) for m in t.modules], None
        else:
            target_rows, problem = run_target(t, jobs=args.jobs)
        rows += [(t.name, r) for r in target_rows]
        print(f"   {time.monotonic() - t0:.0f} s" + (f"; {problem}" if problem else ""), flush=True)
        problems += [f"{t.name}: {problem}"] if problem else []
    report(rows, markdown=args.markdown, show=args.show)
    print(f"{len(wanted)} target(s) in {time.monotonic() - started:.0f} s")
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    return 1 if problems else 0


def report(rows: list[tuple[str, Row]], *, markdown: bool, show: bool) -> None:
    """The table, what the tool could not mutate, then each survivor (with its diff if ``show``)."""
    print()
    print(table(rows, markdown=markdown))
    print("\nscore = (killed + timeout) / (mutants - equivalent - not checked)")
    for _, row in rows:
        if row.out_of_reach:
            print(f"not mutated in {row.module}: {', '.join(row.out_of_reach)}")
    for target, row in rows:
        for name in row.survivors:
            print(f"survivor [{target}] {name}")
            if show:
                mutmut = Path(sys.executable).with_name("mutmut")
                diff = subprocess.run(
                    [str(mutmut), "show", name.split(" ")[0]], cwd=WORK / target, capture_output=True, text=True
                )
                print("    " + diff.stdout.strip().replace("\n", "\n    "))


if __name__ == "__main__":
    sys.exit(main())
