# Two commands do all set-up on a fresh machine with Python 3.11+:
#   make demo   - a full triage of the bundled incident on an embedded Redis and its workers (commander, history, three specialists)
#   make test   - make lint (ruff check, ruff format --check, mypy), then the test suite (unit +
#                 integration on real Redis, workers, PostgreSQL, Slack test server)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
CLI    := $(VENV)/bin/incident-commander

.PHONY: demo test up bench mutate lint compose-check clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

demo: $(VENV)/.installed
	$(CLI) demo

test: lint
	$(PY) -m pytest

up: $(VENV)/.installed
	$(CLI) up

bench: $(VENV)/.installed
	$(PY) bench/e2e_latency.py

# Mutation testing of the core with mutmut (why mutmut: mutation/run.py): every target against its
# own in-process tests, the score per module (~10 minutes on 2 cores). One target:
# make mutate TARGET=redact (or TARGET=redact,spool); the targets: .venv/bin/python mutation/run.py --list
TARGET ?=
# mutmut is installed on first use, not with the dev extra: `make test` and CI never need it.
mutate: $(VENV)/.installed
	$(PY) -c 'import mutmut' 2>/dev/null || $(PY) -m pip install --quiet 'mutmut>=3.8,<3.9'
	$(PY) mutation/run.py $(TARGET)

# Run by `make test` first, so CI fails on a lint, format or type error before the 7-minute suite.
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy shared commander incident_cli log_analyzer query_profiler owner_notifier

# docker-compose.yml is valid with FLOWER_BASIC_AUTH and the pipeline's host folders set, mounts nothing
# from samples/, and refuses to start without each of FLOWER_BASIC_AUTH, DBT_PROJECT_HOST_DIR and
# AIRFLOW_LOGS_HOST_DIR. Hermetic: the example env file, and an empty --env-file in place of a local .env.
COMPOSE_CHECK ?= docker-compose
compose-check:
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && touch "$$tmp/empty.env" && \
	export INCIDENT_COMMANDER_ENV_FILE=incident-commander.env.example && \
	export FLOWER_BASIC_AUTH=compose-check:not-a-real-password DBT_PROJECT_HOST_DIR="$$tmp/dbt" \
		AIRFLOW_LOGS_HOST_DIR="$$tmp/airflow-logs" && \
	$(COMPOSE_CHECK) --env-file "$$tmp/empty.env" config > "$$tmp/config" && \
	! grep -n 'samples/' "$$tmp/config" && \
	for var in FLOWER_BASIC_AUTH DBT_PROJECT_HOST_DIR AIRFLOW_LOGS_HOST_DIR; do \
		! env -u $$var $(COMPOSE_CHECK) --env-file "$$tmp/empty.env" config --quiet 2>"$$tmp/err" && \
		grep -q "set $$var" "$$tmp/err" || { echo "compose-check: FAILED: starts without $$var" >&2; exit 1; }; \
	done && \
	for svc in commander history; do \
		awk -v s="  $$svc:" '$$0 == s {f = 1; next} /^[^ ]/ || /^  [^ ]/ {f = 0} f' "$$tmp/config" | \
		grep -q -- '- incident-history:/var/lib/incident-commander' || \
		{ echo "compose-check: FAILED: $$svc does not mount the incident-history volume" >&2; exit 1; }; \
	done && \
	{ grep -q 'INCIDENT_DB_URL: sqlite:////var/lib/incident-commander/' "$$tmp/config" || \
		{ echo "compose-check: FAILED: INCIDENT_DB_URL is not on the incident-history volume" >&2; exit 1; }; } && \
	{ grep -A1 -- '- --appendonly$$' "$$tmp/config" | grep -q 'yes' && grep -q -- '- redis-data:/data' "$$tmp/config" || \
		{ echo "compose-check: FAILED: Redis runs without AOF persistence on a volume" >&2; exit 1; }; } && \
	echo "compose-check: valid, mounts nothing from samples/, refuses to start without" \
		"FLOWER_BASIC_AUTH, DBT_PROJECT_HOST_DIR or AIRFLOW_LOGS_HOST_DIR, keeps the history and the spool" \
		"on named volumes the workers can write, and Redis's AOF on a volume" || \
	{ echo "compose-check: FAILED" >&2; cat "$$tmp/err" >&2 2>/dev/null; exit 1; }

clean:
	rm -rf $(VENV) .incident-commander .pytest_cache mutants
