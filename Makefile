# Two commands on a fresh machine:  `make run`  and  `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: run install install-dev browser charts lint typecheck imports test unit integration e2e bench migrate clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall only when the project's metadata changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

migrate: install
	$(BIN)/trader migrate

## run: install, migrate, and start all seven services on the embedded default
run: install
	$(BIN)/trader migrate
	$(BIN)/trader up

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install-dev
	$(BIN)/mypy trader

imports: install-dev
	$(BIN)/lint-imports

# The dashboard's browser tests drive Debian's Chromium (never a downloaded browser build).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  (apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null) \
	  || echo "warning: could not install chromium (not root?); browser tests will skip, or fail with CI=true"; }

## charts: refresh the vendored chart library from npm (version pinned in package.json/package-lock.json)
charts: install
	npm ci --no-audit --no-fund
	$(BIN)/python scripts/vendor_charts.py

## test: lint, type check, import rules, then every test (unit, integration, e2e)
# Two workers: most of the slow tests wait on the services they start, so a second worker roughly
# halves the wall time on two cores. A module's tests stay on one worker (--dist loadscope): the
# module-scoped systems start once, and each worker has its own Redis and PostgreSQL databases.
TEST_WORKERS ?= 2
test: lint typecheck imports browser
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadscope $(PYTEST_ARGS)

unit: install-dev
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

integration: install-dev
	$(BIN)/pytest tests/integration $(PYTEST_ARGS)

e2e: install-dev
	$(BIN)/pytest tests/e2e $(PYTEST_ARGS)

## bench: the benchmarks, with their peers, outside CI
bench: install-dev
	$(BIN)/pip install --quiet -e ".[bench]"
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache artifacts
