# Two commands do all set-up on a fresh machine with Python 3.11+:
#   make demo   - a full triage of the bundled incident on an embedded Redis and four workers
#   make test   - the test suite (unit + integration on real Redis, workers, PostgreSQL, Slack test server)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
CLI    := $(VENV)/bin/incident-commander

.PHONY: demo test up bench lint compose-check clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

demo: $(VENV)/.installed
	$(CLI) demo

test: $(VENV)/.installed
	$(PY) -m pytest

up: $(VENV)/.installed
	$(CLI) up

bench: $(VENV)/.installed
	$(PY) bench/e2e_latency.py

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy shared commander incident_cli log_analyzer query_profiler owner_notifier

compose-check:
	docker-compose config --quiet

clean:
	rm -rf $(VENV) .incident-commander .pytest_cache
