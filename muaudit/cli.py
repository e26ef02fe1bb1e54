"""`muaudit run | status | methods | layers`: the command line of the audit."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from muaudit.errors import MuauditError


def _summary(workspace: Path) -> str:
    md = workspace / "data/report/report.md"
    if not md.exists():
        return ""
    lines = md.read_text().splitlines()
    return "\n".join(line for line in lines if line.startswith("|"))


def cmd_run(args) -> int:
    from muaudit import tracking
    from muaudit.config import load_params
    from muaudit.pipeline import make_plan
    from muaudit.validate import validate_inputs
    from muaudit.workspace import REPORT, exclusive

    ws = Path(args.workspace).resolve()
    os.chdir(ws)
    # Everything about the params is checked before the lock, the plan or MLflow touch the workspace.
    validate_inputs(load_params(ws / "params.yaml"))
    start = time.perf_counter()
    with exclusive(ws):
        _recover(ws)
        plan = make_plan(ws)
        tags = {"muaudit.kind": "audit", "muaudit.noop": str(plan.empty).lower(),
                "muaudit.stale_stages": ",".join(plan.stages)}
        with tracking.run("audit", ws, tags=tags) as parent:
            if plan.empty:
                print("Nothing is stale: every stage matches dvc.lock; no stage ran.")
                outcome = {}
            else:
                try:
                    outcome = _run_flow(ws, plan, args.workers, parent.run_id)
                except KeyboardInterrupt:
                    # The pool is shut down by now; a worker interrupted before it could end its stage's
                    # run (e.g. while the run was being created) left it RUNNING: end it here, not next time.
                    tracking.reap_dead_runs(ws)
                    raise
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
    failures = _method_failures(ws)
    for method, why in failures.items():
        print(f"error: method {method} failed: {why}", file=sys.stderr)
    if failures:
        print("error: at least one method failed; see the report", file=sys.stderr)
        return 1
    return 0


def _recover(ws: Path) -> None:
    """Clean up after an audit that was killed: its temporaries and the MLflow runs it left RUNNING."""
    from muaudit import tracking
    from muaudit.io import sweep_stale_temps

    for path in sweep_stale_temps(ws / "data"):
        print(f"removed the leftover of a killed writer: {path.relative_to(ws)}")
    if (ws / "mlflow.db").exists() or os.environ.get("MLFLOW_TRACKING_URI"):
        for run_id in tracking.reap_dead_runs(ws):
            print(f"marked MLflow run {run_id} KILLED: its process is gone")


def _method_failures(ws: Path) -> dict[str, str]:
    """Method -> its error, for every model whose verdict is `failed`."""
    path = ws / "data/metrics/metrics.parquet"
    if not path.exists():
        return {}
    import pyarrow.parquet as pq

    t = pq.read_table(path, columns=["model", "metric", "layer", "label"]).to_pandas()
    failed = t[(t.metric == "verdict") & (t.layer == "") & (t.label == "failed")].model
    errors = t[t.metric == "error"].set_index("model").label
    return {m: errors.get(m, "see the report") for m in failed}


def _run_flow(ws: Path, plan, workers: int, parent_run_id: str) -> dict[str, str]:
    from dataclasses import asdict

    from muaudit.workspace import prefect_env

    prefect_env(ws)
    from flows.audit import audit, task_runner, use_pool
    from flows.workers import pool

    print(f"Running {len(plan.stages)} stale stage(s) with {workers} worker(s): {', '.join(plan.stages)}")
    with pool(str(ws), workers) as executor:
        use_pool(executor)
        try:
            return audit.with_options(task_runner=task_runner(workers))(str(ws), asdict(plan), parent_run_id)
        finally:
            use_pool(None)


def cmd_status(args) -> int:
    from muaudit.config import load_params
    from muaudit.pipeline import make_plan
    from muaudit.validate import validate_inputs

    ws = Path(args.workspace).resolve()
    validate_inputs(load_params(ws / "params.yaml"))
    plan = make_plan(ws)
    if plan.empty:
        print("Nothing is stale.")
        return 0
    for stage in plan.stages:
        print(f"{stage}:")
        for reason in plan.reasons.get(stage, []):
            print(f"    {reason}")
    return 0


def cmd_methods(args) -> int:
    from muaudit.methods import registry

    for name in registry.names():
        spec = registry.get(name)
        print(f"{name:<20} [{', '.join(spec.scenarios)}] {spec.description}")
    return 0


def cmd_layers(args) -> int:
    import torch

    from muaudit.config import load_params
    from muaudit.data import get_dataset
    from muaudit.models import build_model

    ws = Path(args.workspace).resolve()
    params = load_params(ws / "params.yaml")
    data = get_dataset(params.data.name, params.data.path)
    model = build_model(params.model.name, data.x.shape[1:], data.num_classes).eval()
    shapes: dict[str, tuple] = {}
    hooks = [m.register_forward_hook(lambda _m, _i, o, n=n: shapes.__setitem__(n, tuple(o.shape[1:])))
             for n, m in model.named_modules() if n]
    with torch.inference_mode():
        model(torch.from_numpy(data.x[:2]))
    for h in hooks:
        h.remove()
    default = set(getattr(model, "default_layers", ()))
    for name, shape in shapes.items():
        print(f"{name:<24} {str(shape):<20}{' (default)' if name in default else ''}")
    print(f"{'logits':<24} {str(shapes.get('head', ())):<20} (always stored)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="muaudit", description=__doc__)
    parser.add_argument("-C", "--workspace", default=".", help="workspace folder (default: current)")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the stale stages of the audit and print the verdicts")
    run.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 1)),
                     help="stages run at once (each with runtime.threads torch threads)")
    run.set_defaults(fn=cmd_run)
    sub.add_parser("status", help="list the stale stages and why").set_defaults(fn=cmd_status)
    sub.add_parser("methods", help="list the registered unlearning methods").set_defaults(fn=cmd_methods)
    sub.add_parser("layers", help="list the model's named layers and output shapes").set_defaults(fn=cmd_layers)
    args = parser.parse_args(argv)
    try:
        return args.fn(args)
    except MuauditError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except OSError as err:  # e.g. the workspace itself is not writable: one line, not a traceback
        print(f"error: {err.filename or args.workspace}: {err.strerror or err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: stages that finished are recorded; rerun `muaudit run` to continue", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
