"""What every unlearning method receives, and the guards shared by all of them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from pydantic import BaseModel, ConfigDict
from torch import nn

from muaudit.health import DivergedError, check_loss
from muaudit.training import Epochs, TrainingHooks

__all__ = ["DivergedError", "MethodParams", "UnlearnContext", "check_finite", "descend"]


class MethodParams(BaseModel):
    """Base for a method's hyperparameters: unknown keys are rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass
class UnlearnContext:
    """The original model (read-only), a copy to unlearn in place, and the data as tensors.

    Models and data are already on the stage's device; a method creates its own tensors on `device`, and
    its extra models through build_model (initialised on the CPU, then moved there). Batch orders come
    from CPU generators (`generator()`), so they are the same on every device. A method with epochs
    iterates `ctx.epochs(n, model=..., optimizer=..., ...)`, naming what it carries from one epoch to the
    next, so that the stage can resume it from a checkpoint and report each epoch.
    """

    original: nn.Module
    model: nn.Module
    x_forget: torch.Tensor
    y_forget: torch.Tensor
    x_retain: torch.Tensor
    y_retain: torch.Tensor
    num_classes: int
    scenario: str
    forget_classes: tuple[int, ...]
    seed: int
    build_model: Callable[[], nn.Module]  # a fresh, randomly initialised model of the same architecture
    sample_passes: int = field(default=0)  # forward+backward sample passes so far (cost vs retraining)
    hooks: TrainingHooks = field(default_factory=TrainingHooks)  # the stage's resume/progress hooks

    @property
    def device(self) -> torch.device:
        return self.x_retain.device

    def epochs(self, n: int, **state) -> Epochs:
        """The method's training loop over n epochs; state names what carries over between epochs (the
        pass count is added: a resumed run must record the passes of the epochs it skipped)."""
        return Epochs(n, {**state, "context": self}, self.hooks)

    def state_dict(self) -> dict:
        return {"sample_passes": self.sample_passes}

    def load_state_dict(self, state: dict) -> None:
        self.sample_passes = int(state["sample_passes"])

    def count(self, n_samples: int) -> None:
        """Record n forward+backward sample passes. Gradient-enabled forwards of `model` are counted by the
        unlearn stage itself; methods call this only for passes it cannot see (other nets, vmap)."""
        self.sample_passes += int(n_samples)

    def generator(self, offset: int = 0) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed + offset)


def check_finite(loss: torch.Tensor, method: str) -> None:
    """The divergence guard of muaudit.health, named for the methods (raises DivergedError)."""
    check_loss(loss, method)


def descend(optimizer: torch.optim.Optimizer, loss: torch.Tensor, method: str) -> None:
    """One plain update on loss: the divergence guard, then zero_grad, backward and step. Methods that act on
    the gradients between backward and step (clipping, masks) write the steps out themselves."""
    check_finite(loss, method)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
