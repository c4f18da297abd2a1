"""The read-only guard: a table of admitted and rejected statements, in both dialects."""

from __future__ import annotations

import pytest

from query_profiler.guard import ensure_read_only
from query_profiler.sources.postgres import ACTIVITY_SQL, EXTENSION_SQL, STATEMENTS_SQL
from shared.errors import UnsafeQuery

DIALECTS = ("postgres", "snowflake")

ADMITTED = [
    "SELECT 1",
    "select 1;",
    "WITH recent AS (SELECT * FROM t WHERE ts > :since) SELECT * FROM recent",
    "SELECT a FROM t UNION ALL SELECT a FROM u",
    "SELECT * FROM (SELECT * FROM t) AS s WHERE s.model ILIKE ?",
    "SHOW TABLES",
    "DESCRIBE t",
    "EXPLAIN SELECT * FROM t",
    '/* {"app": "dbt", "node_id": "model.x.y"} */ SELECT 1',
    "SELECT 1 -- trailing comment",
    "SELECT pg_sleep(0.1)",
]

REJECTED = [
    ("SELECT 1; DROP TABLE x", "more than one statement"),
    ("/* */ DELETE FROM t", "DELETE"),
    ("DELETE FROM t", "DELETE"),
    ("INSERT INTO t VALUES (1)", "INSERT"),
    ("UPDATE t SET a = 1", "UPDATE"),
    ("MERGE INTO t USING s ON t.a = s.a WHEN MATCHED THEN DELETE", "MERGE"),
    ("DROP TABLE x", "DROP"),
    ("CREATE TABLE x (a int)", "CREATE"),
    ("ALTER TABLE x ADD COLUMN b int", "ALTER"),
    ("TRUNCATE t", "TRUNCATE"),
    ("GRANT SELECT ON t TO bob", "GRANT"),
    ("COPY t TO STDOUT", "COPY"),
    ("CALL refresh_everything()", "CALL"),
    ("SELECT * INTO new_table FROM t", "SELECT ... INTO"),
    ("SELECT * FROM t FOR UPDATE", "LOCK"),
    ("SET search_path = evil", "SET"),
    ("BEGIN", "TRANSACTION"),
    ("EXPLAIN ANALYZE DELETE FROM t", "DELETE"),
    ("SELECT pg_terminate_backend(4411)", "pg_terminate_backend"),
    ("SELECT nextval('seq')", "nextval"),
    ("SELECT pg_advisory_lock(1)", "pg_advisory_lock"),
    ("SELECT SYSTEM$CANCEL_QUERY('01b2')", "system$cancel_query"),
    ("SELECT 1 /* ; DROP TABLE x */", "more than one statement"),
    ("SELECT 'a''; DROP TABLE x; --'", "more than one statement"),
    ("SELECT 1 -- ;\nDROP TABLE x", "more than one statement"),
    ("SELECT E'\\''", "backslash"),
    ("SELECT $$ DROP TABLE x $$", "dollar-quoted"),
    ("SELECT 1 /* /* */ , 2 */", "comment smuggling"),
    ("/*!50000 DROP TABLE x */ SELECT 1", "comment smuggling"),
    ("", "empty statement"),
    ("VALUES (1)", "VALUES"),
]


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("sql", ADMITTED)
def test_admits_read_only_statements(sql: str, dialect: str) -> None:
    assert ensure_read_only(sql, dialect=dialect) == sql  # type: ignore[arg-type]


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(("sql", "reason"), REJECTED)
def test_rejects_with_the_reason(sql: str, reason: str, dialect: str) -> None:
    with pytest.raises(UnsafeQuery, match=None) as caught:
        ensure_read_only(sql, dialect=dialect)  # type: ignore[arg-type]
    assert reason.lower() in str(caught.value).lower() or "cannot be parsed" in str(caught.value)


def test_data_modifying_cte_is_named_as_such() -> None:
    with pytest.raises(UnsafeQuery, match="DELETE inside a CTE"):
        ensure_read_only("WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x", dialect="postgres")


def test_a_model_name_with_a_quote_is_a_bound_value_not_sql() -> None:
    # The statement carries a placeholder; the hostile name is a parameter value the guard never needs to see.
    hostile = "fct_orders'); DROP TABLE orders; --"
    sql = "SELECT query FROM pg_stat_activity WHERE query ILIKE :pattern"
    assert ensure_read_only(sql, dialect="postgres") == sql
    with pytest.raises(UnsafeQuery):
        ensure_read_only(
            f"SELECT query FROM pg_stat_activity WHERE query ILIKE '%{hostile}%'", dialect="postgres"
        )


@pytest.mark.parametrize("sql", [ACTIVITY_SQL, EXTENSION_SQL, STATEMENTS_SQL])
def test_every_postgres_statement_passes(sql: str) -> None:
    ensure_read_only(sql, dialect="postgres")
