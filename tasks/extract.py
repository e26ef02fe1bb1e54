"""extract: activations of the configured layers and the logits of one model on every sample."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from muaudit.config import ExtractParams, ModelParams, RuntimeParams
from muaudit.extraction import extract_batches, pool_modes, resolve_layers
from muaudit.io import atomic_dir, atomic_write_json, read_json
from muaudit.models import build_model, load_model
from muaudit.runner.stage import main_exit, run_stage
from muaudit.runtime import device_of, resolve_device
from muaudit.store import stream_model_activations
from muaudit.training import TrainingHooks
from tasks.common import load_split, model_split_out_args

CAP_SEED = 0
STATUS_FILE = "_status.json"  # leading underscore: Parquet dataset readers skip it


def extract(extract: ExtractParams, model: ModelParams, runtime: RuntimeParams, model_dir: str, split_dir: str,
            out: str, hooks: TrainingHooks | None = None) -> dict:
    """The forward passes run on runtime.device (model and samples moved there once); the activations are
    written from the CPU."""
    hooks = hooks or TrainingHooks()
    data = load_split(split_dir)
    meta = read_json(Path(model_dir) / "model.json", "the model sidecar written by the model's stage")
    status = meta.get("status", "ok")
    if status != "ok":
        with atomic_dir(out) as tmp:
            atomic_write_json(tmp / STATUS_FILE, {"status": status})
        return {}
    device = resolve_device(runtime.device)
    net, _ = load_model(build_model(model.name, data.input_shape, data.num_classes, **model.kwargs), model_dir)
    net = net.to(device)
    layers = resolve_layers(net, extract.layers)
    measured = np.flatnonzero(~data.tune)  # the tuning split is never extracted, so never measured
    keep = measured[capped_index(data.roles[measured], extract.max_samples_per_role)]
    modes = pool_modes(layers, extract.pool)
    x = torch.from_numpy(data.x if len(keep) == len(data.x) else data.x[keep]).to(device)  # no copy when uncapped
    ids, roles, labels = data.sample_ids[keep], data.roles[keep], data.y[keep]
    dims: dict[str, float] = {}
    # Streamed: one batch of every layer is in memory at a time, then appended to the layer files.
    with stream_model_activations(out, {name: {"pool": mode} for name, mode in modes.items()}) as writer:
        start = 0
        for batch in extract_batches(net, x, layers, extract.batch_size, modes):
            end = start + len(batch["logits"])
            writer.append(ids[start:end], roles[start:end], labels[start:end], batch)
            dims = {f"dim_{name}": float(a.shape[1]) for name, a in batch.items()}
            start = end
    hooks.record_device(device_of(net))
    return dims

def capped_index(roles: np.ndarray, cap: int | None) -> np.ndarray:
    """Sorted indices keeping at most cap samples per role. The draw depends on the split only (fixed seed),
    so every model is extracted on the same samples and the metrics can compare them."""
    if cap is None:
        return np.arange(len(roles))
    rng = np.random.default_rng(CAP_SEED)
    keep = [rng.permutation(idx)[:cap] for idx in (np.flatnonzero(roles == r) for r in sorted(set(roles)))]
    return np.sort(np.concatenate(keep))


def main(argv: list[str] | None = None) -> int:
    return run_stage(
        "extract",
        argv,
        model_split_out_args,
        lambda params, a, hooks: extract(params.extract, params.model, params.runtime, a.model_dir, a.split, a.out,
                                         hooks),
        lambda a: [a.out],
        lambda p, a: {"extract": p.extract.model_dump(), "model": p.model.model_dump(),
                      "runtime": p.runtime.model_dump()},
    )


if __name__ == "__main__":
    main_exit(main())
