"""Unit tests of the reader, the catalog and the root-failure rules, on small inline logs."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from log_analyzer import analyze_log
from log_analyzer.catalog import load_catalog
from log_analyzer.reader import iter_lines

CATALOG = load_catalog()


@pytest.mark.parametrize("sig", [s for s in CATALOG.signatures if s.example], ids=lambda s: s.id)
def test_every_signature_matches_its_own_example(sig) -> None:  # type: ignore[no-untyped-def]
    match = CATALOG.match(sig.example, 1)
    assert match is not None and match.signature_id == sig.id


def test_reader_numbers_lines_exactly() -> None:
    data = b"a\nb ERROR x\nc\n" + b"d\n" * 50 + b"k Error\nlast"
    everything = list(iter_lines(io.BytesIO(data)))
    assert [n for n, _ in everything] == list(range(1, 56))
    assert everything[1] == (2, b"b ERROR x") and everything[-1] == (55, b"last")


def test_long_lines_binary_junk_and_ansi(tmp_path: Path) -> None:
    log = tmp_path / "junk.log"
    log.write_bytes(
        b"\x00\xff\xfe junk \x1b[31m"
        + b"x" * 200_000
        + b"\n"
        + b"\x1b[0m12:00:00  \x1b[31mKeyError: 'customer_id'\x1b[0m \xff\n"
    )
    result = analyze_log(log)
    assert result.error_class == "code_error"
    assert "customer_id" in result.root_cause and "\x1b" not in result.root_cause
    assert result.evidence[0].line == 2


def test_success_log_gives_no_failure() -> None:
    lines = [
        "12:00:00  1 of 2 OK created sql view model main.a ... [OK in 0.1s]",
        "12:00:01  Completed successfully",
        "12:00:01  Done. PASS=2 WARN=0 ERROR=0 SKIP=0 TOTAL=2",
    ]
    result = analyze_log(lines)
    assert result.error_class is None and not result.failed


def test_repeated_traceback_is_reported_once() -> None:
    block = [
        "ERROR - Task failed with exception",
        "Traceback (most recent call last):",
        '  File "/dags/x.py", line 3, in f',
        "ValueError: bad amount 'n/a'",
    ]
    result = analyze_log(block * 5)
    assert result.error_class == "code_error"
    assert sum("ValueError" in e.text for e in result.evidence) == 1
    assert result.evidence[0].line <= 4


def test_model_error_beats_skips_and_model_is_preferred() -> None:
    lines = [
        "1 of 4 ERROR creating sql view model main.a ... [ERROR in 0.1s]",
        "2 of 4 SKIP relation main.b ... [SKIP]",
        "3 of 4 SKIP relation main.c ... [SKIP]",
        "Failure in model a (models/a.sql)",
        "  Database Error in model a (models/a.sql)",
        "  002003 (42S02): SQL compilation error:",
        "  Object 'RAW.ORDERS' does not exist or not authorized.",
        "Failure in model d (models/d.sql)",
        "  Runtime Error in model d (models/d.sql)",
        "  100038 (22018): Numeric value 'N/A' is not recognized",
    ]
    first = analyze_log(lines)
    assert (first.error_class, first.failed_node) == ("missing_object", "model.a")
    assert "RAW.ORDERS" in first.root_cause and first.skipped == ("main.b", "main.c")
    preferred = analyze_log(lines, model="d")
    assert (preferred.error_class, preferred.failed_node) == ("data_error", "model.d")


def test_unknown_lines_fall_back_to_the_salient_template() -> None:
    lines = [f"INFO - poll {i} ok" for i in range(20)] + ["ERROR - frobnicator quorum lost on shard 7"]
    result = analyze_log(lines)
    assert result.error_class == "unknown"
    assert "frobnicator quorum lost" in result.root_cause and result.step.startswith("template:")
