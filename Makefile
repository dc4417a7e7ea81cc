# Set-up, run, test and lint. Needs only Python 3.11+ (and, for the
# PostgreSQL tests, the PostgreSQL 15 server binaries).

# The first interpreter on PATH that runs and is 3.11 or newer.
PYTHON ?= $(shell for candidate in python3.13 python3.12 python3.11 python3; do \
	if $$candidate -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; \
	then command -v $$candidate; break; fi; done)
VENV := .venv
BIN := $(VENV)/bin
# Written after a successful install; older than pyproject.toml means the
# dependencies changed and install runs again.
STAMP := $(VENV)/.installed

.PHONY: install up test e2e lint format bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || \
		{ echo "error: no Python 3.11 or newer on PATH; run: make PYTHON=/path/to/python3.11 ..."; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "error: $(PYTHON) is older than 3.11; run: make PYTHON=/path/to/python3.11 ..."; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

# Temporal, a worker and the API on 127.0.0.1; pass flags with ARGS="--api-port 9000".
up: install
	$(BIN)/helpdesk up $(ARGS)

# The whole suite, end-to-end tests included; narrow it with ARGS="-k intake".
test: install
	$(BIN)/pytest $(ARGS)

e2e: install
	$(BIN)/pytest -m e2e $(ARGS)

# Runs every check and fails at the end if any failed, so one run lists all.
lint: install
	@status=0; \
	$(BIN)/ruff check . || status=1; \
	$(BIN)/ruff format --check . || status=1; \
	$(BIN)/mypy || status=1; \
	exit $$status

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Intake latency against a stack it starts on free ports.
bench: install
	$(BIN)/python bench/intake_latency.py $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
