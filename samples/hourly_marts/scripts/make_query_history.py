"""Write query_history.json and incident.json for the hourly_marts demo incident.

query_history.json is SYNTHESIZED: it is shaped like Snowflake's
INFORMATION_SCHEMA.QUERY_HISTORY (UPPERCASE column names, one object per query, newest first as
the table function returns them), but no Snowflake account was involved. What is real in it:

* the dbt rows are the statements the real dbt build ran, read from dbt_project/logs/dbt.log
  (its START_TIME and TOTAL_ELAPSED_TIME come from that log), rewritten the way dbt-snowflake
  would send them: unquoted three-part names, ``create or replace`` instead of DuckDB's
  ``__dbt_tmp`` + rename, and dbt's query comment moved to the END of the text (Snowflake drops a
  leading comment from QUERY_TEXT, so Snowflake shops use ``query-comment: {append: true}``);
* the failing fct_orders row carries Snowflake's error for the same mistake (000904 invalid
  identifier), with the line/position computed on its own QUERY_TEXT.

The non-dbt rows (BI tools, analysts) are invented noise around the failure.
incident.json is derived from run_results.json (the failure time and message of fct_orders).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
PROJECT = HERE / "dbt_project"
DAG_ID, TASK_ID = "hourly_marts", "dbt_build_marts"
RUN_ID = "scheduled__2026-11-23T03:00:00+00:00"
MODEL = "fct_orders"

LOG_LINE = re.compile(r"^\x1b\[0m(\d\d:\d\d:\d\d\.\d{6}) \[(\w+)\s*\] \[([^\]]+)\]: (.*)$")
COMMENT = re.compile(r"^/\* (\{.*?\}) \*/\n?", re.S)
QUOTED_REL = re.compile(r'"([A-Za-z0-9_]+)"\."([A-Za-z0-9_]+)"\."([A-Za-z0-9_]+)"')

rng = random.Random(20261123)


def query_id(n: int) -> str:
    h = hashlib.sha1(f"hourly_marts-{n}".encode()).hexdigest()
    return f"01b{h[0:5]}-0000-{h[5:9]}-0000-{h[9:13]}{h[13:21]}"


def iso(ts: datetime | None) -> str | None:
    return None if ts is None else ts.astimezone(UTC).isoformat(timespec="milliseconds")


def parse_dbt_log(day: str) -> list[dict]:
    """Statements (with node_id comments) and how they ended, per thread, from dbt.log."""
    entries: list[list] = []  # [time, thread, message]
    for raw in (PROJECT / "logs" / "dbt.log").read_text().splitlines():
        m = LOG_LINE.match(raw)
        if m:
            entries.append([m.group(1), m.group(3), m.group(4)])
        elif entries:
            entries[-1][2] += "\n" + raw
    open_stmt: dict[str, dict] = {}
    done: list[dict] = []
    for t, thread, msg in entries:
        ts = datetime.fromisoformat(f"{day}T{t}+00:00")
        m = re.match(r"On ([^:]+): (/\* .*)", msg, re.S)
        if m and '"node_id"' in m.group(2):
            open_stmt[thread] = {"node": m.group(1), "sql": m.group(2), "start": ts, "thread": thread}
            continue
        st = open_stmt.get(thread)
        if not st:
            continue
        m = re.match(r"SQL status: (\w+) in ([\d.]+) seconds", msg)
        if m:
            st["elapsed_ms"] = max(1, round(float(m.group(2)) * 1000))
            done.append(open_stmt.pop(thread))
        elif msg.startswith("DuckDB adapter: duckdb error:"):
            st["elapsed_ms"] = max(1, round((ts - st["start"]).total_seconds() * 1000))
            st["duckdb_error"] = msg.split(":", 2)[2].strip()
            done.append(open_stmt.pop(thread))
    return done


def to_snowflake(sql: str) -> tuple[str, str, str] | None:
    """(query_text, query_type, relation) for the statements worth showing, else None."""
    m = COMMENT.match(sql)
    assert m, sql[:200]
    comment, body = m.group(1), sql[m.end():]
    stripped = body.strip()
    if re.search(r"duckdb_\w+\(|information_schema", stripped):
        return None  # dbt-duckdb's own catalog look-ups; dbt-snowflake runs `show ...` instead
    if re.match(r"(drop|alter)\b", stripped):
        return None  # DuckDB's tmp/backup/rename dance; dbt-snowflake uses create or replace
    if stripped.startswith("create view"):
        qtype = "CREATE_VIEW"
        body = re.sub(r'create view ("[^"]+"\."[^"]+"\."[^"]+?)__dbt_tmp"',
                      r'create or replace view \1"', body, count=1)
    elif re.match(r"create\s+table", stripped):
        qtype = "CREATE_TABLE_AS_SELECT"
        body = re.sub(r'create\s+table\s+("[^"]+"\."[^"]+"\."[^"]+?)__dbt_tmp"',
                      r'create or replace transient table \1"', body, count=1)
    elif stripped.startswith("select"):
        qtype = "SELECT"
    else:
        return None
    rel = QUOTED_REL.search(body)
    body = QUOTED_REL.sub(lambda q: ".".join(q.groups()), body).rstrip()
    if body.endswith(";"):
        text = f"{body[:-1]}\n/* {comment} */;"
    else:
        text = f"{body}\n/* {comment} */"
    return text, qtype, ".".join(rel.groups()) if rel else ""


ADHOC_FAIL = "select order_id, sum(amount_usd) as total_amount\nfrom hourly_marts_dev.analytics.stg_payments\ngroup by order_id"


def invalid_identifier(text: str, ident: str) -> str:
    """Snowflake's 000904 message, pointing (1-based line, 0-based position) at the first use."""
    line_no, pos = next((i + 1, ln.lower().index(ident))
                        for i, ln in enumerate(text.splitlines()) if ident in ln.lower())
    return f"SQL compilation error: error line {line_no} at position {pos}\ninvalid identifier '{ident.upper()}'"


