"""The MLflow side of lineage: the latest finished run of each stage, with its commit, flow run and time."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path


def stage_runs(workspace: Path, stages: list[str]) -> dict[str, dict[str, str]]:
    """{stage: {run_id, git_commit, prefect_flow_run_id, start}}; empty when there is no MLflow store."""
    if not os.environ.get("MLFLOW_TRACKING_URI") and not (workspace / "mlflow.db").exists():
        return {}
    from muaudit.runner import tracking

    cl = tracking.client(workspace)
    exp = cl.get_experiment_by_name(tracking.EXPERIMENT)
    if exp is None:
        return {}
    out = {}
    for name in stages:
        runs = cl.search_runs([exp.experiment_id], f"tags.`muaudit.stage` = '{name}' and attributes.status = 'FINISHED'",
                              order_by=["attributes.start_time DESC"], max_results=1)
        if runs:
            r = runs[0]
            out[name] = {
                "run_id": r.info.run_id,
                "git_commit": tracking.commit_of(r.data.tags),
                "prefect_flow_run_id": r.data.tags.get("prefect.flow_run_id", "(dvc repro: none)"),
                "start": dt.datetime.fromtimestamp(r.info.start_time / 1000, dt.UTC).isoformat(timespec="seconds"),
            }
    return out
