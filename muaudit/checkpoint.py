"""Resume inside a long stage: the state of a training loop in one safetensors file, written atomically.

A checkpoint holds what a loop carries from one epoch to the next (model weights, optimizer state, the
batch-order generators and any other state the loop names), the global RNG states (torch, CUDA, NumPy,
Python), the number of finished epochs, their losses, and the fingerprint of the stage that wrote it. A
rerun of the same stage (same fingerprint: same params, code, inputs, device and threads) continues after
the last saved epoch and ends with the same bytes as an uninterrupted run, because everything the
remaining epochs read is restored bit for bit. A checkpoint with another fingerprint is ignored.

Checkpoints are not artifacts: they live under .muaudit/checkpoints/<stage>/, outside dvc.yaml's outs,
and are deleted once the stage is recorded. Safetensors, never pickle: the structure around the tensors
(optimizer groups, NumPy's RNG tuple) is JSON in the file's metadata.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from muaudit.io import atomic_write, sweep_stale_temps

if TYPE_CHECKING:
    import torch

# torch and safetensors are imported where a checkpoint is read or written: the runner's cleanup of spent
# checkpoints (every `muaudit run`, a no-op included) needs neither (importing torch costs a no-op 2.7 s).

CHECKPOINTS = Path(".muaudit/checkpoints")  # relative to the workspace
META_KEY = "muaudit.checkpoint"
FORMAT = 1
AUTO_INTERVAL_S = 60.0  # `auto`: at the first epoch end after each minute of training, so short runs write none


def checkpoint_dir(workspace: str | Path, stage: str) -> Path:
    return Path(workspace) / CHECKPOINTS / stage


def remove_checkpoints(workspace: str | Path, stages) -> None:
    """Delete the checkpoints of these stages (they are recorded: a rerun would start from scratch anyway)."""
    for stage in stages:
        shutil.rmtree(checkpoint_dir(workspace, stage), ignore_errors=True)


def remove_checkpoints_except(workspace: str | Path, keep) -> list[str]:
    """Delete the checkpoints of every stage not in keep (the stale stages); return the stages cleaned."""
    root = Path(workspace) / CHECKPOINTS
    gone = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name not in set(keep)) if root.is_dir() else []
    remove_checkpoints(workspace, gone)
    return gone


class Checkpointer:
    """Loads and saves the checkpoint of one training loop of one stage.

    every: "off", "auto" (at most once per AUTO_INTERVAL_S, at an epoch end) or a number of epochs.
    fingerprint: called at most once, and only when a checkpoint is read or written (it may hash inputs).
    """

    def __init__(self, path: str | Path, fingerprint: Callable[[], str], every: str | int = "auto",
                 clock: Callable[[], float] = time.monotonic):
        self.path = Path(path)
        self._fingerprint_fn = fingerprint
        self._fingerprint: str | None = None
        self.every = every
        self.clock = clock
        self._last = clock()

    def fingerprint(self) -> str:
        if self._fingerprint is None:
            self._fingerprint = self._fingerprint_fn()
        return self._fingerprint

    def due(self, epoch: int, epochs: int) -> bool:
        """Whether to save after epoch (1-based) of epochs; never after the last one (the stage is done)."""
        if self.every == "off" or epoch >= epochs:
            return False
        if self.every == "auto":
            return self.clock() - self._last >= AUTO_INTERVAL_S
        return epoch % int(self.every) == 0

    def save(self, epoch: int, state: dict, losses: list[float]) -> None:
        from safetensors.torch import save_file

        tensors: dict[str, torch.Tensor] = {}
        skeleton = {"state": _encode(_capture(state), "state", tensors), "rng": _encode(_rng_states(), "rng", tensors)}
        meta = {"format": FORMAT, "epoch": epoch, "losses": [None if math.isnan(v) else v for v in losses],
                "fingerprint": self.fingerprint(), "skeleton": skeleton}
        atomic_write(self.path, lambda tmp: save_file(tensors, str(tmp), metadata={META_KEY: json.dumps(meta)}))
        self._last = self.clock()

    def load(self, state: dict) -> tuple[int, list[float], str] | None:
        """Restore state and the global RNGs from the checkpoint; returns (epoch, losses, why) or None.

        None when there is no usable checkpoint: why is then in `self.ignored` (empty when there was none).
        """
        from safetensors import safe_open

        self.ignored = ""
        if self.path.parent.is_dir():
            sweep_stale_temps(self.path.parent)
        if not self.path.exists():
            return None
        try:
            with safe_open(str(self.path), framework="pt") as fh:
                meta = json.loads(fh.metadata()[META_KEY])
                tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 (safe_open has no iterator)
        except Exception as err:  # a foreign or damaged file: start from scratch rather than fail the stage
            self.ignored = f"unreadable ({type(err).__name__})"
            return None
        if meta.get("format") != FORMAT or meta.get("fingerprint") != self.fingerprint():
            self.ignored = "made by another version of this stage (params, code, inputs or device changed)"
            return None
        _restore(state, _decode(meta["skeleton"]["state"], tensors))
        _set_rng_states(_decode(meta["skeleton"]["rng"], tensors))
        self._last = self.clock()
        return int(meta["epoch"]), [math.nan if v is None else v for v in meta["losses"]], ""

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


def _capture(state: dict) -> dict:
    """The saveable form of each named piece of loop state: a generator's state, or a state_dict()."""
    import torch

    out = {}
    for name, obj in state.items():
        if isinstance(obj, torch.Generator):
            out[name] = obj.get_state()
        elif hasattr(obj, "state_dict"):
            out[name] = obj.state_dict()
        else:
            raise TypeError(f"loop state '{name}': cannot checkpoint a {type(obj).__name__}")
    return out


