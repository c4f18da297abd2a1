#!/usr/bin/env bash
# Rebuild every generated file of the hourly_marts demo incident from scratch with a real dbt.
#
#   DBT=/path/to/dbt ./regenerate.sh        (default: /work/tools/dbt-venv/bin/dbt)
#
# The dbt build is expected to FAIL (fct_orders selects a column that stg_payments renamed);
# this script succeeds when it fails in exactly that way.
#
# If `faketime` (libfaketime) is installed the two dbt builds run with the clock starting at
# $INCIDENT_CLOCK (default 2026-11-23 03:01:37 UTC, one minute into the 03:00 hourly run) so the
# timestamps in dbt.log / run_results.json line up with query_history.json. Without faketime the
# artifacts carry the real wall-clock time and query_history.json follows them.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DBT="${DBT:-/work/tools/dbt-venv/bin/dbt}"
PY="${PYTHON:-python3}"
INCIDENT_CLOCK="${INCIDENT_CLOCK:-2026-11-23 03:01:37}"
PROJECT="$HERE/dbt_project"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

"$DBT" --version 2>&1 | sed -n 1,3p

clock() {
    if command -v faketime >/dev/null 2>&1; then
        TZ=UTC faketime "$INCIDENT_CLOCK" "$@"
    else
        echo "faketime not found: running at the real time" >&2
        "$@"
    fi
}

cd "$PROJECT"
export DBT_PROFILES_DIR="$PROJECT"
export DBT_SEND_ANONYMOUS_USAGE_STATS=false
unset HOURLY_MARTS_DUCKDB || true

rm -rf target logs dbt_packages console_output.log dbt_build.jsonl
"$PY" "$HERE/scripts/make_seeds.py"
mkdir -p target  # DuckDB does not create the directory of its database file

# 0. Load RAW. The seeds stand in for the EL connector's hourly load; this run's logs are not kept.
"$DBT" seed --target dev --log-path "$TMP/seed-logs" --target-path "$TMP/seed-target" > "$TMP/seed.out"

BUILD=(build --target dev --exclude resource_type:seed)

# 1. The build as a terminal (or an Airflow task log) shows it: text with ANSI colours.
#    Its dbt.log goes to a scratch dir; its target/ artifacts are overwritten by run 2.
set +e
clock "$DBT" --use-colors "${BUILD[@]}" --log-path "$TMP/console-logs" > console_output.log 2>&1
rc_text=$?
# 2. The incident run whose artifacts are kept: JSON events on stdout (dbt_build.jsonl), the usual
#    debug text in logs/dbt.log, target/manifest.json + target/run_results.json; one invocation_id.
#    Same code, same data, same clock start as run 1, and a full parse again.
rm -rf target/compiled target/run target/partial_parse.msgpack target/*.json
clock "$DBT" --log-format json --log-format-file debug "${BUILD[@]}" > dbt_build.jsonl
rc_json=$?
set -e
if [[ $rc_json -ne 1 || $rc_text -ne 1 ]]; then
    echo "expected both builds to fail with exit code 1, got $rc_json and $rc_text" >&2
    exit 1
fi
grep -q 'Referenced column \\"amount_usd\\" not found' dbt_build.jsonl || { echo "unexpected failure" >&2; exit 1; }

# Keep the committed sample modest: drop the DuckDB file and bulky or binary artifacts,
# but keep the failing model's compiled SQL (dbt's error message points at it).
keep="target/compiled/hourly_marts/models/marts/core/fct_orders.sql"
cp "$keep" "$TMP/fct_orders.sql"
rm -rf target/compiled target/run target/partial_parse.msgpack target/graph.gpickle \
       target/perf_info.json target/*.duckdb target/*.duckdb.wal .user.yml
mkdir -p "$(dirname "$keep")" && cp "$TMP/fct_orders.sql" "$keep"

# 3. query_history.json (synthesized, Snowflake-shaped) and incident.json from the real artifacts.
"$PY" "$HERE/scripts/make_query_history.py"
echo "regenerated: fct_orders failed as expected (exit codes $rc_json / $rc_text)"
