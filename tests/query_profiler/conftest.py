"""Fixtures for the query_profiler tests: a real PostgreSQL and Snowflake-shaped query-history rows.

PostgreSQL: a throwaway cluster (initdb/pg_ctl, with pg_stat_statements preloaded) is preferred; when
it cannot start, a throwaway database on the local server at 127.0.0.1:5432 (user postgres); when
neither works the PostgreSQL tests fail with the reasons, they are not skipped. The binaries are
looked for in $PG_BIN, else beside the ``initdb`` on PATH, else in the newest /usr/lib/postgresql/*/bin.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest


def _pg_bin() -> Path | None:
    if "PG_BIN" in os.environ:
        return Path(os.environ["PG_BIN"])
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent  # /usr/local/bin/initdb may link to the real folder
    debian = [p.parent for p in Path("/usr/lib/postgresql").glob("*/bin/initdb") if p.parts[-3].isdigit()]
    return max(debian, key=lambda p: int(p.parts[-2]), default=None)


PG_BIN = _pg_bin()
INSTALL_PG = (
    "Install the PostgreSQL server binaries with the pg_stat_statements extension"
    " (Debian/Ubuntu: apt-get install postgresql), or set PG_BIN to the folder holding initdb and pg_ctl"
)
LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
START_TIMEOUT_S = 30


@dataclass(frozen=True)
class Postgres:
    url: str  # the throwaway database, for the profiler
    statements_available: bool  # pg_stat_statements is preloaded and created
    origin: str  # "throwaway cluster" or "local server"
    cluster_problem: str = ""  # why the throwaway cluster did not start, when it did not

    def connect(self, **kwargs: Any) -> psycopg.Connection[Any]:
        return psycopg.connect(self.url, connect_timeout=5, **kwargs)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres_user(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", "postgres", "--", *argv]


def _pg_tool(name: str) -> str:
    if PG_BIN is None:
        raise FileNotFoundError(f"no {name}: PG_BIN is unset and there is none on PATH or in /usr/lib/postgresql/*/bin")
    if not (PG_BIN / name).is_file():
        raise FileNotFoundError(f"no {name} in PG_BIN={PG_BIN}")
    return str(PG_BIN / name)


def _start_cluster(workdir: Path) -> tuple[str, Path]:
    data, port = workdir / "data", _free_port()
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres", "postgres")
    run = dict(check=True, capture_output=True, text=True, timeout=START_TIMEOUT_S)
    subprocess.run(
        _as_postgres_user(
            [
                _pg_tool("initdb"),
                "-D",
                str(data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            ]
        ),
        **run,
    )
    options = (
        f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c fsync=off"
        " -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all"
    )
    subprocess.run(
        _as_postgres_user(
            [
                _pg_tool("pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(workdir / "server.log"),
                "-w",
                "-t",
                str(START_TIMEOUT_S),
                "start",
            ]
        ),
        **run,
    )
    return f"postgresql://postgres@127.0.0.1:{port}/postgres", data


def _stop_cluster(data: Path) -> None:
    subprocess.run(
        _as_postgres_user([_pg_tool("pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
        capture_output=True,
        timeout=START_TIMEOUT_S,
        check=False,
    )


def _with_database(admin_url: str, name: str) -> str:
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    problems: list[str] = []
    workdir = Path(tempfile.mkdtemp(prefix="qp-pg-"))
    data: Path | None = None
    admin_url: str | None = None
    origin = "throwaway cluster"
    try:
        admin_url, data = _start_cluster(workdir)
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", "") or ""
        problems.append(f"throwaway cluster: {exc} {detail}".strip())
        admin_url, origin = LOCAL_SERVER, "local server"
    database = f"qp_test_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'CREATE DATABASE "{database}"')
    except psycopg.Error as exc:
        problems.append(f"{origin} at {admin_url}: {exc}")
        shutil.rmtree(workdir, ignore_errors=True)
        pytest.fail("no PostgreSQL for the query_profiler tests:\n  " + "\n  ".join(problems))
    url = _with_database(admin_url, database)
    statements = False
    if data is not None:
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            statements = True
    try:
        cluster_problem = problems[0] if problems else ""
        yield Postgres(url=url, statements_available=statements, origin=origin, cluster_problem=cluster_problem)
    finally:
        if data is not None:
            _stop_cluster(data)
        else:
            with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        shutil.rmtree(workdir, ignore_errors=True)


def dbt_comment(node_id: str) -> str:
    return (
        '/* {"app": "dbt", "dbt_version": "1.10.0", "profile_name": "shop", "target_name": "prod", '
        f'"node_id": "{node_id}"}} */'
    )


# Rows exactly as INFORMATION_SCHEMA.QUERY_HISTORY returns them (UPPERCASE columns, times in ms, bytes).
BASE_TIME = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def history_row(**overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "QUERY_ID": "01b2c3d4-0000-0000-0000-000000000000",
        "QUERY_TEXT": "select 1",
        "QUERY_TYPE": "SELECT",
        "DATABASE_NAME": "ANALYTICS",
        "SCHEMA_NAME": "MARTS",
        "USER_NAME": "DBT_PROD",
        "ROLE_NAME": "TRANSFORMER",
        "WAREHOUSE_NAME": "WH_TRANSFORM",
        "WAREHOUSE_SIZE": "Medium",
        "QUERY_TAG": "",
        "EXECUTION_STATUS": "SUCCESS",
        "ERROR_CODE": None,
        "ERROR_MESSAGE": None,
        "START_TIME": BASE_TIME,
        "END_TIME": BASE_TIME + timedelta(seconds=5),
        "TOTAL_ELAPSED_TIME": 5_000,
        "BYTES_SCANNED": 1_000_000,
        "PARTITIONS_SCANNED": 10,
        "PARTITIONS_TOTAL": 100,
        "BYTES_SPILLED_TO_LOCAL_STORAGE": 0,
        "BYTES_SPILLED_TO_REMOTE_STORAGE": 0,
        "QUEUED_PROVISIONING_TIME": 0,
        "QUEUED_OVERLOAD_TIME": 0,
        "TRANSACTION_BLOCKED_TIME": 0,
    }
    row.update(overrides)
    return row


def incident_rows() -> list[dict[str, Any]]:
    """A failed model, a spilling one, a queued one, a full scan, a fast one and the profiler's own read."""
    t = BASE_TIME
    return [
        history_row(
            QUERY_ID="q-failed",
            EXECUTION_STATUS="FAILED_WITH_ERROR",
            ERROR_CODE="000904",
            ERROR_MESSAGE="SQL compilation error: error line 3 at position 7 invalid identifier 'AMOUNT_USD'",
            QUERY_TEXT="create or replace table fct_orders as select amount_usd from stg_orders\n"
            + dbt_comment("model.shop.fct_orders"),
            TOTAL_ELAPSED_TIME=1_200,
            START_TIME=t + timedelta(minutes=50),
            END_TIME=t + timedelta(minutes=50, seconds=1),
        ),
        history_row(
            QUERY_ID="q-spill",
            TOTAL_ELAPSED_TIME=1_800_000,
            BYTES_SPILLED_TO_REMOTE_STORAGE=12_000_000_000,
            QUERY_TEXT="insert into orders_daily select ...\n" + dbt_comment("model.shop.orders_daily"),
            START_TIME=t,
            END_TIME=t + timedelta(minutes=30),
        ),
        history_row(
            QUERY_ID="q-queued",
            TOTAL_ELAPSED_TIME=600_000,
            QUEUED_OVERLOAD_TIME=41_000,
            QUERY_TAG='{"dbt_model": "stg_orders"}',
            QUERY_TEXT="select * from raw.orders",
        ),
        history_row(
            QUERY_ID="q-scan",
            TOTAL_ELAPSED_TIME=300_000,
            PARTITIONS_SCANNED=4_812,
            PARTITIONS_TOTAL=4_812,
            QUERY_TEXT="select * from big_events",
        ),
        history_row(QUERY_ID="q-fast", TOTAL_ELAPSED_TIME=120),
        history_row(
            QUERY_ID="q-own",
            TOTAL_ELAPSED_TIME=9_999_999,
            QUERY_TAG="incident-commander:query_profiler",
            QUERY_TEXT="SELECT QUERY_ID FROM TABLE(INFORMATION_SCHEMA.QUERY_HISTORY())",
        ),
    ]
