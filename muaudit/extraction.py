"""Layer activations by forward hooks; convolutional maps are globally average-pooled to (n, channels)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from muaudit.errors import BadInputError


def layer_names(model: nn.Module) -> list[str]:
    return [name for name, _ in model.named_modules() if name]


def resolve_layers(model: nn.Module, requested: list[str] | None) -> list[str]:
    layers = list(requested) if requested is not None else list(getattr(model, "default_layers", ()))
    modules = dict(model.named_modules())
    for name in layers:
        if name == "logits":
            continue
        if name not in modules or not name:
            raise BadInputError(
                f"extract.layers: unknown layer '{name}' for {type(model).__name__}; "
                f"expected one of {', '.join(layer_names(model))} (see `muaudit layers`)"
            )
    return [n for n in layers if n != "logits"]


def _pool(t: torch.Tensor) -> torch.Tensor:
    # Global average pooling keeps conv activations bounded at one value per channel; layers stay comparable
    # across models of the same architecture, and CKA/Procrustes need (n, d) matrices.
    return t.mean(dim=tuple(range(2, t.dim()))) if t.dim() > 2 else t


@torch.inference_mode()
def extract(model: nn.Module, x: torch.Tensor, layers: list[str], batch_size: int = 256) -> dict[str, np.ndarray]:
    """Activations of each named layer plus `logits`, in the order of x."""
    model.eval()
    modules = dict(model.named_modules())
    captured: dict[str, list[torch.Tensor]] = {name: [] for name in layers}
    hooks = [
        modules[name].register_forward_hook(lambda _m, _i, out, name=name: captured[name].append(_pool(out).float()))
        for name in layers
    ]
    logits = []
    try:
        for start in range(0, len(x), batch_size):
            logits.append(model(x[start : start + batch_size]).float())
    finally:
        for h in hooks:
            h.remove()
    out = {name: torch.cat(chunks).cpu().numpy() for name, chunks in captured.items()}
    out["logits"] = torch.cat(logits).cpu().numpy()
    return out
