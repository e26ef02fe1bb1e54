# Two commands from a fresh clone: `make audit` and `make test`. Both set up .venv first (once).
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
BIN := $(VENV)/bin

.PHONY: setup setup-test audit test lint clean

setup: $(STAMP)

# Reinstall only when the lock file or the project metadata changed: a ready .venv costs one stat.
$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing pinned dependencies into $(VENV) (torch==2.13.0 first: the CPU wheel on disk)..."
	@$(BIN)/python -m pip install -q --disable-pip-version-check "torch==2.13.0" 2>&1 | grep -v "is ignored" || true
	@$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements.lock 2>&1 | grep -v "is ignored" || true
	@$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e . 2>&1 | grep -v "is ignored" || true
	@$(BIN)/python -c "import torch, prefect, dvc, mlflow, muaudit" || (echo "setup failed: see the pip output above" && exit 1)
	@touch $(STAMP)

audit: setup
	@$(BIN)/muaudit run

# The report test opens the HTML in headless Chromium (Debian's package); installed here, never from pytest.
setup-test:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

test: setup setup-test
	@$(BIN)/python -m pytest

lint: setup
	@$(BIN)/ruff check muaudit tasks flows tests

clean:
	rm -rf data/split data/models data/activations data/metrics data/report