def row(n: int, **kw) -> dict:
    start: datetime = kw.pop("start")
    elapsed = kw.pop("elapsed_ms")
    status = kw.pop("status", "SUCCESS")
    end = None if status == "RUNNING" else start + timedelta(milliseconds=elapsed)
    base = {
        "QUERY_ID": query_id(n),
        "QUERY_TEXT": kw.pop("text"),
        "DATABASE_NAME": kw.pop("db", "HOURLY_MARTS_DEV"),
        "SCHEMA_NAME": kw.pop("schema", "ANALYTICS"),
        "QUERY_TYPE": kw.pop("qtype", "SELECT"),
        "SESSION_ID": kw.pop("session"),
        "USER_NAME": kw.pop("user"),
        "ROLE_NAME": kw.pop("role"),
        "WAREHOUSE_NAME": kw.pop("wh"),
        "WAREHOUSE_SIZE": kw.pop("wh_size"),
        "QUERY_TAG": kw.pop("tag", ""),
        "EXECUTION_STATUS": status,
        "ERROR_CODE": kw.pop("error_code", None),
        "ERROR_MESSAGE": kw.pop("error_message", None),
        "START_TIME": iso(start),
        "END_TIME": iso(end),
        "TOTAL_ELAPSED_TIME": elapsed,
        "BYTES_SCANNED": kw.pop("bytes", 0),
        "PARTITIONS_SCANNED": kw.pop("parts", 0),
        "PARTITIONS_TOTAL": kw.pop("parts_total", 0),
        "QUEUED_OVERLOAD_TIME": kw.pop("queued", 0),
        "BYTES_SPILLED_TO_LOCAL_STORAGE": kw.pop("spill_local", 0),
        "BYTES_SPILLED_TO_REMOTE_STORAGE": kw.pop("spill_remote", 0),
    }
    assert not kw, kw
    return base


