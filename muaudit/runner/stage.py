"""The runner's side of every stage: its command line and params keys from the stage table, runtime
settings, the inputs read and the output written (muaudit.runner.artifacts), the MLflow run, exit codes.
The body (tasks/<module>.py `run`) only takes data and returns a StageResult.

A stage runs the same way from `dvc repro` (its cmd in a fresh interpreter) and from `muaudit run`
(the same argv in a warm worker process); only the parent run id, the Prefect flow-run id and the
progress folder differ, and they arrive through the environment. The body gets the stage's hooks
(muaudit.runner.stage_hooks: checkpoints, loss curve, progress, device).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from pathlib import Path

from muaudit.config import Params, load_params
from muaudit.errors import MuauditError
from muaudit.io import sha256_tree
from muaudit.results import StageResult
from muaudit.runner import artifacts, failures, stage_table
from muaudit.runner.stage_hooks import StageHooks
from muaudit.runtime import configure
from muaudit.training import TrainingHooks

PARENT_ENV = "MUAUDIT_PARENT_RUN_ID"
FLOW_RUN_ENV = "MUAUDIT_FLOW_RUN_ID"
STAGE_ENV = "MUAUDIT_STAGE"
NO_TRACKING_ENV = "MUAUDIT_NO_TRACKING"
# A file the stage writes {"run_id", "failure"} to, set by the warm worker that runs it in process: the MLflow
# run id and the one-line failure travel back through it (like the progress lines), not through module state.
OUTCOME_ENV = "MUAUDIT_STAGE_OUTCOME"


def stage_name(default: str) -> str:
    return os.environ.get(STAGE_ENV) or os.environ.get("DVC_STAGE") or default


def main(module: str) -> None:
    """`python -m tasks.<module> ...`: run the stage and exit with its code."""
    sys.exit(run(module, sys.argv[1:]))


def run(module: str, argv: list[str] | None = None) -> int:
    """Parse argv, apply runtime settings, read the inputs, run the body inside an MLflow run, write the
    output; return the exit code.

    Errors become one line (muaudit.runner.failures: the root cause, and where the full trace went) and
    exit code 2 for bad input, 1 for anything else. Under `dvc repro` the line goes to stderr; in a warm
    worker of `muaudit run` it goes, with the MLflow run id, to the file OUTCOME_ENV names.
    """
    code, run_id, failure = _run(module, argv)
    if os.environ.get(OUTCOME_ENV):
        Path(os.environ[OUTCOME_ENV]).write_text(json.dumps({"run_id": run_id, "failure": failure}))
    elif failure:
        print(f"error: {failure}", file=sys.stderr)
    return code


def parser(module: str) -> argparse.ArgumentParser:
    """The command line of tasks.<module>, from the stage table: an option per named input and output, and
    the matrix item's values (required where every stage of the module has them)."""
    stages = stage_table.of_module(module)
    p = argparse.ArgumentParser(prog=f"tasks.{module}")
    p.add_argument("--params", default="params.yaml")
    for a in (*stages[0].inputs, stages[0].output):
        if a.option:
            p.add_argument(f"--{a.option.replace('_', '-')}", required=a.required)
    for option, kind in {k: v for s in stages for k, v in s.options.items()}.items():
        p.add_argument(f"--{option}", type=kind, required=all(option in s.options for s in stages))
    return p


def recorded_params(stage: stage_table.Stage, params: Params, args: argparse.Namespace) -> dict:
    """The stage's params keys (as dvc.yaml lists them) with their values, and the matrix item's values."""
    options = {k: getattr(args, k) for k in stage.options if getattr(args, k, None) is not None}
    dump = params.model_dump()
    out = {}
    for key in stage.params:
        name = key.format(**options) if "{" in key else key
        value = dump
        for part in name.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        out[name] = value
    return {**options, **out}


def read_inputs(stage: stage_table.Stage, params: Params, args: argparse.Namespace) -> dict:
    """The body's keyword arguments: each input read by its kind's reader (the split first: a model is built
    for its shape), and the matrix item's values."""
    ctx = artifacts.ReadContext(params, paths=[p for a in stage.inputs if a.option and (p := getattr(args, a.option))])
    for a in sorted(stage.inputs, key=lambda a: a.kind != "split"):
        path = getattr(args, a.option) if a.option else a.path
        ctx.loaded[a.option or a.kind] = None if path is None else artifacts.READERS[a.kind](path, ctx)
    return {**ctx.loaded, **{k: getattr(args, k) for k in stage.options if hasattr(args, k)}}


