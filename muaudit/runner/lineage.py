"""`muaudit lineage`: the chain from an artifact (or one metric row) back to the dataset.

The chain follows dvc.lock: the stage that produced the artifact, then the stages that produced its
data dependencies, down to the split and the dataset. Each step carries its hash and params from the
lock and its code commit, MLflow run, Prefect flow run and time from MLflow.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from muaudit.errors import BadInputError
from muaudit.lineage.lock import LockedStage, producer, producers, read_lock
from muaudit.runner.records import stage_runs

MODEL_IN_PATH = re.compile(r"(?:models/|model=)([^/]+)")


def metric_rows(workspace: Path, metrics_path: Path, filters: dict[str, str]) -> list[dict]:
    import pyarrow.parquet as pq

    table = pq.read_table(metrics_path).to_pandas()
    for col, value in filters.items():
        if col not in table:
            raise BadInputError(f"--{col}: not a column of {metrics_path.relative_to(workspace)}")
        table = table[table[col] == value]
    if table.empty:
        wanted = ", ".join(f"{k}={v}" for k, v in filters.items())
        raise BadInputError(f"{metrics_path.relative_to(workspace)}: no row with {wanted}; expected an existing row")
    return table.head(10).to_dict("records")


def _keep(path: str, models: set[str] | None) -> bool:
    m = MODEL_IN_PATH.search(path)
    return models is None or m is None or m.group(1) in models


def walk(stages: dict[str, LockedStage], start: LockedStage, models: set[str] | None) -> list[LockedStage]:
    """Stages in the order met walking back from start (each once), keeping only the named models' branches."""
    order, queue = [], [start]
    while queue:
        stage = queue.pop(0)
        if stage in order:
            continue
        order.append(stage)
        for dep in stage.deps:
            queue += [up for up in producers(stages, dep.path)
                      if up is not stage and all(_keep(o.path, models) for o in up.outs)]
    return order


def lineage_records(workspace: Path, target: str, filters: dict[str, str]) -> dict:
    """The chain as data: {"rows": the selected metric rows, "chain": one dict per stage from target back to
    the split (stage, outs with md5, params, code commit, MLflow run, Prefect flow run, time), "dataset"}."""
    workspace = workspace.resolve()
    stages = read_lock(workspace)
    rel = Path(target).resolve().relative_to(workspace).as_posix() if Path(target).is_absolute() else target
    start = producer(stages, rel.rstrip("/"))
    if start is None:
        raise BadInputError(f"{target}: not an output recorded in dvc.lock; expected a path under data/")
    rows, models = [], None
    if filters:
        path = workspace / rel
        files = [path] if path.is_file() else sorted(path.rglob("*.parquet"))
        if not files:
            raise BadInputError(f"{target}: no Parquet metrics table to address with --model/--metric/--layer/--role")
        rows = metric_rows(workspace, files[0], filters)
        named = {r["model"] for r in rows}
        band = any(r.get("reference") == "band" or r["model"] == "retrain" for r in rows)
        retrains = {m for s in stages for m in [s.split("@")[-1]] if s.startswith("retrain@")}
        models = (named - {"retrain"}) | {"original"} | ({f"retrain_{s}" for s in retrains} if band else set())
    runs = stage_runs(workspace, list(stages))
    chain = []
    for stage in walk(stages, start, models):
        run = runs.get(stage.name, {})
        chain.append({"stage": stage.name, "outs": [{"path": o.path, "md5": o.md5} for o in stage.outs],
                      "params": stage.params, "code_commit": run.get("git_commit"),
                      "mlflow_run_id": run.get("run_id"), "prefect_flow_run_id": run.get("prefect_flow_run_id"),
                      "start": run.get("start")})
    # the root of the chain is the split stage (not always its last step: tune@ stages read the split directly);
    # its split.json names the dataset and its fingerprint
    root = next((step for step in chain if step["stage"] == "split"), None)
    split = workspace / root["outs"][0]["path"] / "split.json" if root else None
    dataset = None
    if split is not None and split.exists():
        info = json.loads(split.read_text())
        dataset = {"name": info["dataset"], "fingerprint": info["dataset_fingerprint"]}
    return {"rows": rows, "chain": chain, "dataset": dataset}


def lineage(workspace: Path, target: str, filters: dict[str, str]) -> list[str]:
    record = lineage_records(workspace, target, filters)
    lines = ["row: " + ", ".join(f"{k}={v}" for k, v in r.items()) for r in record["rows"]]
    for i, step in enumerate(record["chain"]):
        outs = ", ".join(f"{o['path']} md5={o['md5']}" for o in step["outs"])
        params = json.dumps(step["params"], sort_keys=True, default=str)
        lines += [f"{'' if i == 0 else '← '}{step['stage']}: {outs}",
                  f"    params: {params}",
                  f"    code commit: {_or(step['code_commit'], '(no MLflow record)')}; MLflow run: "
                  f"{_or(step['mlflow_run_id'], '–')}; Prefect flow run: {_or(step['prefect_flow_run_id'], '–')}; "
                  f"time: {_or(step['start'], '–')}"]
    if record["dataset"]:
        lines.append(f"← dataset {record['dataset']['name']}: fingerprint {record['dataset']['fingerprint']}")
    return lines


def _or(value, missing: str):
    return missing if value is None else value