def main() -> None:
    run_results = json.loads((PROJECT / "target" / "run_results.json").read_text())
    day = run_results["metadata"]["invocation_started_at"][:10]
    failed = next(r for r in run_results["results"] if r["unique_id"] == f"model.hourly_marts.{MODEL}")
    failed_at = datetime.fromisoformat(failed["timing"][-1]["completed_at"].replace("Z", "+00:00"))
    started = datetime.fromisoformat(run_results["metadata"]["invocation_started_at"].replace("Z", "+00:00"))
    t0 = started.replace(minute=0, second=0, microsecond=0)  # top of the hour of the run

    tag = json.dumps({"app": "airflow", "dag_id": DAG_ID, "task_id": TASK_ID, "run_id": RUN_ID,
                      "try_number": 1}, separators=(",", ":"))
    sessions: dict[str, int] = {}
    rows: list[dict] = []
    for st in parse_dbt_log(day):
        conv = to_snowflake(st["sql"])
        if conv is None:
            continue
        text, qtype, rel = conv
        session = sessions.setdefault(st["thread"], 21_744_519_003_300_000 + 4_117 * (len(sessions) + 1))
        extra: dict = {}
        if "duckdb_error" in st:
            extra = {"status": "FAIL", "error_code": "000904",
                     "error_message": invalid_identifier(text, "amount_usd")}
        else:
            kb = rng.randint(6, 48)
            extra = {"bytes": 0 if qtype == "CREATE_VIEW" else kb * 1024,
                     "parts": 0 if qtype == "CREATE_VIEW" else rng.randint(1, 3)}
            extra["parts_total"] = extra["parts"]
        rows.append(dict(text=text, qtype=qtype, session=session, user="AIRFLOW_DBT", role="TRANSFORMER",
                         wh="TRANSFORM_WH", wh_size="Medium", tag=tag, start=st["start"],
                         elapsed_ms=st["elapsed_ms"], **extra))
    n_dbt = len(rows)

    def at(minutes: float) -> datetime:
        return t0 + timedelta(seconds=round(minutes * 60, 3))

    bi = dict(user="LOOKER_SVC", role="REPORTER", wh="REPORTING_WH", wh_size="X-Small",
              db="HOURLY_MARTS_DEV", schema="ANALYTICS")
    looker_tile = ("-- Looker Query Context '{\"user_id\":118,\"history_slug\":\"a41f0\",\"instance_slug\":\"revenue-42\"}'\n"
                   "SELECT\n    (TO_CHAR(TO_DATE(fct_orders.\"ORDER_DATE\"), 'YYYY-MM-DD')) AS \"fct_orders.order_date\",\n"
                   "    COALESCE(SUM(fct_orders.\"AMOUNT\"), 0) AS \"fct_orders.total_revenue\"\n"
                   "FROM HOURLY_MARTS_DEV.ANALYTICS.FCT_ORDERS AS fct_orders\n"
                   "WHERE fct_orders.\"ORDER_DATE\" >= DATEADD('day', -30, CURRENT_DATE())\nGROUP BY 1\nORDER BY 1 DESC\nFETCH NEXT 500 ROWS ONLY")
    daily_tile = ("-- Looker Query Context '{\"user_id\":118,\"history_slug\":\"c0e19\",\"instance_slug\":\"revenue-42\"}'\n"
                  "SELECT\n    orders_daily.\"ORDER_DATE\" AS \"orders_daily.order_date\",\n"
                  "    orders_daily.\"REVENUE_7D\" AS \"orders_daily.revenue_7d\"\n"
                  "FROM HOURLY_MARTS_DEV.ANALYTICS.ORDERS_DAILY AS orders_daily\nORDER BY 1 DESC\nFETCH NEXT 90 ROWS ONLY")
    extract = ("SELECT o.order_date,\n       e.channel,\n       COUNT(DISTINCT e.session_id) AS sessions,\n"
               "       COUNT(DISTINCT o.order_id) AS orders,\n       SUM(o.amount) AS revenue,\n"
               "       SUM(SUM(o.amount)) OVER (PARTITION BY e.channel ORDER BY o.order_date\n"
               "                                ROWS BETWEEN 6 PRECEDING AND CURRENT ROW) AS revenue_7d\n"
               "FROM HOURLY_MARTS_DEV.ANALYTICS.FCT_ORDERS o\n"
               "JOIN HOURLY_MARTS_DEV.RAW.WEB_EVENTS e\n  ON e.customer_id = o.customer_id\n"
               " AND e.event_ts BETWEEN DATEADD('day', -1, o.order_date) AND o.order_date\n"
               "GROUP BY 1, 2\nORDER BY 1, 2")
    full_scan = ("select *\nfrom hourly_marts_dev.raw.web_events\nwhere to_varchar(event_ts, 'YYYY-MM-DD') = '2026-11-22'\n"
                 "  and page_path ilike '%checkout%'")
    others = [
        dict(text=looker_tile, start=at(0.07), elapsed_ms=1_214, session=21_744_519_002_100_011, bytes=2_883_584,
             parts=3, parts_total=3, **bi),
        dict(text=extract, start=at(0.19), elapsed_ms=531_877, session=21_744_519_002_180_207, user="TABLEAU_SVC",
             role="REPORTER", wh="REPORTING_WH", wh_size="X-Small", tag="tableau:extract-refresh:revenue_by_channel",
             bytes=48_318_382_080, parts=4_096, parts_total=24_576, spill_local=61_203_283_968,
             spill_remote=17_482_110_976),
        dict(text=full_scan, start=at(0.52), elapsed_ms=244_310, session=21_744_519_002_190_433, user="AISHA_KHAN",
             role="ANALYST", wh="REPORTING_WH", wh_size="X-Small", db="HOURLY_MARTS_DEV", schema="RAW",
             bytes=1_942_187_425_792, parts=24_576, parts_total=24_576),
        dict(text=daily_tile, start=at(1.03), elapsed_ms=58_946, queued=57_402, session=21_744_519_002_100_011,
             bytes=131_072, parts=1, parts_total=1, **bi),
        dict(text=looker_tile, start=at(1.05), elapsed_ms=61_331, queued=59_870, session=21_744_519_002_100_019,
             bytes=2_883_584, parts=3, parts_total=3, **bi),
        dict(text=looker_tile, start=at(5.02), elapsed_ms=1_402, session=21_744_519_002_100_019, bytes=2_883_584,
             parts=3, parts_total=3, **bi),
        dict(text=daily_tile, start=at(5.03), elapsed_ms=388, session=21_744_519_002_100_011, bytes=131_072,
             parts=1, parts_total=1, **bi),
        dict(text="select * from hourly_marts_dev.analytics.stg_payments limit 100", start=at(9.48),
             elapsed_ms=412, session=21_744_519_002_300_871, user="PRIYA_SHAH", role="ANALYTICS_ENGINEER",
             wh="DEV_WH", wh_size="X-Small", bytes=9_216, parts=1, parts_total=1),
        dict(text=ADHOC_FAIL,
             start=at(10.21), elapsed_ms=96, session=21_744_519_002_300_871, user="PRIYA_SHAH",
             role="ANALYTICS_ENGINEER", wh="DEV_WH", wh_size="X-Small", status="FAIL", error_code="000904",
             error_message=invalid_identifier(ADHOC_FAIL, "amount_usd")),
        dict(text=looker_tile, start=at(10.04), elapsed_ms=1_377, session=21_744_519_002_100_019, bytes=2_883_584,
             parts=3, parts_total=3, **bi),
        dict(text="describe table hourly_marts_dev.analytics.stg_payments", start=at(10.73), elapsed_ms=61,
             qtype="DESCRIBE", session=21_744_519_002_300_871, user="PRIYA_SHAH", role="ANALYTICS_ENGINEER",
             wh="DEV_WH", wh_size="X-Small"),
        dict(text=daily_tile, start=at(15.01), elapsed_ms=402, session=21_744_519_002_100_011, bytes=131_072,
             parts=1, parts_total=1, **bi),
        dict(text=looker_tile, start=at(15.02), elapsed_ms=1_298, session=21_744_519_002_100_019, bytes=2_883_584,
             parts=3, parts_total=3, **bi),
        dict(text=extract, start=at(17.35), elapsed_ms=162_000, status="RUNNING", session=21_744_519_002_180_311,
             user="TABLEAU_SVC", role="REPORTER", wh="REPORTING_WH", wh_size="X-Small",
             tag="tableau:extract-refresh:revenue_by_channel", bytes=20_401_094_656, parts=1_733,
             parts_total=24_576, spill_local=9_663_676_416),
    ]
    rows.extend(others)
    rows.sort(key=lambda r: r["start"], reverse=True)  # QUERY_HISTORY returns newest first
    out = [row(i, **r) for i, r in enumerate(rows)]
    (HERE / "query_history.json").write_text(json.dumps(out, indent=2) + "\n")

    message = failed["message"]
    incident = {
        "dag_id": DAG_ID,
        "task_id": TASK_ID,
        "run_id": RUN_ID,
        "try_number": 1,
        "map_index": -1,
        "logical_date": "2026-11-23T03:00:00+00:00",
        "model": MODEL,
        "failed_at": iso(failed_at),
        "exception": "AirflowException: Bash command failed. The command returned a non-zero exit code 1.\n"
                     + message,
        "log_location": f"airflow_logs/dag_id={DAG_ID}/run_id={RUN_ID}/task_id={TASK_ID}/attempt=1.log",
        "context": ("Hourly `dbt build --target dev --exclude resource_type:seed` of project hourly_marts "
                    f"(dbt invocation {run_results['metadata']['invocation_id']}); fct_orders errored, "
                    "its children were skipped."),
        "source": "airflow",
    }
    (HERE / "incident.json").write_text(json.dumps(incident, indent=2) + "\n")
    print(f"query_history.json: {len(out)} rows ({n_dbt} from dbt.log); incident failed_at {incident['failed_at']}")


if __name__ == "__main__":
    main()
