# 公共资源交易平台 — make targets. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
HOST ?= 127.0.0.1
PORT ?= 8000
# The suite waits on sandbox timers and subprocess servers as much as it computes, so four
# pytest-xdist workers share two cores; work stealing keeps a worker from finishing its share
# long after the others (a fixed split left one worker alone for the last minute).
TEST_WORKERS ?= 4

.DEFAULT_GOAL := help
.PHONY: help run demo test unit fuzz lint services system-deps browser-deps proxy-deps clean bench

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python >= 3.11 is required"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	@touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@ $(STAMP)

system-deps: ## CJK font and HarfBuzz subsetter for the PDF documents (apt-get, only when missing)
	@scripts/system-deps.sh

run: $(STAMP) ## Set up and serve the exchange on http://127.0.0.1:8000 (SQLite, no Redis needed; PORT=8080 HOST=0.0.0.0 to change)
	@scripts/system-deps.sh || echo "make run: without the CJK font PDF documents render poorly (see above)"
	$(BIN)/exchange db upgrade
	$(BIN)/exchange serve --host $(HOST) --port $(PORT) --no-migrate

demo: $(STAMP) ## Watch and join a sandbox exchange: every asset class and mechanism, bots bidding live (SQLite under ./var/demo/; PORT, HOST as run)
	@scripts/system-deps.sh || echo "make demo: without the CJK font PDF documents render poorly (see above)"
	$(BIN)/exchange demo --host $(HOST) --port $(PORT)

services: ## Make sure PostgreSQL and Redis are up (starts them when they are not)
	@scripts/services.sh

browser-deps: ## Debian's Chromium for the page tests (apt-get, only when missing)
	@scripts/browser-deps.sh

proxy-deps: ## Debian's nginx for the failover test, which starts its own (apt-get, only when missing)
	@scripts/proxy-deps.sh

test: $(DEV_STAMP) services system-deps browser-deps proxy-deps ## Set up and run the whole suite against PostgreSQL, Redis, Chromium and nginx
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist worksteal --durations=25

unit: $(DEV_STAMP) ## The pure tests only (mechanisms, rules, calendar, codes): seconds, no services
	$(BIN)/pytest -q tests/unit

# Examples per operation and caller of the full fuzz: about 20,000 cases in all (make test runs 2).
FUZZ_EXAMPLES ?= 100
FUZZ_MIN_CASES ?= 20000

# Scripts per kind of auction of the differential test of the two bid stores (make test runs 8).
DIFF_EXAMPLES ?= 100

fuzz: $(DEV_STAMP) services system-deps ## Schemathesis (>= 20,000 cases as anonymous, bidder, operator, admin), then the two bid stores on 100 scripts per kind
	EXCHANGE_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) EXCHANGE_FUZZ_MIN_CASES=$(FUZZ_MIN_CASES) EXCHANGE_FUZZ_EVERY_PHASE=1 \
		$(BIN)/pytest -q -s -p no:cacheprovider tests/integration/test_api_schema.py -k never_fails
	EXCHANGE_DIFF_EXAMPLES=$(DIFF_EXAMPLES) $(BIN)/pytest -q -p no:cacheprovider tests/integration/test_bid_stores.py

lint: $(DEV_STAMP) ## ruff, mypy (strict on the domain packages) and the import contracts (lint-imports)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check exchange listings auctions settlement documents tests
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

clean: ## Remove the virtualenv and local data
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
