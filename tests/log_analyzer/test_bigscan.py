"""The big-file scan (gated, memchr-anchored) names the same root failure as the full scan."""

from __future__ import annotations

from pathlib import Path

import pytest

from log_analyzer import analyze_log, analyzer, bigscan
from log_analyzer.catalog import load_catalog
from log_analyzer.models import LogAnalysis
from log_analyzer.prefilter import context_only_signatures, gate_literals, required_literals
from log_analyzer.reader import MAX_LINE_BYTES
from tests.requirements import require

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
LOGS = sorted(
    [
        *FIXTURES.glob("airflow/logs/**/attempt=*.log"),
        *FIXTURES.glob("dbt_failures/*/console.log"),
        *FIXTURES.glob("dbt_failures/*/dbt.log"),
        *FIXTURES.glob("dbt_failures/*/dbt.jsonl"),
    ]
)
# Signatures a big file shows only near an error marker (their literals are lower-case text a
# byte search cannot afford): a new signature joins this list only on purpose.
CONTEXT_ONLY = {
    "airflow.dag_not_found",
    "airflow.exception_class",  # the list of Airflow exception names (> MAX_GATED); tracebacks carry a marker
    "airflow.oom",
    "airflow.zombie",
    "bigquery.access_denied",
    "bigquery.auth",
    "bigquery.bad_value",
    "bigquery.billing_disabled",
    "bigquery.concurrent",
    "bigquery.data_errors",
    "bigquery.function_not_found",
    "bigquery.missing_dataset",
    "bigquery.no_such_field",
    "bigquery.query_errors",
    "bigquery.quota",
    "bigquery.reason",
    "databricks.ambiguous",
    "databricks.delta_concurrent",
    "databricks.error_condition",
    "databricks.not_found_legacy",
    "databricks.parse_legacy",
    "databricks.termination_code",  # "Termination info: code: X": T is common (timestamps); its line says Error
    "dbt.freshness_stale",
    "dbt.unit_test_diff",  # "actual differs from expected:", below "Completed with N errors"
    "dbt.project_graph",
    "dbt.yaml_error",
    "duckdb.error_type",
    "gcp.grpc_status",
    "generic.auth",
    "generic.column",
    "generic.config",
    "generic.connection",
    "generic.data",
    "generic.lock",
    "generic.missing",
    "generic.permission",
    "generic.resources",
    "generic.timeout",
    "http.status",
    "net.connect_timeout",
    "net.connection",
    "net.read_timeout",
    "postgres.auth",
    "postgres.config",
    "postgres.connection",
    "postgres.data",
    "postgres.deadlock",
    "postgres.hba",
    "postgres.lock_timeout",
    "postgres.must_be_owner",
    "postgres.permission",
    "postgres.resources",
    "postgres.semantic",
    "postgres.statement_timeout",
    "postgres.transaction_aborted",
    "postgres.undefined_column",
    "python.connection",
    "python.timeout",
    "shell.command_not_found",
    "snowflake.code",
    "snowflake.data_values",
    "snowflake.invalid_identifier",
    "snowflake.lock",
    "snowflake.no_current_database",
    "snowflake.warehouse_suspended",
    "sql.column",
    "sql.lock",
    "sql.missing",
    "sql.mysql",
    "sql.permission",
    "sqlstate.code",
    "trino.access_denied",
    "trino.error_name",
}


# The big-file path in each build: hyperscan + numpy, hyperscan with bytes.count, pure Python.
MODES = ["hyperscan+numpy", "hyperscan", "python"]
INSTALL = "pip install -e . (hyperscan and numpy are dependencies; hyperscan has wheels for x86_64 only)"


@pytest.fixture
def hyperscan() -> None:
    require(bigscan.hyperscan is not None, "hyperscan (the big-file scan's accelerated path)", INSTALL)


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param != "python":
        request.getfixturevalue("hyperscan")
    if request.param == "hyperscan+numpy":
        require(bigscan.numpy is not None, "numpy (counts the big-file scan's newlines)", INSTALL)
    if request.param != "hyperscan+numpy":
        monkeypatch.setattr(bigscan, "numpy", None)
    if request.param == "python":
        monkeypatch.setattr(bigscan, "hyperscan", None)
    return str(request.param)


def _both(path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int = 4096) -> tuple[LogAnalysis, LogAnalysis]:
    small = analyze_log(path)
    monkeypatch.setattr(analyzer, "GATE_MIN_BYTES", -1)
    monkeypatch.setattr(analyzer, "BIG_CHUNK_BYTES", chunk)
    return small, analyze_log(path)


def _key(r: LogAnalysis) -> tuple[object, ...]:
    return r.error_class, r.failed_node, r.root_cause, tuple((e.line, e.text) for e in r.evidence), r.skipped


