# Set-up, run, test and lint. Needs only Python 3.11+ (and, for the
# PostgreSQL tests, the PostgreSQL 15 server binaries).

PYTHON ?= $(shell command -v python3.13 || command -v python3.12 || command -v python3.11 || echo python3)
VENV := .venv
BIN := $(VENV)/bin
# Written after a successful install; older than pyproject.toml means the
# dependencies changed and install runs again.
STAMP := $(VENV)/.installed

.PHONY: install up test e2e lint format bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
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

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Intake latency against a stack it starts on free ports.
bench: install
	$(BIN)/python bench/intake_latency.py $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
