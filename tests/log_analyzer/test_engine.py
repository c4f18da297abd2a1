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


# dbt 1.11 console output (one thread) where the first failure causes the second: stg_orders fails on a
# column typo, so its table is never created; orders_backfill reads it by a hard-coded name, not ref(),
# so dbt runs it instead of skipping it, and it fails on the missing table. Both errors are known,
# ranked alike and name their model: only their order tells the cause from the consequence.
CASCADE = [
    "\x1b[0m03:12:07  Running with dbt=1.11.16",
    "\x1b[0m03:12:07  Registered adapter: duckdb=1.11.1",
    "\x1b[0m03:12:09  Found 4 models, 2 data tests, 512 macros",
    "\x1b[0m03:12:09  ",
    "\x1b[0m03:12:09  Concurrency: 1 threads (target='prod')",
    "\x1b[0m03:12:09  ",
    "\x1b[0m03:12:09  1 of 6 START sql table model main.stg_orders ................................. [RUN]",
    "\x1b[0m03:12:09  1 of 6 ERROR creating sql table model main.stg_orders ........................ "
    "[\x1b[31mERROR\x1b[0m in 0.04s]",
    "\x1b[0m03:12:09  2 of 6 START sql table model main.stg_customers .............................. [RUN]",
    "\x1b[0m03:12:09  2 of 6 OK created sql table model main.stg_customers ......................... "
    "[\x1b[32mOK\x1b[0m in 0.06s]",
    "\x1b[0m03:12:09  3 of 6 START sql table model main.orders_backfill ............................ [RUN]",
    "\x1b[0m03:12:09  3 of 6 ERROR creating sql table model main.orders_backfill ................... "
    "[\x1b[31mERROR\x1b[0m in 0.02s]",
    "\x1b[0m03:12:09  4 of 6 SKIP test not_null_stg_orders_order_id ................................ "
    "[\x1b[33mSKIP\x1b[0m]",
    "\x1b[0m03:12:09  5 of 6 SKIP test unique_stg_orders_order_id .................................. "
    "[\x1b[33mSKIP\x1b[0m]",
    "\x1b[0m03:12:09  6 of 6 SKIP relation main.orders_daily ....................................... "
    "[\x1b[33mSKIP\x1b[0m]",
    "\x1b[0m03:12:09  ",
    "\x1b[0m03:12:09  Finished running 4 table models, 2 data tests in 0 hours 0 minutes and 0.41 seconds (0.41s).",
    "\x1b[0m03:12:09  ",
    "\x1b[0m03:12:09  \x1b[31mCompleted with 2 errors, 0 partial successes, and 0 warnings:\x1b[0m",
    "\x1b[0m03:12:09  ",
    "\x1b[0m03:12:09  \x1b[31mFailure in model stg_orders (models/staging/stg_orders.sql)\x1b[0m",
    "\x1b[0m03:12:09    Runtime Error in model stg_orders (models/staging/stg_orders.sql)",
    '  Binder Error: Referenced column "amout" not found in FROM clause!',
    '  Candidate bindings: "amount", "status", "customer_id"',
    "\x1b[0m03:12:09  ",
    "\x1b[0m03:12:09    compiled code at target/compiled/shop/models/staging/stg_orders.sql",
    "\x1b[0m03:12:09  ",
    "\x1b[0m03:12:09  \x1b[31mFailure in model orders_backfill (models/marts/orders_backfill.sql)\x1b[0m",
    "\x1b[0m03:12:09    Runtime Error in model orders_backfill (models/marts/orders_backfill.sql)",
    "  Catalog Error: Table with name stg_orders does not exist!",
    '  Did you mean "stg_customers"?',
    "\x1b[0m03:12:09  ",
    "\x1b[0m03:12:09    compiled code at target/compiled/shop/models/marts/orders_backfill.sql",
    "\x1b[0m03:12:09  ",
    "\x1b[0m03:12:09  Done. PASS=1 WARN=0 ERROR=2 SKIP=3 NO-OP=0 TOTAL=6",
]


def test_the_first_of_two_equally_ranked_failures_is_the_root_cause_and_its_line_is_cited() -> None:
    # Given a dbt log whose first failure (a column typo) causes a later one (its table is missing)
    root = '  Binder Error: Referenced column "amout" not found in FROM clause!'
    consequence = "  Catalog Error: Table with name stg_orders does not exist!"
    root_line, consequence_line = CASCADE.index(root) + 1, CASCADE.index(consequence) + 1
    assert root_line < consequence_line
    # When it is analysed
    result = analyze_log(CASCADE)
    # Then the first failure is the root cause: its class, its model, its message
    assert (result.error_class, result.failed_node) == ("invalid_identifier", "model.shop.stg_orders")
    assert result.root_cause == f"invalid_identifier in model stg_orders: {root.strip()}"
    # and the evidence cites its line, not the consequence's
    assert (root_line, root.strip()) in [(e.line, e.text) for e in result.evidence]
    assert consequence_line not in [e.line for e in result.evidence]


def test_unknown_lines_fall_back_to_the_salient_template() -> None:
    lines = [f"INFO - poll {i} ok" for i in range(20)] + ["ERROR - frobnicator quorum lost on shard 7"]
    result = analyze_log(lines)
    assert result.error_class == "unknown"
    assert "frobnicator quorum lost" in result.root_cause and result.step.startswith("template:")