def compute(stage: stage_table.Stage, params: Params, args: argparse.Namespace, hooks: TrainingHooks) -> StageResult:
    """Read the stage's inputs, call its body, write its output (a streamed output is computed here)."""
    body = importlib.import_module(f"tasks.{stage.module}").run
    result = body(params, hooks, **read_inputs(stage, params, args))
    artifacts.WRITERS[stage.output.kind](args.out, result.output)
    return result


def _run(module: str, argv: list[str] | None) -> tuple[int, str, str]:
    """(exit code, MLflow run id or "", the one-line failure or "")."""
    cli = parser(module)
    args = cli.parse_args(argv)
    name = stage_name(module)
    stage = _table_entry(name, module)
    workspace = Path(args.params).parent
    trace = None
    run_id = ""
    try:
        params = load_params(args.params)
        env = configure(params.runtime.threads, params.runtime.device, params.runtime.deterministic)
        recorded = recorded_params(stage, params, args)
        hooks = StageHooks.for_stage(name, args, params, env, [args.out], recorded)
        if os.environ.get(NO_TRACKING_ENV):
            compute(stage, params, args, hooks)
            hooks.finished(recorded_by_dvc=not os.environ.get(PARENT_ENV))
            return 0, run_id, ""
        from muaudit.runner import tracking

        tags = {"muaudit.invocation": "muaudit" if os.environ.get(PARENT_ENV) else "dvc"}
        if os.environ.get(FLOW_RUN_ENV):
            tags["prefect.flow_run_id"] = os.environ[FLOW_RUN_ENV]
        # env.device is set at the end, from the tensors; the params only say what was asked for
        tags.update({f"env.{k}": str(v) for k, v in env.items() if k != "device"})
        tags["env.device_requested"] = env["device"]
        with tracking.run(name, workspace, os.environ.get(PARENT_ENV), tags, source=cli.prog) as rec:
            run_id = rec.run_id
            hooks.recorder = rec
            rec.log_params(recorded)
            start = time.perf_counter()
            try:
                result = compute(stage, params, args, hooks)
            except Exception as err:
                trace = _record_failure(rec, workspace, name, err)
                raise
            metrics = {**result.metrics, "wall_time_s": time.perf_counter() - start}
            hooks.end_run(metrics)
            rec.log_metrics(metrics)
            _record_result(rec, workspace, name, cli.prog, result)
            rec.log_dict({args.out: sha256_tree(args.out)} if Path(args.out).exists() else {}, "outputs.sha256.json")
        hooks.finished(recorded_by_dvc=not os.environ.get(PARENT_ENV))
        return 0, run_id, ""
    except Exception as err:
        if trace is None and failures.needs_trace(err):
            trace = failures.write_trace(workspace, name, err)
        line = failures.failure_line(name, err, trace)
        return (err.exit_code if isinstance(err, MuauditError) else 1), run_id, line


def run_files(name: str, params: Params, paths: dict[str, str], hooks: TrainingHooks | None = None,
              **options) -> StageResult:
    """Run one stage on files without MLflow or a command line (tests, tools): its inputs read from paths
    (option -> path; "out": where its output goes), options: the matrix item's values (method, seed)."""
    stage = stage_table.by_name(name)
    configure(params.runtime.threads, params.runtime.device, params.runtime.deterministic)  # as a stage run does
    named = {a.option: paths.get(a.option) for a in (*stage.inputs, stage.output) if a.option}
    args = argparse.Namespace(**named, **{k: options.get(k) for k in stage.options})
    return compute(stage, params, args, hooks or TrainingHooks())


def _table_entry(name: str, module: str) -> stage_table.Stage:
    """The table's stage of this run (its dvc.yaml name), or the module's first (a stage run by hand)."""
    try:
        stage = stage_table.by_name(name)
    except KeyError:
        stage = None
    return stage if stage is not None and stage.module == module else stage_table.of_module(module)[0]


def _record_result(rec, workspace: Path, name: str, source: str, result: StageResult) -> None:
    """What the body resolved (params), its child runs (tuning trials, judged models) and the dataset."""
    from muaudit.runner import tracking

    if result.params:
        rec.log_params(result.params)
    if result.dataset is not None:
        rec.log_dataset(**result.dataset)
    for child in result.children:
        if child.kind == "verdict":
            tracking.method_run(rec, workspace, child.name, child.params, child.metrics, child.tags, source=source)
        else:
            with tracking.run(f"{name}/{child.name}", workspace, rec.run_id, child.tags) as sub:
                sub.log_params(child.params)
                sub.log_metrics(child.metrics)


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
