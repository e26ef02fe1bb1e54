"""Layer activations by forward hooks. A convolutional map is pooled per layer (`extract.pool`): `mean`
(global average pooling, one value per channel: the default) or `HxW` (adaptive average pooling to an
H x W grid, flattened channel-major: unit c·H·W + i·W + j), so a residue with a spatial layout stays visible."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from muaudit.errors import BadInputError
from muaudit.pooling import GLOBAL, GRID, check_pool_mode


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


def pool_modes(layers: list[str], pool: str | dict[str, str]) -> dict[str, str]:
    """Layer -> pooling: one string for every layer, or a mapping layer -> pooling ('mean' where unlisted)."""
    if isinstance(pool, str):
        return {name: check_pool_mode(pool, "extract.pool") for name in layers}
    unknown = sorted(set(pool) - set(layers))
    if unknown:
        raise BadInputError(f"extract.pool: layer '{unknown[0]}' is not extracted; expected one of {', '.join(layers)}")
    return {name: check_pool_mode(pool.get(name, GLOBAL), f"extract.pool.{name}") for name in layers}


def pool_map(t: torch.Tensor, mode: str = GLOBAL, name: str = "") -> torch.Tensor:
    """(n, units) from a layer output: global or grid average pooling of a map, flattened."""
    if t.dim() <= 2:
        if mode != GLOBAL:
            raise BadInputError(f"extract.pool.{name}: '{mode}' needs a spatial map; the layer's output is {tuple(t.shape[1:])}")
        return t
    if mode == GLOBAL:
        # one value per channel: layers stay comparable across models of the same architecture
        return t.mean(dim=tuple(range(2, t.dim())))
    if t.dim() != 4:
        raise BadInputError(f"extract.pool.{name}: '{mode}' needs a 2-D map; the layer's output is {tuple(t.shape[1:])}")
    h, w = (int(g) for g in GRID.match(mode).groups())
    return functional.adaptive_avg_pool2d(t, (h, w)).flatten(1)


@torch.inference_mode()
def extract_batches(model: nn.Module, x: torch.Tensor, layers: list[str], batch_size: int = 256,
                    pool: str | dict[str, str] = GLOBAL) -> Iterator[dict[str, np.ndarray]]:
    """Activations of each named layer plus `logits`, one batch of x at a time in order, on the CPU: the
    caller writes each batch out, so no more than one batch of activations is held whatever len(x)."""
    model.eval()
    modes = pool_modes(layers, pool)
    modules = dict(model.named_modules())
    captured: dict[str, torch.Tensor] = {}
    hooks = [
        modules[name].register_forward_hook(
            lambda _m, _i, out, name=name: captured.__setitem__(name, pool_map(out, modes[name], name).float()))
        for name in layers
    ]
    try:
        for start in range(0, len(x), batch_size):
            logits = model(x[start : start + batch_size]).float()
            yield {**{name: captured[name].cpu().numpy() for name in layers}, "logits": logits.cpu().numpy()}
            captured.clear()
    finally:
        for h in hooks:
            h.remove()


def extract(model: nn.Module, x: torch.Tensor, layers: list[str], batch_size: int = 256,
            pool: str | dict[str, str] = GLOBAL) -> dict[str, np.ndarray]:
    """Activations of each named layer plus `logits`, in the order of x, held whole (small inputs and tests;
    the extract stage streams extract_batches to the store)."""
    batches = list(extract_batches(model, x, layers, batch_size, pool))
    return {name: np.concatenate([b[name] for b in batches]) for name in [*layers, "logits"]}
