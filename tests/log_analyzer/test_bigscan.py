"""The big-file scan (gated, memchr-anchored) names the same root failure as the full scan."""

from __future__ import annotations

from pathlib import Path

import pytest

from log_analyzer import analyze_log, analyzer
from log_analyzer.catalog import load_catalog
from log_analyzer.models import LogAnalysis
from log_analyzer.prefilter import context_only_signatures, gate_literals, required_literals
from log_analyzer.reader import MAX_LINE_BYTES

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
LOGS = sorted([*FIXTURES.glob("airflow/logs/**/attempt=*.log"), *FIXTURES.glob("dbt_failures/*/console.log"),
               *FIXTURES.glob("dbt_failures/*/dbt.log"), *FIXTURES.glob("dbt_failures/*/dbt.jsonl")])
# Signatures a big file shows only near an error marker (their literals are lower-case text a
# byte search cannot afford): a new signature joins this list only on purpose.
CONTEXT_ONLY = {
    "airflow.oom", "airflow.zombie", "bigquery.access_denied", "bigquery.auth", "bigquery.no_such_field",
    "dbt.freshness_stale", "dbt.yaml_error", "postgres.auth", "postgres.connection", "postgres.data",
    "postgres.deadlock", "postgres.hba", "postgres.lock_timeout", "postgres.must_be_owner", "postgres.permission",
    "postgres.resources", "postgres.statement_timeout", "python.timeout", "snowflake.lock",
}


def _both(path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int = 4096) -> tuple[LogAnalysis, LogAnalysis]:
    small = analyze_log(path)
    monkeypatch.setattr(analyzer, "GATE_MIN_BYTES", -1)
    monkeypatch.setattr(analyzer, "BIG_CHUNK_BYTES", chunk)
    return small, analyze_log(path)


def _key(r: LogAnalysis) -> tuple[object, ...]:
    return r.error_class, r.failed_node, r.root_cause, tuple((e.line, e.text) for e in r.evidence), r.skipped


@pytest.mark.parametrize("log", LOGS, ids=lambda p: "/".join(p.parts[-3:]))
def test_big_path_agrees_on_every_fixture(log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    small, big = _both(log, monkeypatch)
    assert _key(big) == _key(small)


def test_big_path_agrees_on_a_generated_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chunk = 4096
    info = b'{"timestamp":"2026-11-23T10:00:00Z","level":"info","event":"Processed batch 7 rows=259"}\n'
    junk = b"\xff\xfe binary \x00\x01 junk \xc3\x28 not utf-8\n"
    ansi = b'{"level":"info","event":"\\u001b[32mOK created sql table model main.stg_orders\\u001b[0m"}\n'
    out = bytearray()
    while len(out) + len(info) < 3 * chunk - 25:
        out += info
    out += b"x" * (3 * chunk - 25 - len(out)) + b"\n"
    # a header straddling the chunk boundary at 3 * chunk, then its message lines
    out += b'12:00:01  \x1b[31mFailure in model fct_orders (models/marts/fct_orders.sql)\x1b[0m\n'
    out += b"12:00:01    Database Error in model fct_orders (models/marts/fct_orders.sql)\n"
    out += b"12:00:01    000904 (42000): SQL compilation error: error line 3 at position 4\n"
    out += b"12:00:01    invalid identifier 'ORDER_TOTAL'\n"
    for i in range(300):
        out += info if i % 7 else (junk if i % 2 else ansi)
    out += b"A" * (3 * MAX_LINE_BYTES) + b" Binder Error: hidden past the line cap\n"  # a very long line
    out += info * 50
    out += b'{"level":"error","event":"Task failed with exception","error_detail":[{"exc_type":"KeyError",'
    out += b'"exc_value":"\'customer_id\'"}]}\n'
    out += info * 5 + b"12:00:02  Done. PASS=3 WARN=0 ERROR=1 SKIP=2 TOTAL=6"  # no final newline
    log = tmp_path / "attempt=1.log"
    log.write_bytes(bytes(out))
    assert bytes(out).find(b"Failure in model") < 3 * chunk < bytes(out).find(b"Failure in model") + 16
    small, big = _both(log, monkeypatch, chunk)
    assert small.error_class == "invalid_identifier"
    assert _key(big) == _key(small)


def test_every_signature_is_gated_or_listed_as_context_only() -> None:
    catalog = load_catalog()
    assert all(required_literals(s.pattern) for s in catalog.signatures)  # every pattern yields literals
    unlisted = set(context_only_signatures(catalog)) - CONTEXT_ONLY
    assert not unlisted, (f"{unlisted}: no literal of these patterns is cheap to search in a big file; give the "
                          "pattern an upper-case or quoted literal, or add them to CONTEXT_ONLY on purpose")
    assert all(g.isascii() and b'"' not in g and b"\\" not in g for g in gate_literals(catalog))


def test_required_literals_are_in_every_match() -> None:
    for sig in load_catalog().signatures:
        if sig.example:
            m = sig.pattern.search(sig.example)
            lits = required_literals(sig.pattern)
            assert m is None or lits is None or any(lit in m.group(0) for lit in lits), sig.id
