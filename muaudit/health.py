"""The one health check of every training-type stage: a loss that is not finite, or weights that are not.

Train, retrain, the controls and the unlearning methods all call these, so a model trained on bad data or
with a diverging recipe fails its stage with one line instead of being recorded as a valid output.
Plain torch: training code imports it without any runner code.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from muaudit.errors import StageFailedError


class DivergedError(StageFailedError):
    """The loss became NaN/inf, or the weights are no longer finite: the model is not a result."""


def check_loss(loss: torch.Tensor | float, who: str) -> None:
    """Raise DivergedError when loss (a scalar, e.g. an epoch's summed loss) is NaN or infinite."""
    value = float(loss.detach()) if torch.is_tensor(loss) else float(loss)
    if not math.isfinite(value):
        raise DivergedError(f"{who}: loss became {value}")


def nonfinite_tensor(model: nn.Module) -> str | None:
    """Name of the first parameter or buffer holding NaN or inf, or None when every one is finite."""
    for name, tensor in model.state_dict().items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            return name
    return None


def check_weights(model: nn.Module, who: str) -> None:
    """Raise DivergedError naming the first non-finite parameter or buffer of model."""
    name = nonfinite_tensor(model)
    if name is not None:
        raise DivergedError(f"{who}: non-finite weights in {name}")
