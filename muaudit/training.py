"""Plain PyTorch training and evaluation on in-memory tensors (no DataLoader: randperm slices)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from muaudit.health import check_loss


def batches(n: int, batch_size: int, generator: torch.Generator | None, shuffle: bool = True):
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    for start in range(0, n, batch_size):
        yield order[start : start + batch_size]


def train_classifier(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
    weight_decay: float = 0.0,
) -> nn.Module:
    """Adam on cross-entropy; the batch order is drawn from seed, so the run is deterministic.

    Raises DivergedError at the end of the first epoch whose loss is not finite."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    model.train()
    for epoch in range(epochs):
        total = torch.zeros(())  # summed on the tensors' device: one check per epoch, not a sync per batch
        for idx in batches(len(x), batch_size, generator):
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            optimizer.step()
            total += loss.detach()
        check_loss(total, f"epoch {epoch + 1} of {epochs}")
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
    """Build a model with its initial weights drawn from seed."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    return build()
