"""train: the original model on forget + retain."""

from __future__ import annotations

import torch

from muaudit.config import ModelParams, RuntimeParams, TrainParams
from muaudit.data.checks import check_model_input
from muaudit.errors import BadInputError
from muaudit.health import check_weights, nonfinite_tensor
from muaudit.io import sha256_file
from muaudit.models import build_model, save_model
from muaudit.models.weights import load_weights
from muaudit.runner.stage import main_exit, run_stage
from muaudit.runtime import device_of, resolve_device
from muaudit.training import TrainingHooks, seeded_model, train_classifier
from tasks.common import SplitTensors, accuracies, load_split


def fit(model: ModelParams, train: TrainParams, runtime: RuntimeParams, split_dir: str, out: str,
        roles: tuple[str, ...], seed: int, hooks: TrainingHooks | None = None) -> dict:
    """Train a fresh model (initialised and shuffled from seed) on the given roles, save it with its sidecar.

    The model is initialised on the CPU and moved to runtime.device with the data, once; the sidecar
    records the device its weights were on at the end."""
    hooks = hooks or TrainingHooks()
    data = load_split(split_dir)

    def build():
        return build_model(model.name, data.input_shape, data.num_classes, **model.kwargs)

    # a bare `dvc repro` meets a model that cannot take these samples here, before training, in one line
    check_model_input(build, data.x, data.num_classes, model.name, f"{split_dir}/dataset.safetensors")
    tensors = SplitTensors(data, resolve_device(runtime.device))
    net = seeded_model(build, seed).to(tensors.x.device)
    x, y = tensors.rows(*roles)
    train_classifier(net, x, y, train.epochs, train.lr, train.batch_size, seed, train.weight_decay, hooks)
    check_weights(net, "after training")
    metrics = accuracies(net, tensors)
    device = device_of(net)
    hooks.record_device(device)
    meta = {
        "seed": seed,
        "trained_on": list(roles),
        "model": model.name,
        "train": train.model_dump(),
        "split_fingerprint": data.info["split_fingerprint"],
        "torch_version": torch.__version__,
        "device": device,
        "threads": runtime.threads,
        "deterministic": runtime.deterministic,
        **metrics,
    }
    save_model(net, out, meta)
    return metrics


def supplied(model: ModelParams, runtime: RuntimeParams, weights: str, split_dir: str, out: str,
             hooks: TrainingHooks | None = None) -> dict:
    """Take the original from a safetensors file instead of training it; its sha256 goes into the sidecar."""
    hooks = hooks or TrainingHooks()
    data = load_split(split_dir)
    tensors = SplitTensors(data, resolve_device(runtime.device))
    net = load_weights(build_model(model.name, data.input_shape, data.num_classes, **model.kwargs), weights)
    if (bad := nonfinite_tensor(net)) is not None:
        raise BadInputError(f"train.weights: {weights}: {bad} holds NaN or inf; expected finite weights")
    net = net.to(tensors.x.device).eval()
    metrics = accuracies(net, tensors)
    device = device_of(net)
    hooks.record_device(device)
    meta = {"supplied": weights, "weights_sha256": sha256_file(weights), "trained_on": ["forget", "retain"],
            "model": model.name, "split_fingerprint": data.info["split_fingerprint"],
            "torch_version": torch.__version__, "device": device, **metrics}
    save_model(net, out, meta)
    return metrics


def original(model: ModelParams, train: TrainParams, runtime: RuntimeParams, split_dir: str, out: str,
             hooks: TrainingHooks | None = None) -> dict:
    if train.weights:
        return supplied(model, runtime, train.weights, split_dir, out, hooks)
    return fit(model, train, runtime, split_dir, out, ("forget", "retain"), train.seed, hooks)


def main(argv: list[str] | None = None) -> int:
    def add(p):
        p.add_argument("--split", required=True)
        p.add_argument("--out", required=True)

    return run_stage(
        "train",
        argv,
        add,
        lambda params, a, hooks: original(params.model, params.train, params.runtime, a.split, a.out, hooks),
        lambda a: [a.out],
        lambda p, a: {"model": p.model.model_dump(), "train": p.train.model_dump(), "runtime": p.runtime.model_dump()},
    )


if __name__ == "__main__":
    main_exit(main())
