"""muaudit: audit machine unlearning against the retrain band, at the output and in the representations."""

__version__ = "0.1.0"

__all__ = ["__version__", "load_audit"]


def __getattr__(name: str):
    # `from muaudit import load_audit` without importing pandas on every `muaudit` command
    if name == "load_audit":
        from muaudit.api import load_audit

        return load_audit
    raise AttributeError(f"module 'muaudit' has no attribute {name!r}")
