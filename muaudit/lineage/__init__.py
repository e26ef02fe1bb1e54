"""Lineage review: artifact hashes checked against dvc.lock and MLflow, the signed audit manifest."""
