"""The runner's side of a stage's training loops: resume and checkpoints (muaudit.checkpoint), the loss per
epoch in the stage's MLflow run (`loss`, step = epoch), progress events for `muaudit run`
(muaudit.runner.progress), the device the tensors ended on, and the peak GPU memory.

muaudit.runner.stage creates one StageHooks per stage run and hands it to the stage body, which passes it to its
training loops (muaudit.training.Epochs) and reports its device through it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path

from muaudit.checkpoint import Checkpointer, checkpoint_dir, remove_checkpoints
from muaudit.io import sha256_file, sha256_tree
from muaudit.runner.progress import ProgressWriter
from muaudit.runtime import peak_memory_mib, reset_peak_memory, resolve_device
from muaudit.training import TrainingHooks

NO_TENSORS_DEVICE = "cpu"  # what a stage without torch tensors (split, metrics, report) computes on: NumPy
CURVE_FLUSH_S = 10.0  # per-epoch losses reach MLflow in batches, at most this long after their epoch


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
        self.requested = resolve_device("cpu")
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

    @classmethod
    def for_stage(cls, name: str, args: argparse.Namespace, params, env: dict, outputs: list[str],
                  recorded_params: dict) -> StageHooks:
        """The hooks of one stage run: writes the progress file's start event when `muaudit run` reads one."""
        progress = ProgressWriter.from_env(name)
        if progress is not None:
            progress.event("start")
        hooks = cls(name, Path(args.params).parent, params.runtime.checkpoint_every,
                    lambda: fingerprint(name, args, outputs, recorded_params, env), progress)
        hooks.requested = resolve_device(params.runtime.device)
        reset_peak_memory(hooks.requested)
        return hooks

    def record_device(self, device: str) -> None:
        self.device = device

    def end_run(self, metrics: dict) -> None:
        """Inside the stage's MLflow run, after the body: the rest of the loss curve, the peak GPU memory
        (into metrics) and the device the tensors ended on (`env.device`)."""
        self.flush()
        peak = peak_memory_mib(self.requested)
        if peak is not None:
            metrics["gpu_peak_memory_mib"] = peak
        self.recorder.set_tags({"env.device": self.device or NO_TENSORS_DEVICE})

    def finished(self, recorded_by_dvc: bool) -> None:
        """The body succeeded. `dvc repro` records the stage as soon as its cmd exits 0, so the checkpoints
        go now; under `muaudit run` they stay until the committer has recorded the stage (flows/audit.py)."""
        if recorded_by_dvc:
            remove_checkpoints(self.workspace, [self.name])

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
