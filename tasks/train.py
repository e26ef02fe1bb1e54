"""train: the original model on forget + retain."""

from __future__ import annotations

import numpy as np
import torch

from muaudit.config import ModelParams, RuntimeParams, TrainParams
from muaudit.data.checks import check_model_input
from muaudit.errors import BadInputError
from muaudit.health import check_weights, nonfinite_tensor
from muaudit.io import sha256_file
from muaudit.models import build_model, save_model
from muaudit.models.io import load_weights
from muaudit.runtime import resolve_device
from muaudit.stage import main_exit, run_stage
from muaudit.training import seeded_model, train_classifier
from tasks.common import accuracies, load_split


def fit(model: ModelParams, train: TrainParams, runtime: RuntimeParams, split_dir: str, out: str,
        roles: tuple[str, ...], seed: int) -> dict:
    """Train a fresh model (initialised and shuffled from seed) on the given roles, save it with its sidecar."""
    data = load_split(split_dir)

    def build():
        return build_model(model.name, data.input_shape, data.num_classes, **model.kwargs)

    # a bare `dvc repro` meets a model that cannot take these samples here, before training, in one line
    check_model_input(build, data.x, data.num_classes, model.name, f"{split_dir}/dataset.safetensors")
    net = seeded_model(build, seed)
    idx = torch.from_numpy(np.flatnonzero(np.isin(data.roles, roles)))
    x, y = torch.from_numpy(data.x)[idx], torch.from_numpy(data.y)[idx]
    train_classifier(net, x, y, train.epochs, train.lr, train.batch_size, seed, train.weight_decay)
    check_weights(net, "after training")
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


def supplied(model: ModelParams, weights: str, split_dir: str, out: str) -> dict:
    """Take the original from a safetensors file instead of training it; its sha256 goes into the sidecar."""
    data = load_split(split_dir)
    net = load_weights(build_model(model.name, data.input_shape, data.num_classes, **model.kwargs), weights).eval()
    if (bad := nonfinite_tensor(net)) is not None:
        raise BadInputError(f"train.weights: {weights}: {bad} holds NaN or inf; expected finite weights")
    metrics = accuracies(net, data)
    meta = {"supplied": weights, "weights_sha256": sha256_file(weights), "trained_on": ["forget", "retain"],
            "model": model.name, "split_fingerprint": data.info["split_fingerprint"],
            "torch_version": torch.__version__, **metrics}
    save_model(net, out, meta)
    return metrics


def original(model: ModelParams, train: TrainParams, runtime: RuntimeParams, split_dir: str, out: str) -> dict:
    if train.weights:
        return supplied(model, train.weights, split_dir, out)
    return fit(model, train, runtime, split_dir, out, ("forget", "retain"), train.seed)


def main(argv: list[str] | None = None) -> int:
    def add(p):
        p.add_argument("--split", required=True)
        p.add_argument("--out", required=True)

    return run_stage(
        "train",
        argv,
        add,
        lambda params, a: original(params.model, params.train, params.runtime, a.split, a.out),
        lambda a: [a.out],
        lambda p, a: {"model": p.model.model_dump(), "train": p.train.model_dump(), "runtime": p.runtime.model_dump()},
    )


if __name__ == "__main__":
    main_exit(main())
