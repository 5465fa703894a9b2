# The two commands of the quick start: `make serve` and `make test`.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Debian packages the tests need: the JDK and Quartz 2.3.2 for the differential cron tests,
# PostgreSQL for the store and engine tests (each test run starts its own throwaway cluster),
# Chromium for the browser tests (driven by Playwright for Python, headless).
DEB_PACKAGES := default-jdk-headless libquartz2-java postgresql chromium
# axe-core, the accessibility checker the browser tests run on every page, from npm.
AXE := $(VENV)/axe/node_modules/axe-core/axe.min.js
AXE_VERSION := 4.14.1

.PHONY: serve test lint typecheck layers unit bench bench-scheduler bench-api bench-gp bench-notebooks bench-backup deps-test deps-debian clean

$(BIN)/gistasks: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	@touch $@

serve: $(BIN)/gistasks
	$(BIN)/gistasks serve $(ARGS)

deps-debian:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

$(VENV)/.test-deps: pyproject.toml $(BIN)/gistasks
	$(BIN)/pip install --quiet -e '.[test,bench]'
	@touch $@

$(AXE):
	@command -v npm > /dev/null || $(MAKE) --no-print-directory deps-debian DEB_PACKAGES=npm
	mkdir -p $(VENV)/axe
	cd $(VENV)/axe && npm install --silent --no-audit --no-fund --no-save axe-core@$(AXE_VERSION)

deps-test: deps-debian $(VENV)/.test-deps $(AXE)

lint: $(VENV)/.test-deps
	$(BIN)/ruff check src tests benchmarks

typecheck: $(VENV)/.test-deps
	$(BIN)/mypy

# The layer contract of docs/architecture.md (pyproject.toml, [tool.importlinter]).
layers: $(VENV)/.test-deps
	$(BIN)/lint-imports

# The tests start many servers; bytecode compiled once spares each of them compiling
# gistasks again when the environment says not to write it (PYTHONDONTWRITEBYTECODE).
unit: deps-test
	$(BIN)/python -m compileall -q src tests > /dev/null
	$(BIN)/pytest -q

test: deps-test lint typecheck layers unit

bench: deps-test
	$(BIN)/python benchmarks/cron_bench.py

bench-scheduler: deps-test
	$(BIN)/python benchmarks/scheduler_bench.py

# wrk (C) drives the concurrent part: a Python client would be the bottleneck on 2 cores.
bench-api: deps-test
	@$(MAKE) --no-print-directory deps-debian DEB_PACKAGES=wrk
	$(BIN)/python benchmarks/api_bench.py

# pygeoapi runs in a venv of its own under ~/.cache/gistasks-bench, on a throwaway PostgreSQL.
bench-notebooks: deps-test
	$(BIN)/python benchmarks/notebook_bench.py

bench-gp: deps-test
	$(BIN)/python benchmarks/gp_bench.py

# Against Debian's restic on the same data directory (1.4 GB), in the same run.
bench-backup: deps-test
	@$(MAKE) --no-print-directory deps-debian DEB_PACKAGES=restic
	$(BIN)/python benchmarks/backup_bench.py $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
