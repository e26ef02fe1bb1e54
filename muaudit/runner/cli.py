"""`muaudit run | serve | status | methods | layers | lineage | verify`: the command line of the audit."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from muaudit import __version__
from muaudit.errors import MuauditError
from muaudit.runner.interrupt import MESSAGES, STOP


def cmd_run(args) -> int:
    from muaudit.runner.orchestrate import run_audit

    return run_audit(args.workspace, args.workers, args.runner, args.address, args.strict)


def cmd_serve(args) -> int:
    from muaudit.config import load_params
    from muaudit.runner.workspace import prefect_env, project_code

    ws = Path(args.workspace).resolve()
    load_params(ws / "params.yaml")
    project_code(ws)
    prefect_env()
    from flows.scheduled import serve

    serve(ws, args.cron, args.interval, args.workers, args.runner, args.address)
    return 0


def cmd_status(args) -> int:
    from muaudit.config import load_params
    from muaudit.runner.pipeline import make_plan
    from muaudit.validate import validate_inputs

    ws = Path(args.workspace).resolve()
    validate_inputs(load_params(ws / "params.yaml"))
    plan = make_plan(ws)
    if args.json:
        _print_json({"stale": [{"stage": s, "reasons": plan.reasons.get(s, []), "upstream": plan.upstream.get(s, [])}
                               for s in plan.stages]})
        return 0
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

    if args.json:
        _print_json([{"name": n, "scenarios": list(registry.get(n).scenarios),
                      "description": registry.get(n).description} for n in registry.names()])
        return 0
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
    from muaudit.runner.lineage import lineage, lineage_records

    filters = {k: v for k in ("model", "reference", "metric", "layer", "role") if (v := getattr(args, k)) is not None}
    if args.json:
        _print_json(lineage_records(Path(args.workspace), args.path, filters))
        return 0
    for line in lineage(Path(args.workspace), args.path, filters):
        print(line)
    return 0


def cmd_verify(args) -> int:
    from muaudit.runner.verify import verify

    findings = verify(Path(args.workspace), manifest=args.manifest)
    if args.json:
        _print_json({"verified": not findings.problems, "problems": findings.problems, "notes": findings.notes})
        return 1 if findings.problems else 0
    for note in findings.notes:
        print(f"note: {note}")
    for problem in findings.problems:
        print(problem, file=sys.stderr)
    if findings.problems:
        print(f"error: {len(findings.problems)} mismatch(es) against the audit record", file=sys.stderr)
        return 1
    print("verified: every artifact matches dvc.lock" + (" and the manifest" if args.manifest else ""))
    return 0


def _print_json(data) -> None:
    import json

    print(json.dumps(data, indent=2, default=str, allow_nan=False))


def _json_option(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    return parser


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", type=int, default=None,
                        help="stages run at once (default: cores // runtime.threads, so workers x threads fits the cores)")
    parser.add_argument("--runner", choices=["local", "dask"], default="local",
                        help="local: warm worker processes; dask: a Dask cluster through prefect-dask")
    parser.add_argument("--address", help="scheduler of an existing Dask cluster, e.g. tcp://host:8786")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="muaudit", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-C", "--workspace", default=".", help="workspace folder (default: current)")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the stale stages of the audit and print the verdicts")
    _add_run_options(run)
    run.add_argument("--strict", action="store_true",
                     help="exit 1 when the audit policy (params.yaml policy:) or a control of the instrument check fails")
    run.set_defaults(fn=cmd_run)
    serve = sub.add_parser("serve", help="serve the audit as a Prefect deployment on a schedule")
    when = serve.add_mutually_exclusive_group(required=True)
    when.add_argument("--cron", help='cron schedule, e.g. "0 3 * * *" (nightly at 03:00)')
    when.add_argument("--interval", type=float, help="seconds between scheduled audits")
    _add_run_options(serve)
    serve.set_defaults(fn=cmd_serve, strict=False)
    _json_option(sub.add_parser("status", help="list the stale stages and why")).set_defaults(fn=cmd_status)
    _json_option(sub.add_parser("methods", help="list the registered unlearning methods")).set_defaults(fn=cmd_methods)
    sub.add_parser("layers", help="list the model's named layers and output shapes").set_defaults(fn=cmd_layers)
    lin = sub.add_parser("lineage", help="print the chain from an artifact or a metric row back to the dataset")
    lin.add_argument("path", help="an artifact path, e.g. data/metrics (with --model etc. for one metric row)")
    for col in ("model", "reference", "metric", "layer", "role"):
        lin.add_argument(f"--{col}", help=f"select metric rows by their {col} column")
    _json_option(lin).set_defaults(fn=cmd_lineage)
    ver = sub.add_parser("verify", help="rehash every artifact against dvc.lock, MLflow and the manifest")
    ver.add_argument("--manifest", action="store_true",
                     help="also require the manifest and check its Ed25519 signature (MUAUDIT_VERIFY_KEY)")
    _json_option(ver).set_defaults(fn=cmd_verify)
    args = parser.parse_args(argv)
    stop = STOP
    previous = stop.install() if args.fn is cmd_run else {}
    try:
        code = args.fn(args)
    except BaseException as err:
        # once a stop was asked for, whatever it left behind (an interrupted Prefect call, a stopped worker
        # pool) is part of stopping: one line below, not a traceback
        code = None if stop.signum else _error_code(err, args.workspace)
        if code is None and not stop.signum:
            raise
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if stop.signum:
        print(MESSAGES[stop.signum], file=sys.stderr)
        return 128 + stop.signum
    return code


def _error_code(err: BaseException, workspace: str) -> int | None:
    """Print the one line of an expected error and return its exit code; None for an unexpected one."""
    if isinstance(err, MuauditError):
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    if isinstance(err, OSError):  # e.g. the workspace itself is not writable: one line, not a traceback
        print(f"error: {err.filename or workspace}: {err.strerror or err}", file=sys.stderr)
        return 1
    if isinstance(err, KeyboardInterrupt):
        print(MESSAGES[signal.SIGINT], file=sys.stderr)
        return 130
    return None


if __name__ == "__main__":
    sys.exit(main())
