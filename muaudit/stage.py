"""The thin part of every stage's main(): params, runtime settings, the MLflow child run, exit codes.

A stage runs the same way from `dvc repro` (its cmd in a fresh interpreter) and from `muaudit run`
(the same argv in a warm worker process); only the parent run id, the Prefect flow-run id and the
progress folder differ, and they arrive through the environment.

The stage body gets StageHooks, the runner's side of its training loops: resume from and save
checkpoints (muaudit.checkpoint), the per-epoch loss in the stage's MLflow run (`loss`, step = epoch),
progress events for `muaudit run` (muaudit.progress), and the device the tensors ended on.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from muaudit.checkpoint import Checkpointer, checkpoint_dir, remove_checkpoints
from muaudit.config import Params, load_params
from muaudit.errors import MuauditError
from muaudit.io import sha256_file, sha256_tree
from muaudit.progress import ProgressWriter
from muaudit.runtime import configure, peak_memory_mib, reset_peak_memory, resolve_device
from muaudit.training import TrainingHooks

PARENT_ENV = "MUAUDIT_PARENT_RUN_ID"
FLOW_RUN_ENV = "MUAUDIT_FLOW_RUN_ID"
STAGE_ENV = "MUAUDIT_STAGE"
NO_TRACKING_ENV = "MUAUDIT_NO_TRACKING"
NO_TENSORS_DEVICE = "cpu"  # what a stage without torch tensors (split, metrics, report) computes on: NumPy
CURVE_FLUSH_S = 10.0  # per-epoch losses reach MLflow in batches, at most this long after their epoch


def stage_name(default: str) -> str:
    return os.environ.get(STAGE_ENV) or os.environ.get("DVC_STAGE") or default


class StageHooks(TrainingHooks):
    """Resume, checkpoints, per-epoch loss and progress for the training loops of one stage run.

    A stage may run several loops (a user method could); the k-th loop of the stage has checkpoint
    loop<k>.safetensors and MLflow metric `loss` (k = 0) or `loss_<k>`.
    """

    def __init__(self, name: str, workspace: Path, every: str | int, fingerprint: Callable[[], str],
                 progress: ProgressWriter | None = None, recorder=None):
        self.name = name
        self.workspace = workspace
        self.every = every
        self.progress = progress
        self.recorder = recorder
        self.device: str | None = None
        self.loops = 0
        self._fingerprint = fingerprint
        self._start = time.perf_counter()
        self._checkpointer: Checkpointer | None = None
        self._losses: list[float] = []
        self._metric = "loss"
        self._pending: list[tuple[str, int, float]] = []
        self._flushed = time.perf_counter()

    def resume(self, state: dict) -> int:
        loop = self.loops
        self.loops += 1
        self._metric = "loss" if loop == 0 else f"loss_{loop}"
        self._checkpointer = Checkpointer(checkpoint_dir(self.workspace, self.name) / f"loop{loop}.safetensors",
                                          self._fingerprint, self.every)
        self._losses = []
        if self.every == "off":  # none written, none read
            return 0
        loaded = self._checkpointer.load(state)
        if loaded is None:
            if self._checkpointer.ignored:
                print(f"checkpoint ignored: {self._checkpointer.ignored}; training from the first epoch")
            return 0
        epoch, self._losses, _ = loaded
        if self.progress is not None:  # `muaudit run` draws it
            self.progress.event("resumed", epoch=epoch, loop=loop)
        else:
            print(f"resumed from the checkpoint after epoch {epoch}")
        if self.recorder is not None:
            self.recorder.set_tags({f"muaudit.resumed_from_epoch{'' if loop == 0 else f'_{loop}'}": str(epoch)})
            # the run's curve starts at epoch 1 all the same
            self._pending += [(self._metric, step, loss) for step, loss in enumerate(self._losses, start=1)]
        return epoch

    def epoch_end(self, epoch: int, epochs: int, loss: float, state: dict) -> None:
        self._losses.append(loss)
        self._pending.append((self._metric, epoch, loss))
        if time.perf_counter() - self._flushed >= CURVE_FLUSH_S:
            self.flush()
        if self.progress is not None:
            self.progress.event("epoch", epoch=epoch, epochs=epochs, loss=loss if loss == loss else None,
                                elapsed_s=round(time.perf_counter() - self._start, 3))
        if self._checkpointer is not None and self._checkpointer.due(epoch, epochs):
            self._checkpointer.save(epoch, state, self._losses)

    def record_device(self, device: str) -> None:
        self.device = device

    def flush(self) -> None:
        """Send the pending loss points to the MLflow run (one request; a request per epoch would cost a
        SQLite transaction each, seconds over an audit of short stages)."""
        if self.recorder is not None and self._pending:
            self.recorder.log_curve(self._pending)
        self._pending = []
        self._flushed = time.perf_counter()


def fingerprint(name: str, args: argparse.Namespace, outputs: list[str], recorded_params: dict, env: dict) -> str:
    """What a checkpoint must have been made with to be resumed: the stage, its argv, its params, the code,
    its input files and the runtime. Inputs are the existing paths among the stage's arguments."""
    inputs = {}
    for key, value in sorted(vars(args).items()):
        if key != "params" and isinstance(value, str) and value not in outputs and Path(value).exists():
            inputs[key] = sha256_tree(value)
    body = {"stage": name, "args": {k: str(v) for k, v in sorted(vars(args).items())},
            "params": _without(recorded_params, "checkpoint_every"), "code": _code_digest(), "inputs": inputs,
            "env": env}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def _without(d: dict, key: str) -> dict:
    return {k: _without(v, key) if isinstance(v, dict) else v for k, v in d.items() if k != key}


