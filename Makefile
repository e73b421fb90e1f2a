# Aurora Solar → CRM import pipeline. `make run` runs the whole system; `make test` runs every test.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
PACKAGES := libs/common libs/devtools services/gateway services/trigger_filter services/fetcher services/importer services/admin services/aurora_sim
STAMP := $(VENV)/.installed

.PHONY: help install infra run test lint stop bench chaos lock asyncapi clean-data

help: ## Show the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): requirements.lock $(foreach p,$(PACKAGES),$(p)/pyproject.toml)
	@echo "[install] Python packages (pinned in requirements.lock)…"
	@command -v $(PYTHON) >/dev/null || PYTHON=python3; \
	  [ -x $(PY) ] || $${PYTHON:-python3} -m venv $(VENV)
	@[ -x $(UV) ] || $(VENV)/bin/pip install -q uv==0.13.9
	@$(UV) pip install -q -p $(PY) -r requirements.lock
	@$(UV) pip install -q -p $(PY) --no-deps $(foreach p,$(PACKAGES),-e $(p))
	@touch $(STAMP)
	@echo "[install] done"

install: $(STAMP) ## Create .venv and install every package (once; again when the lock changes)

# The KEDA schema check of deploy/k8s (tests/deploy): pinned in deploy/k8s/checks/package-lock.json.
K8S_CHECKS := deploy/k8s/checks/node_modules/.installed
$(K8S_CHECKS): deploy/k8s/checks/package-lock.json
	@command -v npm >/dev/null || { echo "[install] npm is needed for the KEDA manifest check: apt-get install npm"; exit 1; }
	@npm ci --prefix deploy/k8s/checks --no-audit --no-fund --loglevel=error
	@touch $@

infra: install ## Start Kafka and PostgreSQL locally (idempotent), create the topics, apply migrations
	@deploy/local/kafka.sh start
	@KAFKA_BOOTSTRAP_SERVERS=$${KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:$${KAFKA_PORT:-9092}} $(VENV)/bin/pipeline-topics
	@deploy/local/postgres.sh start
	@$(VENV)/bin/pipeline-migrate

run: infra ## Run the whole system with the emulator, import one signed project, keep running until Ctrl-C (RUN_ARGS="--replicas importer=2")
	@$(PY) -m pipeline_devtools.demo $(RUN_ARGS)

test: infra $(K8S_CHECKS) ## Run every test against real Kafka, PostgreSQL and the emulator
	@deploy/local/browser.sh ensure
	@$(VENV)/bin/pytest $(PYTEST_ARGS)

chaos: infra ## Only the fault suite: kill stages, restart Kafka and PostgreSQL, Aurora faults (also part of `make test`)
	@$(VENV)/bin/pytest tests/faults -s $(PYTEST_ARGS)

asyncapi: install ## Write the AsyncAPI document of every topic to libs/common/asyncapi.json
	@$(VENV)/bin/pipeline-asyncapi libs/common/asyncapi.json

lint: install ## ruff and mypy (strict)
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .
	@$(VENV)/bin/mypy libs/common/src libs/devtools/src services/*/src

stop: ## Stop the local Kafka and PostgreSQL
	@deploy/local/kafka.sh stop
	@deploy/local/kafka-cluster.sh stop
	@deploy/local/postgres.sh stop

lock: ## Re-pin third-party dependencies from requirements.in
	@$(UV) pip compile -q --python-version 3.11 requirements.in -o requirements.lock

bench: infra ## Measure the pipeline on this machine (table + bench-results/*.json); BENCH_ARGS="--quick" for a smoke run
	@command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null 2>&1 || \
	  { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq wrk >/dev/null 2>&1; } || \
	  echo "[bench] wrk could not be installed: the gateway ingest phase will be reported as not measured"
	@$(PY) -m pipeline_devtools.bench $(BENCH_ARGS)

clean-data: stop ## Delete local Kafka and PostgreSQL data (keeps the downloaded jars)
	deploy/local/postgres.sh delete-data
	rm -rf .local/kafka/data .local/kafka/server.properties .local/postgres
