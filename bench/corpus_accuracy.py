"""Accuracy of the log analyzer on the public corpus: real error excerpts nobody on the team wrote.

    .venv/bin/python bench/corpus_accuracy.py                  # the held-out half, aggregates only
    .venv/bin/python bench/corpus_accuracy.py --split all      # train and held-out, side by side
    .venv/bin/python bench/corpus_accuracy.py --split train --show-misses
    .venv/bin/python bench/corpus_accuracy.py --split heldout --json

The corpus is tests/fixtures/public_corpus/{train,heldout}.jsonl (see its README.md). Each case's text
is written to a temporary file and analysed exactly as `incident-commander analyze-log FILE` does
(`analyze_log(path)`), then compared with the human label:

  best-class accuracy        predicted class == the label's `class`
  acceptable accuracy        predicted class in {class} + `acceptable`
  no failure found           the analyzer returned no class at all (counted as wrong)
  failing-node accuracy      over the cases whose label names a node: the predicted node is that name,
                             or a unique_id ending in "." + that name
  per tool / per class       best and acceptable accuracy within each group

The held-out half is the published figure. Signatures are written from vendor references and the
train half only, so `--show-misses` (which prints texts and predictions case by case) is refused for
any split but train: nobody tunes the catalog on held-out texts.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from log_analyzer.analyzer import analyze_log  # noqa: E402

CORPUS = ROOT / "tests" / "fixtures" / "public_corpus"
SPLITS = ("train", "heldout")


def load(corpus: Path, split: str) -> list[dict[str, Any]]:
    """The cases of one split, sorted by id (deterministic order)."""
    path = corpus / f"{split}.jsonl"
    cases = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return sorted(cases, key=lambda c: c["id"])


def node_matches(predicted: str | None, expected: str) -> bool:
    return predicted is not None and (predicted == expected or predicted.endswith("." + expected))


def run_case(case: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Analyse one case's text as the CLI would (a file path), and score it."""
    path = workdir / "case.log"
    path.write_text(case["text"] + "\n", encoding="utf-8")
    analysis = analyze_log(path)
    predicted = analysis.error_class.value if analysis.error_class is not None else None
    accepted = {case["class"], *case.get("acceptable", [])}
    expected_node = case.get("failed_node")
    return {
        "id": case["id"],
        "tool": case["tool"],
        "class": case["class"],
        "acceptable": case.get("acceptable", []),
        "predicted": predicted,
        "best": predicted == case["class"],
        "ok": predicted in accepted,
        "no_failure": predicted is None,
        "expected_node": expected_node,
        "predicted_node": analysis.failed_node,
        "node_ok": node_matches(analysis.failed_node, expected_node) if expected_node else None,
        "step": analysis.step,
        "root_cause": analysis.root_cause,
    }


def _rate(hits: int, total: int) -> float | None:
    return round(hits / total, 4) if total else None


def summarise(results: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(results)
    node_cases = [r for r in results if r["node_ok"] is not None]
    groups: dict[str, dict[str, dict[str, int]]] = {"tool": defaultdict(dict), "class": defaultdict(dict)}
    for key in groups:
        buckets: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in results:
            buckets[r[key]].append(r)
        groups[key] = {
            name: {
                "cases": len(rs),
                "best": sum(r["best"] for r in rs),
                "acceptable": sum(r["ok"] for r in rs),
            }
            for name, rs in sorted(buckets.items())
        }
    return {
        "cases": n,
        "best_correct": sum(r["best"] for r in results),
        "best_accuracy": _rate(sum(r["best"] for r in results), n),
        "acceptable_correct": sum(r["ok"] for r in results),
        "acceptable_accuracy": _rate(sum(r["ok"] for r in results), n),
        "no_failure_found": sum(r["no_failure"] for r in results),
        "node_cases": len(node_cases),
        "node_correct": sum(bool(r["node_ok"]) for r in node_cases),
        "node_accuracy": _rate(sum(bool(r["node_ok"]) for r in node_cases), len(node_cases)),
        "per_tool": groups["tool"],
        "per_class": groups["class"],
    }


def _pct(value: float | None) -> str:
    return "   n/a" if value is None else f"{100 * value:5.1f}%"


def print_summary(split: str, s: dict[str, Any]) -> None:
    print(f"== {split}: {s['cases']} cases")
    print(f"  best-class accuracy   {_pct(s['best_accuracy'])}  ({s['best_correct']}/{s['cases']})")
    print(f"  acceptable accuracy   {_pct(s['acceptable_accuracy'])}  ({s['acceptable_correct']}/{s['cases']})")
    print(f"  no failure found      {s['no_failure_found']}")
    print(f"  failing-node accuracy {_pct(s['node_accuracy'])}  ({s['node_correct']}/{s['node_cases']} labelled)")
    for key, title in (("per_tool", "tool"), ("per_class", "class (by label)")):
        print(f"  per {title}:")
        for name, g in s[key].items():
            best, ok = _rate(g["best"], g["cases"]), _rate(g["acceptable"], g["cases"])
            print(f"    {name:<20} {g['cases']:>4} cases  best {_pct(best)}  acceptable {_pct(ok)}")


def print_misses(results: list[dict[str, Any]], cases: dict[str, dict[str, Any]]) -> None:
    misses = [r for r in results if not r["ok"] or r["node_ok"] is False]
    print(f"== train misses: {len(misses)}")
    for r in misses:
        accepted = "/".join([r["class"], *r["acceptable"]])
        node = ""
        if r["node_ok"] is False:
            node = f"  node: want {r['expected_node']!r}, got {r['predicted_node']!r}"
        print(f"-- {r['id']} [{r['tool']}] want {accepted}, got {r['predicted']} (step {r['step']}){node}")
        print(f"   root cause: {r['root_cause']}")
        for line in cases[r["id"]]["text"].splitlines()[:12]:
            print(f"   | {line[:160]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--split",
        choices=("train", "heldout", "all"),
        default="heldout",
        help="which half of the corpus to score (default: heldout, the published figure)",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--show-misses",
        action="store_true",
        help="also print each missed case (text, expected, predicted); allowed only with --split train",
    )
    parser.add_argument("--corpus", type=Path, default=CORPUS, help=f"corpus directory (default: {CORPUS})")
    args = parser.parse_args(argv)
    if args.show_misses and args.split != "train":
        parser.error("--show-misses is allowed only with --split train: held-out cases are never shown one by one")

    splits = SPLITS if args.split == "all" else (args.split,)
    started = time.perf_counter()
    report: dict[str, Any] = {}
    per_split: dict[str, list[dict[str, Any]]] = {}
    texts: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="pic-corpus-") as tmp:
        for split in splits:
            cases = load(args.corpus, split)
            per_split[split] = [run_case(case, Path(tmp)) for case in cases]
            report[split] = summarise(per_split[split])
            if split == "train":
                texts = {c["id"]: c for c in cases}
    if args.split == "all":
        report["all"] = summarise([r for split in splits for r in per_split[split]])
    elapsed = round(time.perf_counter() - started, 2)

    if args.json:
        out: dict[str, Any] = {"splits": report, "seconds": elapsed}
        if args.show_misses:
            out["train_misses"] = [r for r in per_split["train"] if not r["ok"] or r["node_ok"] is False]
        print(json.dumps(out, indent=2, sort_keys=True))
        return 0
    for split, summary in report.items():
        print_summary(split, summary)
    if args.show_misses:
        print_misses(per_split["train"], texts)
    print(f"({elapsed}s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
