"""The runner: stage execution, DVC, Prefect, MLflow, locks and the CLI. It calls the domain core; the core never
imports it."""