@pytest.mark.parametrize("log", LOGS, ids=lambda p: "/".join(p.parts[-3:]))
def test_big_path_agrees_on_every_fixture(log: Path, mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    small, big = _both(log, monkeypatch)
    assert _key(big) == _key(small)


def _generated(chunk: int = 4096) -> bytes:
    info = b'{"timestamp":"2026-11-23T10:00:00Z","level":"info","event":"Processed batch 7 rows=259"}\n'
    junk = b"\xff\xfe binary \x00\x01 junk \xc3\x28 not utf-8\n"
    ansi = b'{"level":"info","event":"\\u001b[32mOK created sql table model main.stg_orders\\u001b[0m"}\n'
    out = bytearray()
    while len(out) + len(info) < 3 * chunk - 25:
        out += info
    out += b"x" * (3 * chunk - 25 - len(out)) + b"\n"
    # a header straddling the chunk boundary at 3 * chunk, then its message lines
    out += b"12:00:01  \x1b[31mFailure in model fct_orders (models/marts/fct_orders.sql)\x1b[0m\n"
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
    return bytes(out)


@pytest.mark.parametrize("chunk", [4096, 4099, 1000, 97])
def test_big_path_agrees_on_a_generated_log(
    tmp_path: Path, mode: str, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _generated()
    log = tmp_path / "attempt=1.log"
    log.write_bytes(data)
    assert data.find(b"Failure in model") < 3 * 4096 < data.find(b"Failure in model") + 16
    small, big = _both(log, monkeypatch, chunk)
    assert small.error_class == "invalid_identifier"
    assert _key(big) == _key(small)


def test_every_signature_is_gated_or_listed_as_context_only() -> None:
    catalog = load_catalog()
    assert all(required_literals(s.pattern) for s in catalog.signatures)  # every pattern yields literals
    unlisted = set(context_only_signatures(catalog)) - CONTEXT_ONLY
    assert not unlisted, (
        f"{unlisted}: no literal of these patterns is cheap to search in a big file; give the "
        "pattern an upper-case or quoted literal, or add them to CONTEXT_ONLY on purpose"
    )
    assert all(g.isascii() and b'"' not in g and b"\\" not in g for g in gate_literals(catalog))


def test_required_literals_are_in_every_match() -> None:
    for sig in load_catalog().signatures:
        if sig.example:
            m = sig.pattern.search(sig.example)
            lits = required_literals(sig.pattern)
            assert m is None or lits is None or any(lit in m.group(0) for lit in lits), sig.id


class _Follow:
    """A follow() with state, like a dbt header: on after a line with START, off after one with OK."""

    def __init__(self) -> None:
        self.open = False
        self.fed: list[tuple[int, bytes]] = []

    def __call__(self) -> bool:
        return self.open

    def feed(self, number: int, line: bytes) -> None:
        self.fed.append((number, line))
        if b"START" in line:
            self.open = True
        elif b"OK" in line:
            self.open = False


@pytest.mark.usefixtures("hyperscan")
@pytest.mark.parametrize("chunk", [4096, 333, 97])
@pytest.mark.parametrize("numpy", [True, False])
def test_scan_file_feeds_exactly_what_scan_feeds(
    tmp_path: Path, chunk: int, numpy: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same lines, same numbers, same order: hits straddling chunks, long lines, ANSI, junk, no final newline."""
    if not numpy:
        monkeypatch.setattr(bigscan, "numpy", None)
    monkeypatch.setattr(bigscan, "NUMPY_MIN_BYTES", 16)  # numpy counts even the small test ranges
    step = b"3 of 9 START sql view model main.stg_x ... [RUN]\nplain line\n" * 3 + b"OK done\n"
    data = _generated() + b"\n" + step * 40 + b"x" * (2 * MAX_LINE_BYTES) + b"RROR at the end"
    literals = (b"rror", b"RROR", b"Failure in model", b"invalid identifier '", b"START", b"exc_type")
    log = tmp_path / "a.log"
    for body in (data, data + b"\n", b"\n\n" + data):
        log.write_bytes(body)
        expected, got = _Follow(), _Follow()
        with log.open("rb") as f:
            bigscan.scan(f, expected.feed, literals, after=3, follow=expected, chunk_bytes=max(chunk, 512))
        with log.open("rb") as f:
            bigscan.scan_file(f.fileno(), got.feed, literals, after=3, follow=got, chunk_bytes=chunk, workers=2)
        assert got.fed == expected.fed
        lines = body.split(b"\n")
        assert all(lines[n - 1][:MAX_LINE_BYTES] == text for n, text in got.fed)  # numbers are exact


@pytest.mark.usefixtures("hyperscan")
def test_scan_file_on_an_empty_file_and_from_an_offset(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_bytes(b"")
    fed: list[tuple[int, bytes]] = []
    with log.open("rb") as f:
        bigscan.scan_file(f.fileno(), lambda n, b: fed.append((n, b)), (b"rror",), after=1)
    assert fed == []
    log.write_bytes(b"Error one\nok\nok\nError two")
    with log.open("rb") as f:
        bigscan.scan_file(f.fileno(), lambda n, b: fed.append((n, b)), (b"rror",), after=1, chunk_bytes=5)
    assert fed == [(1, b"Error one"), (2, b"ok"), (4, b"Error two")]
