"""A supplied original and an external unlearned checkpoint, through the stage functions themselves."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from muaudit.config import parse_params
from muaudit.data import get_dataset
from muaudit.errors import BadInputError
from muaudit.io import sha256_file
from muaudit.models import build_model
from muaudit.runner.stage import run_files
from muaudit.store import read_layer
from muaudit.training import train_classifier
from tasks.extract import capped_index


def weights_of(seed: int, path: Path, epochs: int = 0) -> Path:
    """An MLP on wine (trained for a few epochs when asked: an untrained one counts as collapsed)."""
    torch.manual_seed(seed)
    model = build_model("mlp", (13,), 3)
    wine = get_dataset("wine")
    train_classifier(model, torch.from_numpy(wine.x), torch.from_numpy(wine.y), epochs, 0.01, 32, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path


@pytest.fixture
def ws(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)  # stages run in the workspace; supplied/ paths are relative to it
    return tmp_path


def test_supplied_original_and_external_checkpoint(ws: Path):
    orig = weights_of(0, Path("supplied/original/model.safetensors"))
    ext = weights_of(1, Path("supplied/external/vendor.safetensors"), epochs=5)
    Path("supplied/requests").mkdir(parents=True)
    Path("supplied/requests/delete.txt").write_text("# deletion request 17\nwine-0003\nwine-0100  # late\n")
    params = parse_params({
        "data": {"name": "wine"}, "model": {"name": "mlp"},
        "split": {"scenario": "ids", "forget_ids": ["wine-0001"], "forget_ids_file": "supplied/requests/delete.txt"},
        "train": {"weights": str(orig)},
        "unlearn": {"methods": ["external"], "external": {"weights": str(ext)}},
        "extract": {"max_samples_per_role": 2},
    })
    summary = run_files("split", params, {"out": "data/split"})
    assert summary.metrics["n_forget"] == 3

    run_files("train", params, {"split": "data/split", "out": "data/models/original"})
    meta = json.loads(Path("data/models/original/model.json").read_text())
    assert meta["supplied"] == str(orig) and meta["weights_sha256"] == sha256_file(orig)
    assert "epochs" not in meta  # nothing was trained

    run_files("unlearn", params, {"split": "data/split", "original": "data/models/original",
                                  "out": "data/models/external"}, method="external")
    meta = json.loads(Path("data/models/external/model.json").read_text())
    assert meta["status"] == "ok" and meta["weights_sha256"] == sha256_file(ext)

    run_files("extract_unlearn", params, {"model_dir": "data/models/external", "split": "data/split",
                                          "out": "data/activations/model=external"})
    rows, acts = read_layer("data/activations", "external", "hidden1")
    assert rows["role"].value_counts().to_dict() == {"forget": 2, "retain": 2, "test": 2} and acts.shape == (6, 64)


def test_pickled_weights_are_refused(ws: Path):
    path = Path("supplied/original/model.pt")
    path.parent.mkdir(parents=True)
    torch.save(build_model("mlp", (13,), 3).state_dict(), path)
    params = parse_params({"data": {"name": "wine"}, "model": {"name": "mlp"}, "split": {"forget_classes": [2]},
                           "train": {"weights": str(path)}})
    run_files("split", params, {"out": "data/split"})
    with pytest.raises(BadInputError, match=r"model.pt: not a safetensors file .*pickled weights are refused"):
        run_files("train", params, {"split": "data/split", "out": "data/models/original"})


def test_weights_outside_supplied_are_refused():
    with pytest.raises(BadInputError, match=r"unlearn.external.weights: .*'/tmp/x.safetensors' must be a relative "
                                             r"path under supplied/external/"):
        parse_params({"unlearn": {"methods": ["external"], "external": {"weights": "/tmp/x.safetensors"}}})
    with pytest.raises(BadInputError, match=r"unlearn.external.weights: Field required"):
        parse_params({"unlearn": {"methods": ["external"]}})


def test_extraction_cap_is_a_fixed_subsample_per_role():
    roles = np.array(["forget"] * 5 + ["retain"] * 50 + ["test"] * 3)
    keep = capped_index(roles, 4)
    assert (np.diff(keep) > 0).all() and (keep == capped_index(roles, 4)).all()
    assert {r: int((roles[keep] == r).sum()) for r in ("forget", "retain", "test")} == {"forget": 4, "retain": 4,
                                                                                       "test": 3}
    assert (capped_index(roles, None) == np.arange(len(roles))).all()
