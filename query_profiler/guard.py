"""The read-only SQL guard: every statement a query-history adapter sends passes through here first.

Read-only is enforced in code, not trusted to the warehouse role. A statement is admitted only when
sqlglot parses it as exactly one SELECT / WITH ... SELECT / set operation of SELECTs, SHOW, DESCRIBE,
or EXPLAIN of an admitted statement, nothing inside it writes, and every function it calls is on
an allow-list. Rejected, with the reason:

- more than one statement, or a ``;`` anywhere but at the very end (hidden in a comment or string);
- DML, DDL, COPY, CALL, SET, transaction control, SELECT ... INTO, FOR UPDATE, data-modifying CTEs;
- any function not on ``ALLOWED_FUNCTIONS`` (names compared case-insensitively, quoted or not).
  A deny-list of side effects cannot be complete: PostgreSQL ran ``pg_drop_replication_slot``,
  ``pg_create_physical_replication_slot`` and ``pg_notify`` inside a READ ONLY transaction, so
  ``pg_sleep``, ``set_config``, ``nextval``, advisory locks, ``SYSTEM$...`` and every function
  nobody thought of are refused by default;
- a function called through a schema other than ``pg_catalog`` or ``information_schema``
  (``public.lower(x)`` may be anybody's function, whatever its name), or by a quoted name in
  another case than the server folds to (``"LOWER"(x)`` in PostgreSQL is not ``lower(x)``);
- text that tokenizers read differently from the server (comment and string smuggling): backslashes
  (Snowflake escapes with them, standard PostgreSQL strings do not), dollar quoting, nested or
  executable (``/*!``) comments.

How functions are recognised: sqlglot parses a function it knows into a typed node (``lower(x)`` is
``exp.Lower``, ``now()`` is ``exp.CurrentTimestamp``, ``unnest`` is ``exp.Explode``) and any other
into ``exp.Anonymous`` carrying the name as written. Both are checked: an anonymous call by its
name, a typed one by sqlglot's SQL names for its class (``Func.sql_names()``), which is why the
allow-list also holds sqlglot's names for the functions we admit (``time_to_str`` is ``to_char``).
A few SQL operators and keywords are typed Func nodes too (AND, ``::``, CASE, EXISTS, ``->``,
``~``, ``@>``); they are admitted by node type (``_SYNTAX_NODES``), not by name.

Our adapters never need anything else, so the guard can be strict. Values always travel as bound
parameters, so a hostile model name never reaches the text checked here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Literal, cast

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect as SqlglotDialect
from sqlglot.errors import SqlglotError
from sqlglot.tokens import TokenType

from shared.errors import UnsafeQuery

Dialect = Literal["postgres", "snowflake"]

_ADMITTED_ROOTS: tuple[type[exp.Expression], ...] = (exp.Select, exp.SetOperation, exp.Show, exp.Describe)

# Node types that write, change the session, or lock rows; looked up by name so a sqlglot release
# that renames one does not break the import (a missing name simply is not there to match).
_FORBIDDEN_NODE_NAMES = (
    "Insert",
    "Update",
    "Delete",
    "Merge",
    "Create",
    "Drop",
    "Alter",
    "AlterTable",
    "Copy",
    "Command",
    "Into",
    "Set",
    "SetItem",
    "Transaction",
    "Commit",
    "Rollback",
    "Grant",
    "Revoke",
    "TruncateTable",
    "Lock",
    "Use",
    "LoadData",
    "Pragma",
    "Analyze",
    "Cache",
    "Uncache",
    "Refresh",
    "Kill",
    "Put",
    "Get",
)


def _node_types(names: tuple[str, ...]) -> tuple[type[exp.Expression], ...]:
    return tuple(t for t in (getattr(exp, name, None) for name in names) if isinstance(t, type))


_FORBIDDEN_NODES = _node_types(_FORBIDDEN_NODE_NAMES)

# Operators and keywords that sqlglot represents as Func subclasses. None of them calls a function of
# the database's choosing: boolean connectives, CAST and ``::``, CASE, EXISTS (subquery), ARRAY[...],
# COLLATE, ``^``, and the JSON (``->``, ``->>``, ``#>``, ``@>``, ``?``, Snowflake ``a:b``), array
# (``@>``, ``<@``, ``&&``) and regex (``~``, ``~*``) operators.
_SYNTAX_NODE_NAMES = (
    "And",
    "Or",
    "Xor",
    "Cast",
    "TryCast",
    "Case",
    "Exists",
    "Array",
    "Collate",
    "Pow",
    "JSONExtract",
    "JSONExtractScalar",
    "JSONBExtract",
    "JSONBExtractScalar",
    "JSONBContains",
    "JSONBContainsTopKey",
    "JSONBContainsAnyTopKeys",
    "JSONBContainsAllTopKeys",
    "ArrayContains",
    "ArrayContainsAll",
    "ArrayContainedBy",
    "ArrayOverlaps",
    "RegexpLike",
    "RegexpILike",
)
_SYNTAX_NODES = _node_types(_SYNTAX_NODE_NAMES)

# The only functions a statement may call, lower case, as written in SQL. Every one reads; none
# writes, locks, sleeps, signals, reads files or reaches another server.
ALLOWED_FUNCTIONS = frozenset(
    {
        # (a) what our adapters send: sources/postgres.py (pg_stat_activity, pg_stat_statements)
        "pg_blocking_pids",
        "pg_backend_pid",
        "clock_timestamp",
        "current_database",
        "current_setting",  # reads one setting; set_config (its writing twin) is not here
        "cardinality",
        "coalesce",
        # ... and sources/snowflake.py (TABLE(INFORMATION_SCHEMA.QUERY_HISTORY(...)), bound times)
        "query_history",
        "query_history_by_session",
        "query_history_by_user",
        "query_history_by_warehouse",
        "to_timestamp_ltz",
        # (b) ordinary read-only SQL. Aggregates:
        "count",
        "count_if",
        "sum",
        "min",
        "max",
        "avg",
        "stddev",
        "stddev_pop",
        "stddev_samp",
        "variance",
        "var_pop",
        "var_samp",
        "bool_and",
        "bool_or",
        "every",
        "array_agg",
        "string_agg",
        "listagg",
        "percentile_cont",
        "percentile_disc",
        "median",
        "mode",
        "any_value",
        "approx_count_distinct",
        # window functions
        "row_number",
        "rank",
        "dense_rank",
        "percent_rank",
        "cume_dist",
        "ntile",
        "lag",
        "lead",
        "first_value",
        "last_value",
        "nth_value",
        # strings
        "lower",
        "upper",
        "initcap",
        "length",
        "len",
        "char_length",
        "character_length",
        "octet_length",
        "substr",
        "substring",
        "left",
        "right",
        "trim",
        "ltrim",
        "rtrim",
        "btrim",
        "concat",
        "concat_ws",
        "replace",
        "split_part",
        "position",
        "strpos",
        "lpad",
        "rpad",
        "reverse",
        "repeat",
        "translate",
        "starts_with",
        "startswith",
        "endswith",
        "contains",
        "md5",
        "regexp_replace",
        "regexp_match",
        "regexp_matches",
        "regexp_substr",
        "regexp_like",
        "regexp_count",
        "regexp_instr",
        "regexp_split_to_array",
        "rlike",
        # dates and times
        "date_trunc",
        "extract",
        "date_part",
        "now",
        "current_timestamp",
        "current_date",
        "current_time",
        "localtimestamp",
        "localtime",
        "statement_timestamp",
        "transaction_timestamp",
        "sysdate",
        "to_char",
        "to_varchar",
        "to_timestamp",
        "to_timestamp_ntz",
        "to_timestamp_tz",
        "to_date",
        "dateadd",
        "datediff",
        "timestampadd",
        "timestampdiff",
        "date_add",
        "date_diff",
        "age",
        "convert_timezone",
        "make_interval",
        # math
        "abs",
        "round",
        "floor",
        "ceil",
        "ceiling",
        "trunc",
        "mod",
        "power",
        "pow",
        "sqrt",
        "ln",
        "log",
        "exp",
        "sign",
        "div",
        "greatest",
        "least",
        # casts and conditionals (CAST, ``::`` and CASE are syntax: _SYNTAX_NODES)
        "nullif",
        "nvl",
        "nvl2",
        "ifnull",
        "iff",
        "zeroifnull",
        "nullifzero",
        "try_cast",
        "to_number",
        # arrays (pg_blocking_pids returns int[]); ANY/ALL are not functions in sqlglot's tree
        "unnest",
        "array_length",
        "array_upper",
        "array_lower",
        "array_to_string",
        "array_position",
        "array_contains",
        "array_size",
        "generate_series",
        # JSON (query tags are JSON)
        "parse_json",
        "try_parse_json",
        "json_extract_path_text",
        "get_path",
        # who and where: identity only
        "current_schema",
        "current_user",
        "session_user",
        "current_role",
        "current_warehouse",
        "version",
        "current_version",
    }
)

# sqlglot's SQL names for the typed nodes the functions above parse to, where they differ from what
# was written (derived by parsing each name above with 0-3 arguments in both dialects, sqlglot 30):
# to_char -> time_to_str, unnest -> explode, now -> current_timestamp, string_agg -> group_concat, ...
_SQLGLOT_NAMES = frozenset(
    {
        "approx_distinct",  # approx_count_distinct
        "byte_length",  # octet_length (Snowflake)
        "current_timestamp",  # now, localtimestamp, sysdate
        "current_version",  # version
        "date_add",  # dateadd, timestampadd
        "datediff",  # date_diff, timestampdiff
        "ends_with",  # endswith
        "explode",  # unnest in a select list
        "exploding_generate_series",  # generate_series in FROM (PostgreSQL)
        "group_concat",  # string_agg, listagg
        "if",  # iff, zeroifnull, nullifzero
        "json_extract",  # get_path
        "json_extract_scalar",  # json_extract_path_text
        "logical_and",  # bool_and
        "logical_or",  # bool_or
        "pad",  # lpad, rpad
        "regexp_extract",  # regexp_substr (Snowflake)
        "str_position",  # position, strpos
        "str_to_date",  # to_date (PostgreSQL)
        "str_to_time",  # to_timestamp(text, format), to_timestamp_ltz/_ntz/_tz (Snowflake)
        "time_to_str",  # to_char (PostgreSQL)
        "timestamp_trunc",  # date_trunc
        "ts_or_ds_to_date",  # to_date (Snowflake)
        "unix_to_time",  # to_timestamp(epoch)
        "variance_pop",  # var_pop
    }
)
_ADMITTED_NAMES = ALLOWED_FUNCTIONS | _SQLGLOT_NAMES

# Schemas a function may be called through: PostgreSQL's built-ins and the information schema
# (Snowflake's QUERY_HISTORY table function lives there). Compared case-insensitively.
_ADMITTED_QUALIFIERS = frozenset({"pg_catalog", "information_schema"})

_DOLLAR_QUOTE = re.compile(r"\$[A-Za-z_]*\$")
_BLOCK_COMMENT = re.compile(r"/\*(.*?)\*/", re.S)
_EXPLAIN_OPTION = re.compile(r"^\s*(?:\([^()]*\)|ANALY[SZ]E\b|VERBOSE\b|USING\s+\w+)", re.I)
_SHOW_ARGUMENTS = re.compile(r"^[\w\s.\"'%,=*]*$")


def ensure_read_only(sql: str, *, dialect: Dialect) -> str:
    """Return ``sql`` unchanged when it is one read-only statement; raise UnsafeQuery saying why not."""
    text = _check_text(sql)
    statement = _parse_one(text, dialect)
    if isinstance(statement, exp.Command):  # sqlglot's fallback for EXPLAIN, Postgres SHOW, CALL, ...
        _check_command(statement, dialect)
    else:
        _check_root(statement)
        _check_tree(statement, dialect)
        _check_quoted_calls(text, dialect)
    return sql


def _check_text(sql: str) -> str:
    text = sql.strip()
    if text.endswith(";"):
        text = text[:-1].rstrip()
    if not text:
        raise UnsafeQuery("empty statement")
    if ";" in text:
        raise UnsafeQuery("more than one statement (a ';' before the end, maybe inside a comment or string)")
    if "\\" in text:
        raise UnsafeQuery("backslash in SQL text: dialects disagree on backslash escapes (string smuggling)")
    if _DOLLAR_QUOTE.search(text):
        raise UnsafeQuery("dollar-quoted string: not needed by the profiler and a smuggling vector")
    for comment in _BLOCK_COMMENT.finditer(text):
        body = comment.group(1)
        if "/*" in body or body.startswith(("!", "+")):
            raise UnsafeQuery("nested, executable or hint comment (comment smuggling)")
    return text


def _parse_one(text: str, dialect: Dialect) -> exp.Expression:
    try:
        statements = [s for s in sqlglot.parse(text, read=dialect) if s is not None]
    except SqlglotError as exc:
        raise UnsafeQuery(f"cannot be parsed as {dialect} SQL: {str(exc).splitlines()[0][:200]}") from exc
    if len(statements) != 1:
        raise UnsafeQuery(f"expected exactly one statement, found {len(statements)}")
    return cast(exp.Expression, statements[0])


def _check_command(statement: exp.Command, dialect: Dialect) -> None:
    keyword = str(statement.this).upper()
    rest = statement.expression
    rest = rest.name if isinstance(rest, exp.Expression) else str(rest or "")
    if keyword == "EXPLAIN":
        ensure_read_only(_strip_explain_options(rest), dialect=dialect)  # the explained statement, guarded
        return
    if keyword == "SHOW" and _SHOW_ARGUMENTS.match(rest):
        return
    raise UnsafeQuery(f"{keyword} is not a read-only statement")


def _check_root(statement: exp.Expression) -> None:
    if not isinstance(statement, _ADMITTED_ROOTS):
        what = statement.key.upper()
        raise UnsafeQuery(f"{what} is not admitted (only SELECT, WITH, SHOW, DESCRIBE, EXPLAIN)")


def _strip_explain_options(rest: str) -> str:
    while match := _EXPLAIN_OPTION.match(rest):
        rest = rest[match.end() :]
    return rest


def _check_tree(statement: exp.Expression, dialect: Dialect) -> None:
    for node in statement.walk():
        if isinstance(node, _FORBIDDEN_NODES):
            what = "SELECT ... INTO" if isinstance(node, exp.Into) else node.key.upper()
            where = " inside a CTE" if node.find_ancestor(exp.CTE) else ""
            raise UnsafeQuery(f"{what}{where} writes or changes state")
        if isinstance(node, exp.Func) and not isinstance(node, _SYNTAX_NODES):
            _check_function(node, dialect)


def _fold(dialect: Dialect) -> Callable[[str], str]:
    """How the server folds an unquoted name: PostgreSQL to lower case, Snowflake to upper case. A quoted
    name is kept as written, so it names the built-in only when it is already spelt that way."""
    return str.lower if dialect == "postgres" else str.upper


def _check_function(node: exp.Func, dialect: Dialect) -> None:
    if isinstance(node, exp.Anonymous):  # unknown to sqlglot: the name as written (quotes removed)
        name = str(node.name).lower()
        admitted = name in _ADMITTED_NAMES
    else:  # a typed node: sqlglot's SQL names for its class (exp.Lower -> LOWER; exp.Explode -> EXPLODE)
        names = [n.lower() for n in node.sql_names()] or [node.key]
        name = names[0]
        admitted = not _ADMITTED_NAMES.isdisjoint(names)
    if not admitted:
        raise UnsafeQuery(f"function {name or node.sql()[:60]}() is not on the read-only allow-list")
    qualifier, quoted = _qualifier(node)
    if qualifier is not None and quoted and qualifier != _fold(dialect)(qualifier):
        raise UnsafeQuery(
            f'quoted schema name "{qualifier}" is case-sensitive: not {qualifier.lower()}, maybe a user schema'
        )
    if qualifier is not None and qualifier.lower() not in _ADMITTED_QUALIFIERS:
        raise UnsafeQuery(
            f"function {qualifier}.{name}() is called through schema {qualifier}: "
            "only pg_catalog and information_schema functions are admitted"
        )


def _check_quoted_calls(text: str, dialect: Dialect) -> None:
    """A quoted name is case-sensitive, yet sqlglot drops the quotes of names it knows: ``"LOWER"(x)``
    parses as exp.Lower, but PostgreSQL looks for a function named LOWER, which only a user can have
    created. A quoted call of an admitted name must be spelt as the server folds it (PostgreSQL lower
    case, Snowflake upper case); other quoted names already failed the allow-list by name."""
    fold = _fold(dialect)
    tokens = SqlglotDialect.get_or_raise(dialect).tokenize(text)
    for token, following in zip(tokens, tokens[1:], strict=False):
        if token.token_type is not TokenType.IDENTIFIER or following.token_type is not TokenType.L_PAREN:
            continue
        name = token.text
        if name.lower() in _ADMITTED_NAMES and name != fold(name):
            raise UnsafeQuery(
                f'quoted function name "{name}" is case-sensitive: not the built-in {name.lower()}(), '
                "maybe a user function"
            )


def _qualifier(node: exp.Func) -> tuple[str | None, bool]:
    """The schema a call names, if any, and whether any part of it was quoted: ``s.f(x)`` is Dot(s, f);
    ``FROM s.f(x)`` is Table(f, db=s)."""
    parent = node.parent
    if isinstance(parent, exp.Dot) and node.arg_key == "expression":
        this = parent.this
        if isinstance(this, exp.Identifier):
            return this.name, bool(this.args.get("quoted"))
        if isinstance(this, exp.Column) and isinstance(this.this, exp.Identifier) and not this.table:
            return this.name, bool(this.this.args.get("quoted"))
        return this.sql(), '"' in this.sql()
    if isinstance(parent, exp.Table) and node.arg_key == "this":
        parts = [p for p in (parent.args.get("catalog"), parent.args.get("db")) if isinstance(p, exp.Identifier)]
        if not parts:
            return None, False
        return ".".join(p.name for p in parts), any(p.args.get("quoted") for p in parts)
    return None, False
