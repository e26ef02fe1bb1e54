"""train: the original model on forget + retain (or the user's weights, train.weights)."""

from __future__ import annotations

import torch

from muaudit.config import Params
from muaudit.data import SplitData
from muaudit.data.checks import check_model_input
from muaudit.errors import BadInputError
from muaudit.health import check_weights, nonfinite_tensor
from muaudit.io import sha256_file
from muaudit.models import build_model
from muaudit.models.weights import StoredModel, load_weights
from muaudit.results import StageResult
from muaudit.runtime import device_of, resolve_device
from muaudit.training import TrainingHooks, seeded_model, train_classifier
from tasks.common import SplitTensors, accuracies


def fit(params: Params, data: SplitData, roles: tuple[str, ...], seed: int,
        hooks: TrainingHooks | None = None) -> StageResult:
    """A fresh model (initialised and shuffled from seed) trained on the given roles, with its sidecar.

    The model is initialised on the CPU and moved to runtime.device with the data, once; the sidecar
    records the device its weights were on at the end."""
    hooks = hooks or TrainingHooks()
    model, train, runtime = params.model, params.train, params.runtime

    def build():
        return build_model(model.name, data.input_shape, data.num_classes, **model.kwargs)

    # a bare `dvc repro` meets a model that cannot take these samples here, before training, in one line
    check_model_input(build, data.x, data.num_classes, model.name, "the split's samples (data/split)")
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
    return StageResult(StoredModel(meta, net), metrics)


def supplied(params: Params, data: SplitData, hooks: TrainingHooks | None = None) -> StageResult:
    """The original taken from a safetensors file instead of trained; its sha256 goes into the sidecar."""
    hooks = hooks or TrainingHooks()
    model, weights = params.model, params.train.weights
    tensors = SplitTensors(data, resolve_device(params.runtime.device))
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
    return StageResult(StoredModel(meta, net), metrics)


def run(params: Params, hooks: TrainingHooks, split: SplitData) -> StageResult:
    if params.train.weights:  # the one file a body reads itself: a user's weights, located by the params
        return supplied(params, split, hooks)
    return fit(params, split, ("forget", "retain"), params.train.seed, hooks)


if __name__ == "__main__":
    from muaudit.runner.stage import main

    main("train")
