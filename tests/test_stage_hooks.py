"""What a stage run records through its hooks: the tensors' device, the loss per epoch, no leftovers."""

from __future__ import annotations

import numpy as np
import yaml

from muaudit.data import get_dataset


def test_a_train_stage_records_its_device_and_loss_curve_in_mlflow(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    from muaudit.runner.stage import run as run_stage

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    for var in ("MUAUDIT_NO_TRACKING", "MUAUDIT_PARENT_RUN_ID", "MUAUDIT_PROGRESS_DIR", "MUAUDIT_STAGE", "DVC_STAGE"):
        monkeypatch.delenv(var, raising=False)
    digits = get_dataset("digits")
    (tmp_path / "supplied/data").mkdir(parents=True)
    np.savez("supplied/data/d.npz", x=digits.x[:300], y=digits.y[:300])
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({
        "data": {"name": "npz", "path": "supplied/data/d.npz"}, "train": {"epochs": 3},
        "runtime": {"checkpoint_every": 1}}))
    assert run_stage("split", ["--out", "data/split"]) == 0
    assert run_stage("train", ["--split", "data/split", "--out", "data/models/original"]) == 0

    cl = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    run = cl.search_runs([cl.get_experiment_by_name("muaudit").experiment_id], "attributes.run_name = 'train'")[0]
    assert run.data.tags["env.device"] == "cpu" and run.data.tags["env.device_requested"] == "cpu"
    curve = cl.get_metric_history(run.info.run_id, "loss")
    assert [m.step for m in curve] == [1, 2, 3] and curve[0].value > curve[-1].value
    split = cl.search_runs([run.info.experiment_id], "attributes.run_name = 'split'")[0]
    assert split.data.tags["env.device"] == "cpu"  # no tensors: NumPy on the CPU
    # run as `dvc repro` runs it (no parent run): the stage is recorded when it exits, so its checkpoints go
    assert (tmp_path / ".muaudit/checkpoints").exists() and not any((tmp_path / ".muaudit/checkpoints").iterdir())
