"""The catalog is built from the vendors' own error lists: every listed code is reachable, every
signature names its reference, and the literal gate never hides a signature from a line it matches."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from log_analyzer.catalog import load_catalog, trie_pattern
from log_analyzer.models import ErrorClass
from log_analyzer.normalize import pieces

CATALOG = load_catalog()
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

# How each vendor prints a code of its list: a code of that table must be classified from one of these lines.
CANONICAL = {
    "sqlstate": ("sqlstate.code", ["ERROR: something failed SQLSTATE: {code}"]),
    "snowflake": ("snowflake.code", ["{code} (XX000): something failed"]),
    "trino": ("trino.error_name", ['TrinoUserError(type=USER_ERROR, name={code}, message="x", query_id=1)']),
    "spark": ("databricks.error_condition", ["AnalysisException: [{code}] something failed"]),
    "postgres_exceptions": (
        "postgres.exception_class",
        ["psycopg2.errors.{code}: something failed", "asyncpg.exceptions.{code}: something failed"],
    ),
    "bigquery": ("bigquery.reason", ["{{'reason': '{code}', 'message': 'x'}}"]),
    "google_api": ("gcp.api_exception", ["google.api_core.exceptions.{code}: 400 something failed"]),
    "aws": ("aws.client_error", ["An error occurred ({code}) when calling the GetObject operation: x"]),
    "http": ("http.status", ["requests.exceptions.HTTPError: {code} Client Error: x for url: https://h/"]),
    "duckdb": ("duckdb.error_type", ["{code} Error: something failed", "duckdb.{code}Exception: something failed"]),
    "grpc": ("gcp.grpc_status", ["status = StatusCode.{code}"]),
    "databricks_api": (
        "databricks.api_error",
        ['{{"error_code": "{code}", "message": "x"}}', "databricks.sdk.errors.platform.{code}: x"],
    ),
    "mysql": ("sql.mysql", ["ERROR {code} (HY000): something failed"]),
    "airflow_exceptions": ("airflow.exception_class", ["airflow.exceptions.{code}: something failed"]),
    "databricks_termination": (
        "databricks.termination_code",
        [
            "Error: cannot start cluster: x is not able to transition from TERMINATED to RUNNING: y, "
            "Termination info: code: {code}, type: CLOUD_FAILURE, parameters: map[]",
        ],
    ),
}


def test_every_table_has_a_canonical_line_and_every_class_from_signature_a_table() -> None:
    assert set(CANONICAL) == set(CATALOG.codes)
    assert {s.class_from for s in CATALOG.signatures if s.class_from} == set(CATALOG.codes)


@pytest.mark.parametrize(
    ("table", "code"),
    [(t, c) for t, codes in sorted(CATALOG.codes.items()) for c in sorted(codes) if len(c) > 2],
    ids=lambda v: str(v),
)
def test_every_listed_code_is_classified_from_its_vendors_line(table: str, code: str) -> None:
    signature, lines = CANONICAL[table]
    matches = [CATALOG.match(line.format(code=code), 1) for line in lines]
    expected = CATALOG.codes[table][code]
    # one of the vendor's forms gets the table's class (from the table's signature, or a more specific one)
    assert any(m is not None and m.error_class is expected for m in matches), (table, code, matches)
    # and where the table's signature decides, it says what the table says
    assert all(m.error_class is expected for m in matches if m is not None and m.signature_id == signature)


def test_a_sqlstate_the_table_does_not_list_is_classified_by_its_class() -> None:
    assert CATALOG.code_class("sqlstate", "08P99") is ErrorClass.CONNECTION_ERROR
    assert CATALOG.code_class("sqlstate", "23505") is ErrorClass.DUPLICATE_ROW
    assert CATALOG.code_class("sqlstate", "23502") is ErrorClass.DATA_ERROR
    assert CATALOG.code_class("sqlstate", "99999") is None
    assert CATALOG.code_class("postgres_exceptions", "UniqueViolationError") is ErrorClass.DUPLICATE_ROW  # asyncpg


def test_a_code_its_table_does_not_list_leaves_the_line_to_weaker_signatures() -> None:
    match = CATALOG.match("002002 (42710): SQL compilation error:", 1)
    assert match is not None and match.signature_id == "snowflake.code_only"


def test_every_signature_and_table_names_its_reference() -> None:
    missing = [s.id for s in CATALOG.signatures if not (s.ref or "").startswith("https://")]
    assert not missing, missing
    assert all(ref.startswith("https://") for _source, ref in CATALOG.code_refs.values())


def test_wrappers_are_weak() -> None:
    wrappers = [s for s in CATALOG.signatures if s.wrapper]
    assert {s.id for s in wrappers} >= {"airflow.bash_nonzero", "airflow.return_code", "airflow.task_return_code"}
    assert all(s.rank < 50 for s in wrappers)


def _lines() -> list[str]:
    texts = [s.example for s in CATALOG.signatures if s.example]
    for log in sorted(FIXTURES.glob("**/*.log"))[:40]:
        for raw in log.read_bytes().splitlines()[:400]:
            texts.extend(p.text for p in pieces(raw))
    return texts


def test_the_gate_finds_every_signature_whose_literal_is_in_the_line() -> None:
    checked = 0
    for text in _lines():
        lowered = text.lower()
        naive = {i for w, idx in CATALOG.by_literal.items() if w in lowered for i in idx}
        assert CATALOG.gate is not None
        found: set[int] = set()
        hit = CATALOG.gate.search(lowered)
        while hit is not None:
            found |= CATALOG.by_prefix[hit.group()]
            hit = CATALOG.gate.search(lowered, hit.start() + 1)
        assert found == naive, text
        checked += bool(naive)
    assert checked > 100


@pytest.mark.parametrize(
    ("words", "text", "longest"),
    [
        (["ab", "abc", "b"], "xabcz", "abc"),
        (["error", "error: ", "err"], "an error: x", "error: "),
        (["a.b", "a+"], "xa+y", "a+"),
    ],
)
def test_the_trie_regex_matches_the_longest_word_at_the_first_position(
    words: list[str], text: str, longest: str
) -> None:
    m = re.search(trie_pattern(words), text)
    assert m is not None and m.group() == longest