def _restore(state: dict, saved: dict) -> None:
    import torch

    if sorted(saved) != sorted(state):
        raise ValueError(f"checkpoint holds {sorted(saved)}, the loop carries {sorted(state)}")
    for name, obj in state.items():
        value = saved[name]
        if isinstance(obj, torch.Generator):
            obj.set_state(value)
        else:
            obj.load_state_dict(value)


def _rng_states() -> dict:
    import torch

    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else []}


def _set_rng_states(states: dict) -> None:
    import torch

    torch.set_rng_state(states["torch"])
    np.random.set_state(states["numpy"])
    random.setstate(states["python"])
    if states["cuda"]:
        torch.cuda.set_rng_state_all(states["cuda"])


def _encode(obj, key: str, tensors: dict[str, torch.Tensor]):
    """JSON for the structure; every tensor (and NumPy array) goes into tensors under a path-like key."""
    import torch

    if isinstance(obj, torch.Tensor):
        tensors[key] = obj.detach().to("cpu", copy=True).contiguous()
        return {"tensor": key}
    if isinstance(obj, np.ndarray):
        tensors[key] = torch.from_numpy(obj.astype(np.int64) if obj.dtype.kind in "ui" else obj.copy())
        return {"ndarray": key, "dtype": obj.dtype.str}
    if isinstance(obj, dict):
        return {"dict": [[_encode(k, f"{key}/{i}k", tensors), _encode(v, f"{key}/{i}", tensors)]
                         for i, (k, v) in enumerate(obj.items())]}
    if isinstance(obj, list | tuple):
        items = [_encode(v, f"{key}/{i}", tensors) for i, v in enumerate(obj)]
        return {"tuple": items} if isinstance(obj, tuple) else {"list": items}
    if obj is None or isinstance(obj, bool | int | float | str):
        return {"value": obj}
    if isinstance(obj, np.generic):
        return {"value": obj.item()}
    raise TypeError(f"cannot checkpoint a {type(obj).__name__} at {key}")


def _decode(node, tensors: dict[str, torch.Tensor]):
    if "tensor" in node:
        return tensors[node["tensor"]]
    if "ndarray" in node:
        return tensors[node["ndarray"]].numpy().astype(np.dtype(node["dtype"]))
    if "dict" in node:
        return {_decode(k, tensors): _decode(v, tensors) for k, v in node["dict"]}
    if "tuple" in node:
        return tuple(_decode(v, tensors) for v in node["tuple"])
    if "list" in node:
        return [_decode(v, tensors) for v in node["list"]]
    return node["value"]
