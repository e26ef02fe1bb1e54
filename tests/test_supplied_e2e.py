"""A supplied original and an external unlearned checkpoint through the real pipeline (wine, mlp)."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import BIN, TINY, deep_update, make_workspace, muaudit
from safetensors.torch import save_file

from muaudit.data import get_dataset
from muaudit.io import sha256_file
from muaudit.models import build_model
from muaudit.training import train_classifier

pytestmark = pytest.mark.slow


def trained_mlp(path: Path, keep: np.ndarray, seed: int) -> None:
    wine = get_dataset("wine")
    torch.manual_seed(seed)
    model = build_model("mlp", (13,), 3, hidden=16)
    train_classifier(model, torch.from_numpy(wine.x[keep]), torch.from_numpy(wine.y[keep]), 40, 0.003, 16, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))


def test_supplied_original_and_external_checkpoint_are_audited(tmp_path: Path, prefect_server: str):
    overrides = deep_update(copy.deepcopy(TINY), {  # deep: TINY's blocks are shared by every test
        "data": {"name": "wine"}, "split": {"forget_classes": [2]}, "model": {"name": "mlp", "kwargs": {"hidden": 16}},
        "train": {"weights": "supplied/original/original.safetensors", "epochs": 40, "lr": 0.003, "batch_size": 16},
        "unlearn": {"methods": ["external", "finetune"],
                    "external": {"weights": "supplied/external/vendor.safetensors"}},
    })
    ws = make_workspace(tmp_path / "ws", overrides)
    y = get_dataset("wine").y
    trained_mlp(ws / "supplied/original/original.safetensors", np.arange(len(y)), 0)
    trained_mlp(ws / "supplied/external/vendor.safetensors", np.flatnonzero(y != 2), 7)  # "unlearned" by retraining

    run = muaudit(ws, "run", "--workers", "2", env={"PREFECT_API_URL": prefect_server})
    assert run.returncode == 0, run.stderr[-3000:]
    assert "| external |" in run.stdout and "| finetune |" in run.stdout

    original = json.loads((ws / "data/models/original/model.json").read_text())
    external = json.loads((ws / "data/models/external/model.json").read_text())
    assert original["weights_sha256"] == sha256_file(ws / "supplied/original/original.safetensors")
    assert external["weights_sha256"] == sha256_file(ws / "supplied/external/vendor.safetensors")
    assert external["acc_forget"] == 0.0 and original["acc_forget"] == 1.0
    assert (ws / "data/activations/model=external/layer=hidden1").is_dir()
    lock = (ws / "dvc.lock").read_text()
    assert "supplied/original" in lock and "supplied/external" in lock

    # DVC tracks the supplied files: a new vendor checkpoint reruns the unlearn stages, not the band.
    trained_mlp(ws / "supplied/external/vendor.safetensors", np.flatnonzero(y != 2), 8)
    status = subprocess.run([str(BIN / "dvc"), "status"], cwd=ws, capture_output=True, text=True).stdout
    assert "unlearn@external" in status and "supplied/external" in status
    assert "retrain@1" not in status and "train:" not in status
