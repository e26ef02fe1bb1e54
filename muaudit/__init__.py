"""muaudit: audit machine unlearning against the retrain band, at the output and in the representations."""

import importlib

__version__ = "0.1.0"

__all__ = ["__version__", "load_audit"]


def __getattr__(name: str):
    # The public facade: `from muaudit import load_audit` reads a workspace's results, lineage (MLflow) included,
    # so it lives with the runner (muaudit/runner/api.py). Loaded on first use: importing muaudit (or any core
    # module) imports nothing of the runner.
    if name == "load_audit":
        return importlib.import_module("muaudit.runner.api").load_audit
    raise AttributeError(f"module 'muaudit' has no attribute {name!r}")
