# Two commands from a fresh clone: `make audit` and `make test`. Both set up .venv first (once).
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
BIN := $(VENV)/bin

.PHONY: setup setup-browser audit test test-slow test-all lint clean

setup: $(STAMP)

# uv installs the lock (7.4x faster than pip on 2 loaded cores, benchmarks/results.md); pip installs uv itself, pinned.
UV_VERSION := 0.13.9
PIP := $(BIN)/python -m pip install -q --disable-pip-version-check
UV = $(BIN)/uv pip install -q --python $(BIN)/python

$(BIN)/python:
	@$(PYTHON) -m venv $(VENV)

# Reinstall only when the lock file or the project metadata changed: a ready .venv costs one stat.
# Without uv (no wheel for this platform, or its index unreachable) the same three steps run with pip.
# uv reads none of pip's configuration: tools/uv-env.sh hands it the indexes, find-links and constraints pip has.
# Bytecode is compiled at install (pip does it by default, uv on request, and the project's own modules after):
# with PYTHONDONTWRITEBYTECODE set, as here, every run would otherwise compile ~1,800 modules (1.7 s of a no-op).
# .dvcignore keeps __pycache__ out of the code deps' hashes.
$(STAMP): requirements.lock pyproject.toml | $(BIN)/python
	@echo "Installing pinned dependencies into $(VENV) (torch==2.13.0 first: the CPU wheel on disk)..."
	@if $(PIP) "uv==$(UV_VERSION)" 2>/dev/null; then \
		eval "$$(sh tools/uv-env.sh $(BIN)/python)" && $(UV) --compile-bytecode "torch==2.13.0" \
			&& $(UV) --compile-bytecode -r requirements.lock && $(UV) --no-deps --no-build-isolation -e .; \
	else \
		echo "uv==$(UV_VERSION) is not installable here: installing with pip"; \
		$(PIP) "torch==2.13.0" 2>&1 | grep -v "is ignored"; \
		$(PIP) -r requirements.lock 2>&1 | grep -v "is ignored"; \
		$(PIP) --no-deps --no-build-isolation -e . 2>&1 | grep -v "is ignored"; \
	fi || true
	@$(BIN)/python -c "import torch, prefect, dvc, mlflow, muaudit" || (echo "setup failed: see the output above" && exit 1)
	@$(BIN)/python -m compileall -q muaudit tasks flows >/dev/null
	@# an empty MLflow store migrated once per user, copied into each fresh workspace (muaudit.runner.tracking)
	@$(BIN)/python -c "from muaudit.runner.tracking import store_template; store_template()" 2>/dev/null \
		|| echo "note: ~/.cache/muaudit is not writable; each fresh workspace migrates its own MLflow store"
	@touch $(STAMP)

audit: setup
	@$(BIN)/muaudit run

# The report's first-screen test (slow) opens the HTML in headless Chromium (Debian's package); installed here,
# never from pytest.
setup-browser:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

# The suite CI runs: every test not marked slow, one real end-to-end audit among them (docs/testing.md).
test: setup
	@$(BIN)/python -m pytest -m "not slow"

# The end-to-end tests that run real pipelines many times over (faults, operations, tuning, the browser).
test-slow: setup setup-browser
	@$(BIN)/python -m pytest -m slow

test-all: setup setup-browser
	@$(BIN)/python -m pytest

lint: setup
	@$(BIN)/ruff check muaudit tasks flows tests

clean:
	rm -rf data/split data/models data/activations data/metrics data/report
