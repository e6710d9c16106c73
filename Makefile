# Two commands for a fresh machine: `make run` and `make test`. Each sets itself up.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements/dev.lock pyproject.toml | sha1sum | cut -c1-12)
TS_CLIENT := clients/typescript
TS_STAMP := $(TS_CLIENT)/node_modules/.installed-$(shell cat $(TS_CLIENT)/package.json $(TS_CLIENT)/package-lock.json | sha1sum | cut -c1-12)
BROWSER_TESTS := tests/browser
BROWSER_STAMP := $(BROWSER_TESTS)/node_modules/.installed-$(shell cat $(BROWSER_TESTS)/package.json $(BROWSER_TESTS)/package-lock.json | sha1sum | cut -c1-12)
CHROMIUM := /usr/bin/chromium
PYTEST_ARGS ?= -n 2

.PHONY: run test install typescript-client browser chromium lint typecheck openapi-check pytest postgres redis lock openapi bench bench-appointments clean

run: install
	$(BIN)/rathaus migrate
	$(BIN)/rathaus seed-demo
	$(BIN)/rathaus serve

test: install typescript-client browser postgres redis lint typecheck openapi-check pytest

install: $(STAMP)

$(STAMP): requirements/dev.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements/dev.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-build-isolation --no-deps -e .
	rm -f $(VENV)/.installed-*
	touch $@

# The TypeScript client's generator and compiler, for tests/test_generated_clients.py; exactly
# the versions in its package-lock.json. npm ci starts from an empty node_modules, so the stamp
# of the lock it installed is the only one there.
typescript-client: $(TS_STAMP)

$(TS_STAMP): $(TS_CLIENT)/package.json $(TS_CLIENT)/package-lock.json
	cd $(TS_CLIENT) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

# What tests/browser/ drives: Debian's headless Chromium (its own package, no browser download
# by a test tool; installing it needs root, as CI has) and axe-core, exactly the version in
# tests/browser/package-lock.json, which the tests inject into the pages from disk.
browser: chromium $(BROWSER_STAMP)

chromium:
	@test -x $(CHROMIUM) || { apt-get update -qq \
		&& DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }

$(BROWSER_STAMP): $(BROWSER_TESTS)/package.json $(BROWSER_TESTS)/package-lock.json
	cd $(BROWSER_TESTS) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

typecheck: install
	$(BIN)/mypy

openapi-check: install
	$(BIN)/rathaus openapi --check

pytest: install typescript-client browser postgres redis
	$(BIN)/pytest $(PYTEST_ARGS)

# Start the local PostgreSQL cluster if it is installed but stopped. If it is not installed,
# the tests skip their PostgreSQL half (or fail with RATHAUS_TEST_REQUIRE_POSTGRES=1).
postgres:
	@if command -v pg_ctlcluster >/dev/null && ls /etc/postgresql >/dev/null 2>&1; then \
		for v in $$(ls /etc/postgresql); do \
			pg_ctlcluster --skip-systemctl-redirect $$v main status >/dev/null 2>&1 \
				|| pg_ctlcluster --skip-systemctl-redirect $$v main start || true; \
		done; \
	else \
		echo "PostgreSQL is not installed here: its half of the tests will be skipped."; \
	fi

# Start a local Redis if it is installed but not answering: the rate-limit tests prove the
# limits shared across processes against it.
redis:
	@if command -v redis-server >/dev/null; then \
		redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 \
			|| redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no; \
	else \
		echo "Redis is not installed here: the rate-limit tests that need it will fail."; \
	fi

openapi: install
	$(BIN)/rathaus openapi

bench: install postgres
	$(BIN)/python -m bench.http_baseline
	$(BIN)/python -m bench.appointments
	$(BIN)/python -m bench.busy_day

bench-appointments: install postgres
	$(BIN)/python -m bench.appointments
	$(BIN)/python -m bench.busy_day

# Regenerate the lock files after changing dependencies in pyproject.toml.
lock:
	$(BIN)/uv pip compile pyproject.toml requirements/build.in --python-version 3.11 --generate-hashes -q -o requirements/runtime.lock
	$(BIN)/uv pip compile pyproject.toml requirements/build.in --extra dev --python-version 3.11 --generate-hashes -q -o requirements/dev.lock

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
	rm -rf $(TS_CLIENT)/node_modules $(TS_CLIENT)/dist $(TS_CLIENT)/src/schema.d.ts
	rm -rf $(BROWSER_TESTS)/node_modules
