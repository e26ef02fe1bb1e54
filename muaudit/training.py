"""Plain PyTorch training and evaluation on in-memory tensors (no DataLoader: randperm slices).

Tensors stay on the device they are given (the stage moves the data there once); batch orders are drawn
on the CPU from a seeded generator, so they are the same on every device. A training loop iterates
`Epochs`, which lets the runner resume it from a checkpoint and report each epoch through TrainingHooks,
without this module knowing about MLflow, DVC or Prefect.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from muaudit.health import check_loss


def batches(n: int, batch_size: int, generator: torch.Generator | None, shuffle: bool = True,
            device: torch.device | None = None):
    """Index batches over n samples; the order is drawn on the CPU, then moved to device once per pass."""
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    if device is not None:
        order = order.to(device)
    for start in range(0, n, batch_size):
        yield order[start : start + batch_size]


class TrainingHooks:
    """Where a training loop reports to. These defaults do nothing (a plain call, a test); the runner's
    subclass (muaudit.runner.stage.StageHooks) resumes from checkpoints, saves them and shows progress.

    state: what the loop carries from one epoch to the next, by name: modules, optimizers, batch-order
    generators, or other objects with state_dict()/load_state_dict(). Anything computed before the loop
    from the starting state is recomputed identically by a rerun, so it does not belong in it.
    """

    def resume(self, state: dict) -> int:
        """Restore state from a checkpoint if there is one; return the first epoch to run."""
        return 0

    def epoch_end(self, epoch: int, epochs: int, loss: float, state: dict) -> None:
        """Called after epoch number `epoch` (1-based) of `epochs`, with the mean loss of its batches."""

    def record_device(self, device: str) -> None:
        """The device the stage's tensors ended on, for its run record."""


class Epochs:
    """The epochs of one training loop: `loop = Epochs(n, state, hooks); for epoch in loop: ...; loop.add(loss)`.

    The first iteration asks the hooks to resume (the state may jump to a later epoch); each finished epoch
    is reported with the mean of the losses passed to add(). Losses are summed on the device and read once
    per epoch, so reporting costs no synchronisation per batch.
    """

    def __init__(self, epochs: int, state: dict, hooks: TrainingHooks | None = None):
        self.epochs = epochs
        self.state = state
        self.hooks = hooks or TrainingHooks()
        self._sum: torch.Tensor | None = None
        self._count = 0

    def __iter__(self) -> Iterator[int]:
        for epoch in range(self.hooks.resume(self.state), self.epochs):
            self._sum, self._count = None, 0
            yield epoch
            loss = float(self._sum) / self._count if self._count else math.nan
            if self._count:  # one check per epoch on the summed loss, not a synchronisation per batch
                check_loss(loss, f"epoch {epoch + 1} of {self.epochs}")
            self.hooks.epoch_end(epoch + 1, self.epochs, loss, self.state)

    def add(self, loss: torch.Tensor) -> None:
        value = loss.detach()
        self._sum = value if self._sum is None else self._sum + value
        self._count += 1


def train_classifier(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
    weight_decay: float = 0.0,
    hooks: TrainingHooks | None = None,
) -> nn.Module:
    """Adam on cross-entropy; the batch order is drawn from seed, so the run is deterministic.

    Raises DivergedError at the end of the first epoch whose loss is not finite (Epochs checks it)."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    model.train()
    loop = Epochs(epochs, {"model": model, "optimizer": optimizer, "generator": generator}, hooks)
    for _ in loop:
        for idx in batches(len(x), batch_size, generator, device=x.device):
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            optimizer.step()
            loop.add(loss)
    return model.eval()


@torch.inference_mode()
def predict_logits(model: nn.Module, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    model.eval()
    return torch.cat([model(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    if len(x) == 0:
        return float("nan")
    return float((predict_logits(model, x).argmax(1) == y).float().mean())


def seeded_model(build, seed: int) -> nn.Module:
    """Build a model with its initial weights drawn from seed (on the CPU: the same weights on every device)."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    return build()
