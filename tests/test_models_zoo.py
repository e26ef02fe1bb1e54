"""The CIFAR-style ResNet-18 and user models by dotted path, on tiny inputs only."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from muaudit.errors import BadInputError
from muaudit.extraction import extract, resolve_layers
from muaudit.models import build_model


def test_resnet18_cifar_stem_keeps_resolution_and_extracts_pooled_layers():
    model = build_model("resnet18", (3, 8, 8), 10, width=4)
    assert model.stem[0].kernel_size == (3, 3) and not any(isinstance(m, torch.nn.MaxPool2d) for m in model.modules())
    acts = extract(model, torch.rand(5, 3, 8, 8), resolve_layers(model, None), batch_size=2)
    assert {k: v.shape for k, v in acts.items()} == {"layer1": (5, 4), "layer2": (5, 8), "layer3": (5, 16),
                                                     "layer4": (5, 32), "logits": (5, 10)}
    full = build_model("resnet18", (3, 32, 32), 10)
    assert 11_000_000 < sum(p.numel() for p in full.parameters()) < 11_300_000  # the standard CIFAR ResNet-18


def test_user_model_by_dotted_path_with_kwargs(tmp_path: Path, monkeypatch):
    (tmp_path / "my_models.py").write_text(
        "from torch import nn\n"
        "def build(input_shape, num_classes, hidden=3):\n"
        "    m = nn.Sequential()\n"
        "    m.add_module('body', nn.Sequential(nn.Flatten(), nn.Linear(8, hidden)))\n"
        "    m.add_module('head', nn.Linear(hidden, num_classes))\n"
        "    return m\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    model = build_model("my_models:build", (2, 4), 5, hidden=7)
    assert model.head.in_features == 7
    assert extract(model, torch.rand(3, 2, 4), ["body"])["body"].shape == (3, 7)
    with pytest.raises(BadInputError, match=r"model.kwargs: my_models:build rejected \['depth'\]"):
        build_model("my_models:build", (2, 4), 5, depth=2)
    with pytest.raises(BadInputError, match="model.name: 'my_models' has no function 'nope'"):
        build_model("my_models:nope", (2, 4), 5)
    with pytest.raises(BadInputError, match="model.name: cannot import module 'no_such_pkg.models'"):
        build_model("no_such_pkg.models:build", (2, 4), 5)


def test_resnet18_through_split_train_and_extract_on_tiny_images(tmp_path: Path, monkeypatch):
    import numpy as np

    from muaudit.config import parse_params
    from muaudit.data import load_split
    from muaudit.runner.stage import run_files
    from muaudit.store import read_layer

    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    Path("supplied/data").mkdir(parents=True)
    np.savez("supplied/data/tiny.npz", x=rng.random((30, 3, 16, 16), dtype=np.float32), y=np.arange(30) % 3)
    params = parse_params({"data": {"name": "npz", "path": "supplied/data/tiny.npz"}, "split": {"forget_classes": [1]},
                           "model": {"name": "resnet18", "kwargs": {"width": 4}},
                           "train": {"epochs": 1, "batch_size": 8}, "extract": {"layers": ["layer2", "layer4"]}})
    run_files("split", params, {"out": "data/split"})
    run_files("train", params, {"split": "data/split", "out": "data/models/original"})
    run_files("extract_original", params, {"model_dir": "data/models/original", "split": "data/split",
                                           "out": "data/activations/model=original"})
    _, acts = read_layer("data/activations", "original", "layer4")
    measured = int((~load_split("data/split").tune).sum())  # the tuning split is never extracted
    assert acts.shape == (measured, 32)  # pooled: one value per channel
