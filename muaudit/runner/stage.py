"""The thin part of every stage's main(): params, runtime settings, the MLflow child run, exit codes.

A stage runs the same way from `dvc repro` (its cmd in a fresh interpreter) and from `muaudit run`
(the same argv in a warm worker process); only the parent run id, the Prefect flow-run id and the
progress folder differ, and they arrive through the environment. The body gets the stage's hooks
(muaudit.runner.stage_hooks: checkpoints, loss curve, progress, device).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from muaudit.config import Params, load_params
from muaudit.errors import MuauditError
from muaudit.io import sha256_tree
from muaudit.runner import failures
from muaudit.runner.stage_hooks import StageHooks
from muaudit.runtime import configure

PARENT_ENV = "MUAUDIT_PARENT_RUN_ID"
FLOW_RUN_ENV = "MUAUDIT_FLOW_RUN_ID"
STAGE_ENV = "MUAUDIT_STAGE"
NO_TRACKING_ENV = "MUAUDIT_NO_TRACKING"
# A file the stage writes {"run_id", "failure"} to, set by the warm worker that runs it in process: the MLflow
# run id and the one-line failure travel back through it (like the progress lines), not through module state.
OUTCOME_ENV = "MUAUDIT_STAGE_OUTCOME"


def stage_name(default: str) -> str:
    return os.environ.get(STAGE_ENV) or os.environ.get("DVC_STAGE") or default


def run_stage(
    default_name: str,
    argv: list[str] | None,
    add_args: Callable[[argparse.ArgumentParser], None],
    body: Callable[[Params, argparse.Namespace, StageHooks], dict],
    outputs: Callable[[argparse.Namespace], list[str]],
    params_of: Callable[[Params, argparse.Namespace], dict],
) -> int:
    """Parse argv, apply runtime settings, run body inside an MLflow run; return the exit code.

    body returns the metrics to record. Errors become one line (muaudit.runner.failures: the root cause, and where
    the full trace went) and exit code 2 for bad input, 1 for anything else. Under `dvc repro` the line goes
    to stderr; in a warm worker of `muaudit run` it goes, with the MLflow run id, to the file OUTCOME_ENV names.
    """
    code, run_id, failure = _run_stage(default_name, argv, add_args, body, outputs, params_of)
    if os.environ.get(OUTCOME_ENV):
        Path(os.environ[OUTCOME_ENV]).write_text(json.dumps({"run_id": run_id, "failure": failure}))
    elif failure:
        print(f"error: {failure}", file=sys.stderr)
    return code


def _run_stage(default_name, argv, add_args, body, outputs, params_of) -> tuple[int, str, str]:
    """(exit code, MLflow run id or "", the one-line failure or "")."""
    parser = argparse.ArgumentParser(prog=f"tasks.{default_name}")
    parser.add_argument("--params", default="params.yaml")
    add_args(parser)
    args = parser.parse_args(argv)
    name = stage_name(default_name)
    workspace = Path(args.params).parent
    trace = None
    run_id = ""
    try:
        params = load_params(args.params)
        env = configure(params.runtime.threads, params.runtime.device, params.runtime.deterministic)
        hooks = StageHooks.for_stage(name, args, params, env, outputs(args), params_of(params, args))
        if os.environ.get(NO_TRACKING_ENV):
            body(params, args, hooks)
            hooks.finished(recorded_by_dvc=not os.environ.get(PARENT_ENV))
            return 0, run_id, ""
        from muaudit.runner import tracking

        tags = {"muaudit.invocation": "muaudit" if os.environ.get(PARENT_ENV) else "dvc"}
        if os.environ.get(FLOW_RUN_ENV):
            tags["prefect.flow_run_id"] = os.environ[FLOW_RUN_ENV]
        # env.device is set at the end, from the tensors; the params only say what was asked for
        tags.update({f"env.{k}": str(v) for k, v in env.items() if k != "device"})
        tags["env.device_requested"] = env["device"]
        with tracking.run(name, workspace, os.environ.get(PARENT_ENV), tags, source=parser.prog) as rec:
            run_id = rec.run_id
            hooks.recorder = rec
            rec.log_params(params_of(params, args))
            start = time.perf_counter()
            try:
                metrics = body(params, args, hooks) or {}
            except Exception as err:
                trace = _record_failure(rec, workspace, name, err)
                raise
            metrics["wall_time_s"] = time.perf_counter() - start
            hooks.end_run(metrics)
            rec.log_metrics(metrics)
            rec.log_dict({p: sha256_tree(p) for p in outputs(args) if Path(p).exists()}, "outputs.sha256.json")
        hooks.finished(recorded_by_dvc=not os.environ.get(PARENT_ENV))
        return 0, run_id, ""
    except Exception as err:
        if trace is None and failures.needs_trace(err):
            trace = failures.write_trace(workspace, name, err)
        line = failures.failure_line(name, err, trace)
        return (err.exit_code if isinstance(err, MuauditError) else 1), run_id, line


def _record_failure(rec, workspace: Path, name: str, err: Exception) -> Path | None:
    """The trace file, and on the stage's MLflow run the same trace (traceback.txt) and the line (a tag)."""
    trace = failures.write_trace(workspace, name, err) if failures.needs_trace(err) else None
    try:
        rec.set_tags({"muaudit.error": failures.failure_line(name, err, trace)[:5000]})
        if trace is not None:
            rec.log_text((workspace / trace).read_text(), "traceback.txt")
    except Exception as record_err:  # the record is a convenience: the failure itself must still be reported
        print(f"warning: could not record the failure of {name} in MLflow: {record_err}", file=sys.stderr)
    return trace


def main_exit(code: int) -> None:
    sys.exit(code)
