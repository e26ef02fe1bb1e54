"""extract: activations of the configured layers and the logits of one model on every sample."""

from __future__ import annotations

import numpy as np
import torch

from muaudit.config import Params
from muaudit.data import SplitData
from muaudit.extraction import extract_batches, pool_modes, resolve_layers
from muaudit.models.weights import StoredModel
from muaudit.results import StageResult
from muaudit.runtime import device_of, resolve_device
from muaudit.store import ModelActivations
from muaudit.training import TrainingHooks

CAP_SEED = 0


def run(params: Params, hooks: TrainingHooks, model_dir: StoredModel, split: SplitData) -> StageResult:
    """The forward passes run on runtime.device (model and samples moved there once); the activations are
    streamed to the writer batch by batch, from the CPU. The units per layer (metrics dim_<layer>) are
    filled in as the batches are written."""
    if not model_dir.ok:
        return StageResult(ModelActivations(model_dir.meta["status"]))
    data, cfg = split, params.extract
    device = resolve_device(params.runtime.device)
    net = model_dir.net.to(device)
    layers = resolve_layers(net, cfg.layers)
    measured = np.flatnonzero(~data.tune)  # the tuning split is never extracted, so never measured
    keep = measured[capped_index(data.roles[measured], cfg.max_samples_per_role)]
    modes = pool_modes(layers, cfg.pool)
    x = torch.from_numpy(data.x if len(keep) == len(data.x) else data.x[keep]).to(device)  # no copy when uncapped
    ids, roles, labels = data.sample_ids[keep], data.roles[keep], data.y[keep]
    hooks.record_device(device_of(net))
    dims: dict[str, float] = {}

    def batches():
        start = 0
        for batch in extract_batches(net, x, layers, cfg.batch_size, modes):
            end = start + len(batch["logits"])
            dims.update({f"dim_{name}": float(a.shape[1]) for name, a in batch.items()})
            yield ids[start:end], roles[start:end], labels[start:end], batch
            start = end

    layer_meta = {name: {"pool": mode} for name, mode in modes.items()}
    return StageResult(ModelActivations("ok", layer_meta, batches()), dims)


def capped_index(roles: np.ndarray, cap: int | None) -> np.ndarray:
    """Sorted indices keeping at most cap samples per role. The draw depends on the split only (fixed seed),
    so every model is extracted on the same samples and the metrics can compare them."""
    if cap is None:
        return np.arange(len(roles))
    rng = np.random.default_rng(CAP_SEED)
    keep = [rng.permutation(idx)[:cap] for idx in (np.flatnonzero(roles == r) for r in sorted(set(roles)))]
    return np.sort(np.concatenate(keep))


if __name__ == "__main__":
    from muaudit.runner.stage import main

    main("extract")