def _code_digest() -> str:
    """sha256 over the .py sources of muaudit and tasks (bytecode caches appear on the way, so not the trees)."""
    import muaudit
    import tasks

    h = hashlib.sha256()
    for package in (muaudit, tasks):
        root = Path(package.__file__).parent
        for f in sorted(root.rglob("*.py")):
            h.update(f"{package.__name__}/{f.relative_to(root).as_posix()}\0{sha256_file(f)}\n".encode())
    return h.hexdigest()


def run_stage(
    default_name: str,
    argv: list[str] | None,
    add_args: Callable[[argparse.ArgumentParser], None],
    body: Callable[[Params, argparse.Namespace, StageHooks], dict],
    outputs: Callable[[argparse.Namespace], list[str]],
    params_of: Callable[[Params, argparse.Namespace], dict],
) -> int:
    """Parse argv, apply runtime settings, run body inside an MLflow run; return the exit code.

    body returns the metrics to record. Errors become one line on stderr and exit code 1 or 2.
    """
    parser = argparse.ArgumentParser(prog=f"tasks.{default_name}")
    parser.add_argument("--params", default="params.yaml")
    add_args(parser)
    args = parser.parse_args(argv)
    name = stage_name(default_name)
    workspace = Path(args.params).parent
    try:
        params = load_params(args.params)
        env = configure(params.runtime.threads, params.runtime.device, params.runtime.deterministic)
        device = resolve_device(params.runtime.device)
        progress = ProgressWriter.from_env(name)
        if progress is not None:
            progress.event("start")
        recorded = params_of(params, args)
        hooks = StageHooks(name, workspace, params.runtime.checkpoint_every,
                           lambda: fingerprint(name, args, outputs(args), recorded, env), progress)
        reset_peak_memory(device)
        if os.environ.get(NO_TRACKING_ENV):
            body(params, args, hooks)
        else:
            _tracked(name, args, params, env, recorded, body, outputs, hooks, device)
        if not os.environ.get(PARENT_ENV):
            # `dvc repro` records the stage as soon as this cmd exits 0, so its checkpoints go now; under
            # `muaudit run` they stay until the committer has recorded the stage (flows/audit.py).
            remove_checkpoints(workspace, [name])
        return 0
    except MuauditError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code


def _tracked(name, args, params, env, recorded, body, outputs, hooks: StageHooks, device) -> None:
    from muaudit import tracking

    tags = {"muaudit.invocation": "muaudit" if os.environ.get(PARENT_ENV) else "dvc"}
    if os.environ.get(FLOW_RUN_ENV):
        tags["prefect.flow_run_id"] = os.environ[FLOW_RUN_ENV]
    # env.device is where the tensors were at the end (set below); the params only say what was asked for
    tags.update({f"env.{k}": str(v) for k, v in env.items() if k != "device"})
    tags["env.device_requested"] = env["device"]
    with tracking.run(name, Path(args.params).parent, os.environ.get(PARENT_ENV), tags) as rec:
        hooks.recorder = rec
        rec.log_params(recorded)
        start = time.perf_counter()
        metrics = body(params, args, hooks) or {}
        metrics["wall_time_s"] = time.perf_counter() - start
        hooks.flush()
        peak = peak_memory_mib(device)
        if peak is not None:
            metrics["gpu_peak_memory_mib"] = peak
        rec.log_metrics(metrics)
        rec.set_tags({"env.device": hooks.device or NO_TENSORS_DEVICE})
        rec.log_dict({p: sha256_tree(p) for p in outputs(args) if Path(p).exists()}, "outputs.sha256.json")


def main_exit(code: int) -> None:
    sys.exit(code)
