"""train: the original model on forget + retain."""

from __future__ import annotations

import numpy as np
import torch

from muaudit.config import ModelParams, RuntimeParams, TrainParams
from muaudit.models import build_model, save_model
from muaudit.runtime import resolve_device
from muaudit.stage import main_exit, run_stage
from muaudit.training import seeded_model, train_classifier
from tasks.common import accuracies, load_split


def fit(model: ModelParams, train: TrainParams, runtime: RuntimeParams, split_dir: str, out: str,
        roles: tuple[str, ...], seed: int) -> dict:
    """Train a fresh model (initialised and shuffled from seed) on the given roles, save it with its sidecar."""
    data = load_split(split_dir)
    net = seeded_model(lambda: build_model(model.name, data.input_shape, data.num_classes), seed)
    idx = torch.from_numpy(np.flatnonzero(np.isin(data.roles, roles)))
    x, y = torch.from_numpy(data.x)[idx], torch.from_numpy(data.y)[idx]
    train_classifier(net, x, y, train.epochs, train.lr, train.batch_size, seed, train.weight_decay)
    metrics = accuracies(net, data)
    meta = {
        "seed": seed,
        "trained_on": list(roles),
        "model": model.name,
        "train": train.model_dump(),
        "split_fingerprint": data.info["split_fingerprint"],
        "torch_version": torch.__version__,
        "device": resolve_device(runtime.device),
        "threads": runtime.threads,
        "deterministic": runtime.deterministic,
        **metrics,
    }
    save_model(net, out, meta)
    return metrics


def main(argv: list[str] | None = None) -> int:
    def add(p):
        p.add_argument("--split", required=True)
        p.add_argument("--out", required=True)

    return run_stage(
        "train",
        argv,
        add,
        lambda params, a: fit(params.model, params.train, params.runtime, a.split, a.out,
                              ("forget", "retain"), params.train.seed),
        lambda a: [a.out],
        lambda p, a: {"model": p.model.model_dump(), "train": p.train.model_dump(), "runtime": p.runtime.model_dump()},
    )


if __name__ == "__main__":
    main_exit(main())
