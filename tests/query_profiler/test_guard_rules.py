"""SQL guard rules that mutation testing (``make mutate TARGET=guard``) found unpinned.

Each test names the rule it states; the mutants it kills are listed in mutation/README.md.
"""

from __future__ import annotations

import re

import pytest

from query_profiler.guard import Dialect, ensure_read_only
from shared.errors import UnsafeQuery

ADMITTED = [
    ("SHOW", "postgres"),  # SHOW with nothing after it
    ("SELECT count(*) FROM t;", "postgres"),  # one trailing ';' is not a second statement
    ("SELECT * FROM generate_series(1, 3)", "postgres"),  # a table function named without a schema
    ('SELECT "pg_catalog".lower(x) FROM t', "postgres"),  # the built-in schema, quoted as PostgreSQL folds it
    ('EXPLAIN SELECT "lower"(x) FROM t', "postgres"),  # the explained statement is read in its own dialect
]


@pytest.mark.parametrize(("sql", "dialect"), ADMITTED)
def test_read_only_statements_in_their_less_common_spellings_are_admitted(sql: str, dialect: Dialect) -> None:
    assert ensure_read_only(sql, dialect=dialect) == sql


# Each refusal says why, in words an operator can act on.
REFUSED = [
    ("", "empty statement"),
    ("EXPLAIN", "empty statement"),  # EXPLAIN of nothing
    ("/* nothing */", "expected exactly one statement, found 0"),
    ("SELECT 1; SELECT 2", "more than one statement (a ';' before the end, maybe inside a comment or string)"),
    ("SELECT 'a\\b'", "backslash in SQL text: dialects disagree on backslash escapes (string smuggling)"),
    ("SELECT $$x$$", "dollar-quoted string: not needed by the profiler and a smuggling vector"),
    ("SELECT /*! 1 */ 1", "nested, executable or hint comment (comment smuggling)"),
    ("SELECT /*+ hint */ 1", "nested, executable or hint comment (comment smuggling)"),
    ("SELEC 1", "cannot be parsed as postgres SQL: Invalid expression / Unexpected token. Line 1, Col: 7."),
    ("INSERT INTO t VALUES (1)", "INSERT is not admitted (only SELECT, WITH, SHOW, DESCRIBE, EXPLAIN)"),
    ("SELECT * INTO t2 FROM t", "SELECT ... INTO writes or changes state"),
    ("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", "DELETE inside a CTE writes or changes state"),
    ("SELECT random()", "function rand() is not on the read-only allow-list"),
    (
        "SELECT public.lower(x) FROM t",
        "function public.lower() is called through schema public: "
        "only pg_catalog and information_schema functions are admitted",
    ),
    (
        'SELECT "LOWER"(x) FROM t',
        'quoted function name "LOWER" is case-sensitive: not the built-in lower(), maybe a user function',
    ),
    ('EXPLAIN SELECT "LOWER"(x) FROM t', 'quoted function name "LOWER" is case-sensitive'),
]


@pytest.mark.parametrize(("sql", "reason"), REFUSED)
def test_a_refused_statement_names_its_reason(sql: str, reason: str) -> None:
    with pytest.raises(UnsafeQuery, match="^" + re.escape(reason)):
        ensure_read_only(sql, dialect="postgres")


@pytest.mark.parametrize("sql", ["VACUUM t", "RESET ALL", "REINDEX TABLE t", "LOAD 'x'"])
def test_only_show_and_explain_pass_as_commands_however_plain_their_arguments(sql: str) -> None:
    keyword = sql.split()[0]
    with pytest.raises(UnsafeQuery, match=f"^{keyword} is not a read-only statement$"):
        ensure_read_only(sql, dialect="postgres")


# A quoted schema name is case-sensitive: "PG_CATALOG" is another schema, which anybody may create and fill
# with a function called lower(). Only the spelling the server folds to names the built-in schema.
@pytest.mark.parametrize(
    ("sql", "dialect"),
    [
        ('SELECT "PG_CATALOG".lower(x) FROM t', "postgres"),
        ('SELECT "Information_Schema".lower(x) FROM t', "postgres"),
        ('SELECT * FROM "PG_CATALOG".generate_series(1, 3)', "postgres"),
        ('SELECT "information_schema".lower(x) FROM t', "snowflake"),
    ],
)
def test_a_quoted_schema_names_the_built_in_one_only_when_spelt_as_the_server_folds_it(
    sql: str, dialect: Dialect
) -> None:
    with pytest.raises(UnsafeQuery, match=r'^quoted schema name "[A-Za-z_]+" is case-sensitive'):
        ensure_read_only(sql, dialect=dialect)


@pytest.mark.parametrize(
    ("sql", "dialect"),
    [
        ("SELECT PG_CATALOG.lower(x) FROM t", "postgres"),  # unquoted: folded, so it is pg_catalog
        ('SELECT * FROM "pg_catalog".generate_series(1, 3)', "postgres"),
        ('SELECT "INFORMATION_SCHEMA".lower(x) FROM t', "snowflake"),
    ],
)
def test_an_unquoted_or_folded_schema_name_is_the_built_in_one(sql: str, dialect: Dialect) -> None:
    assert ensure_read_only(sql, dialect=dialect) == sql
