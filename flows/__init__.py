"""Prefect flows: they sequence the stages that DVC says are stale; they decide nothing else."""
