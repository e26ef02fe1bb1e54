"""`muaudit run | status | methods | layers | lineage | verify`: the command line of the audit."""

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
    # headings too, so the instrument check table and the verdict table print as two labelled tables
    return "\n".join(line for line in lines if line.startswith(("|", "## ")))


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
        if not plan.empty:  # the server starts while the MLflow parent run opens
            from flows.workers import start_prefect_server
            from muaudit.workspace import prefect_env

            prefect_env(ws)
            start_prefect_server()
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
                # the report, its plots (inline in index.html), manifest and DVC metrics/plots files
                for f in sorted(p for p in report.parent.iterdir() if p.is_file()):
                    parent.log_artifact(f, "report")
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
    from muaudit.strict import failed_controls as _failed

    failed_controls = _failed(ws)
    if failed_controls and not args.strict:
        print(f"warning: control(s) failed the instrument check: {', '.join(failed_controls)}; see the report",
              file=sys.stderr)
    if args.strict:
        from muaudit.strict import strict_failures

        failures = strict_failures(ws)
        for line in failures:
            print(f"strict: {line}", file=sys.stderr)
        if failures:
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
    from flows.workers import pool, start_prefect_server, wait_prefect_server

    print(f"Running {len(plan.stages)} stale stage(s) with {workers} worker(s): {', '.join(plan.stages)}")
    start_prefect_server()
    with pool(str(ws), workers) as executor:
        wait_prefect_server()
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
    os.chdir(ws)  # as in a stage: data.path and user models (model.name "pkg.mod:fn") resolve in the workspace
    sys.path.insert(0, str(ws))
    data = get_dataset(params.data.name, params.data.path, label_column=params.data.label_column,
                       id_column=params.data.id_column)
    model = build_model(params.model.name, data.x.shape[1:], data.num_classes, **params.model.kwargs).eval()
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


def cmd_lineage(args) -> int:
    from muaudit.lineage.chain import lineage

    filters = {k: v for k in ("model", "reference", "metric", "layer", "role") if (v := getattr(args, k)) is not None}
    for line in lineage(Path(args.workspace), args.path, filters):
        print(line)
    return 0


def cmd_verify(args) -> int:
    from muaudit.lineage.verify import verify

    findings = verify(Path(args.workspace), manifest=args.manifest)
    for note in findings.notes:
        print(f"note: {note}")
    for problem in findings.problems:
        print(problem, file=sys.stderr)
    if findings.problems:
        print(f"error: {len(findings.problems)} mismatch(es) against the audit record", file=sys.stderr)
        return 1
    print("verified: every artifact matches dvc.lock" + (" and the manifest" if args.manifest else ""))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="muaudit", description=__doc__)
    parser.add_argument("-C", "--workspace", default=".", help="workspace folder (default: current)")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the stale stages of the audit and print the verdicts")
    run.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 1)),
                     help="stages run at once (each with runtime.threads torch threads)")
    run.add_argument("--strict", action="store_true",
                     help="exit 1 when the audit policy (params.yaml policy:) or a control of the instrument check fails")
    run.set_defaults(fn=cmd_run)
    sub.add_parser("status", help="list the stale stages and why").set_defaults(fn=cmd_status)
    sub.add_parser("methods", help="list the registered unlearning methods").set_defaults(fn=cmd_methods)
    sub.add_parser("layers", help="list the model's named layers and output shapes").set_defaults(fn=cmd_layers)
    lin = sub.add_parser("lineage", help="print the chain from an artifact or a metric row back to the dataset")
    lin.add_argument("path", help="an artifact path, e.g. data/metrics (with --model etc. for one metric row)")
    for col in ("model", "reference", "metric", "layer", "role"):
        lin.add_argument(f"--{col}", help=f"select metric rows by their {col} column")
    lin.set_defaults(fn=cmd_lineage)
    ver = sub.add_parser("verify", help="rehash every artifact against dvc.lock, MLflow and the manifest")
    ver.add_argument("--manifest", action="store_true",
                     help="also require the manifest and check its Ed25519 signature (MUAUDIT_VERIFY_KEY)")
    ver.set_defaults(fn=cmd_verify)
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
