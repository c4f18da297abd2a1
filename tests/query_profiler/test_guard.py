"""The read-only guard: a table of admitted and rejected statements, in both dialects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlglot
from sqlglot.errors import SqlglotError

from query_profiler.guard import ALLOWED_FUNCTIONS, ensure_read_only
from query_profiler.sources.postgres import ACTIVITY_SQL, EXTENSION_SQL, STATEMENTS_SQL
from query_profiler.sources.snowflake import history_statement
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
    ("SELECT pg_sleep(0.1)", "pg_sleep"),
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
    with pytest.raises(UnsafeQuery) as caught:
        ensure_read_only(sql, dialect=dialect)  # type: ignore[arg-type]
    assert reason.lower() in str(caught.value).lower()


def test_data_modifying_cte_is_named_as_such() -> None:
    with pytest.raises(UnsafeQuery, match="DELETE inside a CTE"):
        ensure_read_only("WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x", dialect="postgres")


def test_a_model_name_with_a_quote_is_a_bound_value_not_sql() -> None:
    # The statement carries a placeholder; the hostile name is a parameter value the guard never needs to see.
    hostile = "fct_orders'); DROP TABLE orders; --"
    sql = "SELECT query FROM pg_stat_activity WHERE query ILIKE :pattern"
    assert ensure_read_only(sql, dialect="postgres") == sql
    with pytest.raises(UnsafeQuery, match="more than one statement"):
        ensure_read_only(f"SELECT query FROM pg_stat_activity WHERE query ILIKE '%{hostile}%'", dialect="postgres")


@pytest.mark.parametrize("sql", [ACTIVITY_SQL, EXTENSION_SQL, STATEMENTS_SQL])
def test_every_postgres_statement_passes(sql: str) -> None:
    assert ensure_read_only(sql, dialect="postgres") == sql


# --- functions: an allow-list, not a deny-list ------------------------------------------------------

ADMITTED_FUNCTIONS = [
    "SELECT count(*), count(DISTINCT a), sum(b), min(b), max(b), avg(b), stddev(b) FROM t GROUP BY a",
    "SELECT lower(a), upper(a), substr(a, 1, 2), substring(a, 1, 2), left(a, 3), length(a), trim(a) FROM t",
    "SELECT concat(a, b), replace(a, 'x', 'y'), split_part(a, ',', 1), position('x' IN a) FROM t",
    "SELECT regexp_replace(a, 'x', 'y'), regexp_substr(a, 'x'), regexp_like(a, 'x') FROM t",
    "SELECT date_trunc('hour', ts), extract(epoch FROM ts), date_part('day', ts), now(), current_timestamp FROM t",
    "SELECT to_char(ts, 'YYYY'), to_timestamp(1700000000), to_timestamp(a, 'YYYY-MM-DD') FROM t",
    "SELECT abs(b), round(b, 2), floor(b), ceil(b), mod(b, 2), power(b, 2) FROM t",
    "SELECT coalesce(a, b), nullif(a, b), greatest(a, b), least(a, b), CASE WHEN a > 1 THEN 1 ELSE 0 END FROM t",
    "SELECT CAST(a AS INT), row_number() OVER (PARTITION BY a ORDER BY b DESC) FROM t",
    "SELECT unnest(blocking), array_length(blocking, 1), cardinality(blocking) FROM t WHERE 4 = ANY(blocking)",
    "SELECT a FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.a = t.a) AND (b IS NULL OR b BETWEEN 1 AND 2)",
    "SELECT COUNT(*), Lower(a), UPPER(b) FROM t GROUP BY a, b",  # names compare case-insensitively
]

POSTGRES_ONLY_ADMITTED = [
    "SELECT pid, pg_blocking_pids(pid), (pg_blocking_pids(pid))[1], clock_timestamp() FROM pg_stat_activity",
    "SELECT pg_catalog.lower(query), unnest(pg_blocking_pids(pid)) FROM pg_stat_activity",
    "SELECT current_setting('server_version_num'), pg_backend_pid(), current_database()",
    "SELECT a::int, a ~ 'x', j -> 'k', j ->> 'k', string_agg(a, ',') FROM t GROUP BY a, j",
    "SELECT * FROM pg_catalog.generate_series(1, 3)",
    'SELECT "lower"(a) FROM t',  # quoted, but spelt as PostgreSQL folds: the built-in
]

SNOWFLAKE_ONLY_ADMITTED = [
    "SELECT QUERY_ID FROM TABLE(INFORMATION_SCHEMA.QUERY_HISTORY(END_TIME_RANGE_START => TO_TIMESTAMP_LTZ(?), "
    "RESULT_LIMIT => ?)) WHERE QUERY_TEXT ILIKE ? ORDER BY START_TIME DESC",
    "SELECT DATEADD(hour, -1, CURRENT_TIMESTAMP()), DATEDIFF('second', START_TIME, END_TIME) FROM t",
    "SELECT IFF(a > 1, 'y', 'n'), NVL(a, b), TRY_CAST(a AS INT), PARSE_JSON(QUERY_TAG):dbt_model::string FROM t",
    "SELECT LISTAGG(a, ','), MEDIAN(b), COUNT_IF(b > 1) FROM t",
    'SELECT "LOWER"(a) FROM t',  # quoted, but spelt as Snowflake folds: the built-in
]

# Each statement calls one function that is not on the allow-list; the reason names it.
REJECTED_FUNCTIONS = [
    # the adversarial run: admitted by the deny-list; PostgreSQL executed the first three READ ONLY
    ("SELECT pg_drop_replication_slot('s')", "pg_drop_replication_slot"),
    ("SELECT pg_create_physical_replication_slot('s')", "pg_create_physical_replication_slot"),
    ("SELECT pg_notify('channel', 'payload')", "pg_notify"),
    ("SELECT pg_sleep(1)", "pg_sleep"),
    # the deny-list's own entries: still rejected, now by default
    ("SELECT pg_advisory_lock(1)", "pg_advisory_lock"),
    ("SELECT pg_read_file('/etc/passwd')", "pg_read_file"),
    ("SELECT * FROM pg_ls_dir('.')", "pg_ls_dir"),
    ("SELECT lo_export(1, '/tmp/x')", "lo_export"),
    ("SELECT * FROM dblink('host=elsewhere', 'DELETE FROM t') AS r(a int)", "dblink"),
    ("SELECT pg_logical_emit_message(true, 'p', 'm')", "pg_logical_emit_message"),
    ("SELECT txid_current()", "txid_current"),
    ("SELECT pg_switch_wal()", "pg_switch_wal"),
    ("SELECT query_to_xml('select 1', true, true, '')", "query_to_xml"),
    ("SELECT SYSTEM$CANCEL_ALL_QUERIES(42)", "system$cancel_all_queries"),
    ("SELECT SYSTEM$WAIT(10)", "system$wait"),
    # however it is spelt or wherever it hides
    ("SELECT pg_catalog.pg_sleep(1)", "pg_sleep"),
    ('SELECT "pg_sleep"(1)', "pg_sleep"),
    ('SELECT "PG_SLEEP"(1)', "pg_sleep"),
    ("SELECT PG_SLEEP(1)", "pg_sleep"),
    ("SELECT Pg_Sleep(1)", "pg_sleep"),
    ("SELECT * FROM pg_sleep(1)", "pg_sleep"),
    ("WITH x AS (SELECT pg_sleep(1)) SELECT * FROM x", "pg_sleep"),
    ("SELECT a FROM t WHERE a = (SELECT pg_notify('c', 'p'))", "pg_notify"),
    ("SELECT count(*) FROM t GROUP BY pg_sleep(1)", "pg_sleep"),
    ("SELECT lower(pg_read_file('x'))", "pg_read_file"),
    ("EXPLAIN SELECT pg_sleep(1)", "pg_sleep"),
]


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("sql", ADMITTED_FUNCTIONS)
def test_ordinary_read_only_functions_are_on_the_allow_list(sql: str, dialect: str) -> None:
    assert ensure_read_only(sql, dialect=dialect) == sql  # type: ignore[arg-type]


@pytest.mark.parametrize("sql", POSTGRES_ONLY_ADMITTED)
def test_postgres_functions_our_adapter_and_operators_need_are_admitted(sql: str) -> None:
    assert ensure_read_only(sql, dialect="postgres") == sql


@pytest.mark.parametrize("sql", SNOWFLAKE_ONLY_ADMITTED)
def test_snowflake_functions_our_adapter_and_operators_need_are_admitted(sql: str) -> None:
    assert ensure_read_only(sql, dialect="snowflake") == sql


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(("sql", "function"), REJECTED_FUNCTIONS)
def test_a_function_not_on_the_allow_list_is_rejected_by_name(sql: str, function: str, dialect: str) -> None:
    with pytest.raises(UnsafeQuery) as caught:
        ensure_read_only(sql, dialect=dialect)  # type: ignore[arg-type]
    assert f"function {function}()" in str(caught.value)
    assert "allow-list" in str(caught.value)


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(
    "sql",
    [
        "SELECT set_config('default_transaction_read_only', 'off', false)",
        "SELECT pg_catalog.set_config('transaction_read_only', 'off', true)",
        "SELECT SET_CONFIG('statement_timeout', '0', false)",
        "SELECT current_setting('search_path'), set_config('search_path', 'evil', false)",
        "WITH s AS (SELECT set_config('role', 'admin', true) AS v) SELECT v FROM s",
    ],
)
def test_set_config_is_refused_because_it_writes_the_setting_that_current_setting_only_reads(
    sql: str, dialect: str
) -> None:
    # Given a statement that calls set_config, however spelt or wherever it hides (it could make a
    # READ ONLY session writable), even next to current_setting, its admitted reading twin
    # Then the guard refuses it by name
    with pytest.raises(UnsafeQuery, match=r"function set_config\(\) is not on the read-only allow-list"):
        ensure_read_only(sql, dialect=dialect)  # type: ignore[arg-type]


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(
    ("sql", "schema"),
    [
        ("SELECT public.lower(a) FROM t", "public"),
        ("SELECT evil.count(a) FROM t", "evil"),
        ("SELECT * FROM public.generate_series(1, 3)", "public"),
        ("SELECT * FROM other_db.pg_catalog.generate_series(1, 3)", "other_db.pg_catalog"),
    ],
)
def test_an_allowed_name_called_through_another_schema_is_rejected(sql: str, schema: str, dialect: str) -> None:
    with pytest.raises(UnsafeQuery, match=f"called through schema {schema}:"):
        ensure_read_only(sql, dialect=dialect)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("sql", "dialect"),
    [
        ("SELECT * FROM TABLE(other.QUERY_HISTORY())", "snowflake"),
        ("SELECT * FROM TABLE(other_db.INFORMATION_SCHEMA.QUERY_HISTORY())", "snowflake"),
    ],
)
def test_query_history_only_through_this_databases_information_schema(sql: str, dialect: str) -> None:
    with pytest.raises(UnsafeQuery, match="called through schema"):
        ensure_read_only(sql, dialect=dialect)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("sql", "dialect"),
    [('SELECT "LOWER"(a) FROM t', "postgres"), ('SELECT "lower"(a) FROM t', "snowflake")],
)
def test_a_quoted_allowed_name_in_another_case_than_the_server_folds_is_rejected(sql: str, dialect: str) -> None:
    # sqlglot parses both as exp.Lower, but the server looks for a (user) function with that exact name.
    with pytest.raises(UnsafeQuery, match="quoted function name"):
        ensure_read_only(sql, dialect=dialect)  # type: ignore[arg-type]


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("name", sorted(ALLOWED_FUNCTIONS))
def test_every_allowed_name_is_admitted_however_sqlglot_types_it(name: str, dialect: str) -> None:
    # sqlglot turns many names into typed nodes with other names (to_char -> TIME_TO_STR, unnest ->
    # EXPLODE): every arity that parses must still be admitted, so a sqlglot upgrade that retypes a
    # name fails here rather than in production.
    arities = ("", "a", "a, b", "a, b, c")
    calls = ["try_cast(a AS INT)"] if name == "try_cast" else [f"{name}({args})" for args in arities]
    admitted = 0
    for call in calls:
        sql = f"SELECT {call} FROM t"
        try:
            sqlglot.parse_one(sql, read=dialect)
        except SqlglotError:
            continue
        assert ensure_read_only(sql, dialect=dialect) == sql  # type: ignore[arg-type]
        admitted += 1
    assert admitted, f"no call of {name} parses in {dialect}"


def test_the_snowflake_history_statement_passes() -> None:
    now = datetime.now(UTC)
    start, end = now - timedelta(hours=2), now - timedelta(hours=1)
    sql, _ = history_statement(start=start, end=end, text_filters=["fct_orders"])
    assert ensure_read_only(sql, dialect="snowflake") == sql
