"""muaudit.health: one non-finite check for train, retrain, the controls and the methods; a diverged train
stage fails with one line and writes no model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import muaudit.methods.base as method_base
import tasks.unlearn
from muaudit.data import get_dataset, make_roles, write_split
from muaudit.health import DivergedError, check_loss, check_weights
from muaudit.models import build_model
from muaudit.runner.stage import NO_TRACKING_ENV
from muaudit.runner.stage import run as run_stage
from muaudit.training import seeded_model, train_classifier


def test_loss_and_weights_checks_name_what_is_not_finite():
    check_loss(torch.tensor(1.5), "x")
    with pytest.raises(DivergedError, match="^epoch 2 of 3: loss became inf$"):
        check_loss(torch.tensor(float("inf")), "epoch 2 of 3")
    model = build_model("small_cnn", (1, 8, 8), 10)
    check_weights(model, "train")
    with torch.no_grad():
        model.fc[1].bias[3] = float("nan")
    with pytest.raises(DivergedError, match=r"^train: non-finite weights in fc\.1\.bias$"):
        check_weights(model, "train")


def test_training_fails_in_the_first_epoch_whose_loss_is_not_finite():
    data = get_dataset("digits")
    x, y = torch.from_numpy(data.x[:300].copy()), torch.from_numpy(data.y[:300])
    x[17, 0, 3, 3] = float("nan")
    model = seeded_model(lambda: build_model("small_cnn", (1, 8, 8), 10), 0)
    with pytest.raises(DivergedError, match="^epoch 1 of 4: loss became nan$"):
        train_classifier(model, x, y, epochs=4, lr=1e-3, batch_size=64, seed=0)


def test_methods_use_the_same_check():
    assert method_base.DivergedError is DivergedError
    with pytest.raises(DivergedError, match="^scrub: loss became nan$"):
        method_base.check_finite(torch.tensor(float("nan")), "scrub")
    model = build_model("small_cnn", (1, 8, 8), 10)
    with torch.no_grad():
        model.head.weight[0, 0] = float("inf")
    with pytest.raises(DivergedError, match="^finetune: non-finite weights in head.weight$"):
        tasks.unlearn._check_healthy(model, None, 10, "finetune")


def test_a_diverged_train_stage_prints_one_line_and_writes_no_model(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setenv(NO_TRACKING_ENV, "1")
    monkeypatch.chdir(tmp_path)
    ds = get_dataset("digits")
    bad = ds.x.copy()
    bad[np.flatnonzero(ds.y == 4)[:3], 0, 2, 2] = np.nan  # past the split's checks, as a tampered split would be
    write_split("split", type(ds)(ds.name, bad, ds.y, ds.sample_ids, ds.num_classes),
                make_roles(ds.y, "class", 0.1, [3], 0.2, 0))
    Path("params.yaml").write_text("train: {epochs: 2}\n")
    code = run_stage("train", ["--params", "params.yaml", "--split", "split", "--out", "original"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and "\n" not in err, err
    assert err.startswith("error: train: epoch 1 of 2: loss became nan (trace: .muaudit/logs/"), err
    trace = Path(err.split("(trace: ")[1].rstrip(")"))
    assert "DivergedError: epoch 1 of 2: loss became nan" in trace.read_text()
    assert not Path("original").exists()
