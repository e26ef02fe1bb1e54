"""One audit, start to end: plan with DVC, run the stale stages through the Prefect flow, record it in MLflow.

`muaudit run` and the scheduled flow of `muaudit serve` both call run_audit, so a scheduled run does
exactly what a manual one does (including the no-op run record when nothing is stale).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

RUNNERS = ("local", "dask")


def _summary(workspace: Path) -> str:
    md = workspace / "data/report/report.md"
    if not md.exists():
        return ""
    lines = md.read_text().splitlines()
    return "\n".join(line for line in lines if line.startswith("|"))


def default_workers(threads: int) -> int:
    """As many stages at once as fit the cores when each uses `threads` torch threads."""
    return max(1, (os.cpu_count() or 1) // max(1, threads))


def run_audit(workspace: str | Path, workers: int | None = None, runner: str = "local", address: str | None = None) -> int:
    """Run the stale stages of the workspace; returns the exit code of `muaudit run`."""
    from muaudit import tracking
    from muaudit.config import load_params
    from muaudit.errors import BadInputError
    from muaudit.pipeline import make_plan
    from muaudit.workspace import REPORT, exclusive

    if runner not in RUNNERS:
        raise BadInputError(f"--runner: expected one of {', '.join(RUNNERS)}, got '{runner}'")
    if workers is not None and workers < 1:
        raise BadInputError(f"--workers: expected a positive number of stages at once, got {workers}")
    ws = Path(workspace).resolve()
    os.chdir(ws)
    params = load_params(ws / "params.yaml")
    workers = workers or default_workers(params.runtime.threads)
    start = time.perf_counter()
    with exclusive(ws):
        plan = make_plan(ws)
        tags = {"muaudit.kind": "audit", "muaudit.noop": str(plan.empty).lower(),
                "muaudit.stale_stages": ",".join(plan.stages), "muaudit.runner": runner}
        with tracking.run("audit", ws, tags=tags) as parent:
            if plan.empty:
                print("Nothing is stale: every stage matches dvc.lock; no stage ran.")
                outcome = {}
            else:
                outcome = _run_flow(ws, plan, workers, parent.run_id, runner, address)
            parent.log_metrics({"stages_run": sum(v == "ok" for v in outcome.values()),
                                "stages_failed": sum(v != "ok" for v in outcome.values()),
                                "wall_time_s": time.perf_counter() - start})
            report = ws / REPORT
            if outcome and report.exists():
                parent.log_artifact(report.parent / "report.md", "report")
                parent.log_artifact(report, "report")
    failed = sorted(s for s, v in outcome.items() if v != "ok")
    table = _summary(ws)
    if table:
        print(table)
    if (ws / REPORT).exists():
        print(f"Report: {ws / REPORT}")
    if failed:
        print(f"error: {len(failed)} stage(s) failed or were blocked: {', '.join(failed)}", file=sys.stderr)
        return 1
    if _any_method_failed(ws):
        print("error: at least one method failed; see the report", file=sys.stderr)
        return 1
    return 0


def _any_method_failed(ws: Path) -> bool:
    path = ws / "data/metrics/metrics.parquet"
    if not path.exists():
        return False
    import pyarrow.parquet as pq

    t = pq.read_table(path, columns=["metric", "layer", "label"]).to_pandas()
    return bool(((t.metric == "verdict") & (t.layer == "") & (t.label == "failed")).any())


def _run_flow(ws: Path, plan, workers: int, parent_run_id: str, runner: str, address: str | None) -> dict[str, str]:
    from dataclasses import asdict

    from muaudit.errors import BadInputError
    from muaudit.workspace import prefect_api_url, prefect_env, share_ephemeral_server

    prefect_env(ws)
    from flows.audit import audit, dask_runner, task_runner, use_pool
    from flows.workers import pool

    where = f"Dask at {address}" if runner == "dask" and address else f"{workers} {runner} worker(s)"
    print(f"Running {len(plan.stages)} stale stage(s) on {where}: {', '.join(plan.stages)}")
    if runner == "dask":
        if not prefect_api_url():
            if address:
                raise BadInputError("PREFECT_API_URL: not set; Dask workers on other machines report to a "
                                    "persistent Prefect server: start one with `prefect server start`")
            share_ephemeral_server()
        use_pool(None)  # each stage runs inside the Dask worker process that got its task
        return audit.with_options(task_runner=dask_runner(workers, address))(str(ws), asdict(plan), parent_run_id)
    with pool(str(ws), workers) as executor:
        use_pool(executor)
        try:
            return audit.with_options(task_runner=task_runner(workers))(str(ws), asdict(plan), parent_run_id)
        finally:
            use_pool(None)
