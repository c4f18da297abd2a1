"""The read-only SQL guard: every statement a query-history adapter sends passes through here first.

Read-only is enforced in code, not trusted to the warehouse role. A statement is admitted only when
sqlglot parses it as exactly one SELECT / WITH ... SELECT / set operation of SELECTs, SHOW, DESCRIBE,
or EXPLAIN of an admitted statement, and nothing inside it writes. Rejected, with the reason:

- more than one statement, or a ``;`` anywhere but at the very end (hidden in a comment or string);
- DML, DDL, COPY, CALL, SET, transaction control, SELECT ... INTO, FOR UPDATE, data-modifying CTEs;
- functions with side effects (``pg_terminate_backend``, ``nextval``, ``SYSTEM$CANCEL_QUERY``, ...);
- text that tokenizers read differently from the server (comment and string smuggling): backslashes
  (Snowflake escapes with them, standard PostgreSQL strings do not), dollar quoting, nested or
  executable (``/*!``) comments.

Our adapters never need any of those, so the guard can be strict. Values always travel as bound
parameters, so a hostile model name never reaches the text checked here.
"""

from __future__ import annotations

import re
from typing import Literal, cast

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

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
_FORBIDDEN_NODES: tuple[type[exp.Expression], ...] = tuple(
    t for t in (getattr(exp, name, None) for name in _FORBIDDEN_NODE_NAMES) if isinstance(t, type)
)

_FORBIDDEN_FUNCTIONS = frozenset(
    {
        "pg_terminate_backend",
        "pg_cancel_backend",
        "pg_reload_conf",
        "pg_rotate_logfile",
        "set_config",
        "nextval",
        "setval",
        "lo_import",
        "lo_export",
        "lo_unlink",
        "pg_read_file",
        "pg_read_binary_file",
        "pg_ls_dir",
        "pg_stat_statements_reset",
        "pg_stat_reset",
        "pg_switch_wal",
        "pg_create_restore_point",
        "dblink",
        "dblink_exec",
        "txid_current",
        "pg_current_xact_id",
        "query_to_xml",
        "query_to_xml_and_xmlschema",
    }
)
_FORBIDDEN_FUNCTION_PREFIXES = ("pg_advisory", "pg_try_advisory", "system$", "lo_", "pg_stat_reset", "dblink")

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
        _check_tree(statement)
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


def _check_tree(statement: exp.Expression) -> None:
    for node in statement.walk():
        if isinstance(node, _FORBIDDEN_NODES):
            what = "SELECT ... INTO" if isinstance(node, exp.Into) else node.key.upper()
            where = " inside a CTE" if node.find_ancestor(exp.CTE) else ""
            raise UnsafeQuery(f"{what}{where} writes or changes state")
        if isinstance(node, exp.Func):
            name = _function_name(node)
            if name in _FORBIDDEN_FUNCTIONS or name.startswith(_FORBIDDEN_FUNCTION_PREFIXES):
                raise UnsafeQuery(f"function {name}() has side effects")


def _function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    return node.sql_name().lower()
