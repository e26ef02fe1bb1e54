"""tune@<method> end to end under `dvc repro` on the tiny audit: it reaches the band for finetune, unlearn applies
the choice, the tuning split is never measured, the choice reproduces, and a search-space change reruns only
that method's stages."""

import copy
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml
from conftest import BIN, TINY, deep_update, make_workspace

pytestmark = pytest.mark.slow

TUNED = deep_update(copy.deepcopy(TINY), {"unlearn": {"tune": ["finetune"]}})  # gradient_ascent: its block


def dvc(ws: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}
    return subprocess.run([str(BIN / "dvc"), *args], cwd=ws, capture_output=True, text=True, env=env, timeout=3000)


def test_tune_reaches_the_band_is_applied_never_measured_reproducible_and_stale_alone(tmp_path: Path):
    ws = make_workspace(tmp_path / "ws", TUNED)
    repro = dvc(ws, "repro")
    assert repro.returncode == 0, repro.stderr[-3000:]

    chosen = json.loads((ws / "data/tune/finetune.json").read_text())
    assert chosen["tuned"] and chosen["reached_band"], chosen
    assert chosen["trials"] == yaml.safe_load((ws / "params.yaml").read_text())["unlearn"]["tune_trials"]
    assert json.loads((ws / "data/tune/gradient_ascent.json").read_text()) == {"method": "gradient_ascent",
                                                                                 "tuned": False}
    applied = json.loads((ws / "data/models/finetune/model.json").read_text())["params"]
    assert applied == chosen["params"]
    assert "| finetune |" in (ws / "data/report/report.md").read_text().split("## Tuning")[1]

    # the tuning split is in no activation file, so in no metric; the metrics' accuracy is the rest's
    from muaudit.data import load_split
    from muaudit.models import build_model, load_model
    from muaudit.store import read_layer
    from muaudit.training import accuracy

    split = load_split(ws / "data/split")
    assert split.tune.any()
    tune_ids = set(split.sample_ids[split.tune].tolist())
    for model_dir in (ws / "data/activations").glob("model=*"):
        meta, _ = read_layer(ws / "data/activations", model_dir.name.split("=")[1], "logits")
        assert not tune_ids & set(meta.sample_id), model_dir
        assert len(meta) == int((~split.tune).sum())
    import torch

    net, _ = load_model(build_model("small_cnn", split.input_shape, split.num_classes), ws / "data/models/original")
    idx = np.flatnonzero((split.roles == "retain") & ~split.tune)
    expected = accuracy(net, torch.from_numpy(split.x[idx]), torch.from_numpy(split.y[idx]))
    table = pq.read_table(ws / "data/metrics/metrics.parquet").to_pandas()
    got = table[(table.model == "original") & (table.metric == "accuracy") & (table.role == "retain")
                & (table.reference == "")].value.iloc[0]
    assert got == pytest.approx(expected)

    # each trial is a child MLflow run of the tune stage's run
    from mlflow.tracking import MlflowClient

    cl = MlflowClient(f"sqlite:///{ws / 'mlflow.db'}")
    exp = cl.get_experiment_by_name("muaudit").experiment_id
    stage_run = cl.search_runs([exp], "tags.`muaudit.stage` = 'tune@finetune'")[0]
    trials = cl.search_runs([exp], f"tags.mlflow.parentRunId = '{stage_run.info.run_id}'")
    assert len(trials) == chosen["trials"] and all("gap" in r.data.metrics for r in trials)

    # identical seeds: rerunning the stage gives the identical chosen setting, byte for byte
    before = (ws / "data/tune/finetune.json").read_bytes()
    again = dvc(ws, "repro", "-f", "-s", "tune@finetune")
    assert again.returncode == 0, again.stderr[-3000:]
    assert (ws / "data/tune/finetune.json").read_bytes() == before

    # a narrower search space for finetune makes its stages stale, and no other method's
    params = yaml.safe_load((ws / "params.yaml").read_text())
    params["unlearn"]["finetune"]["search"] = {"lr": [0.001, 0.01]}
    (ws / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    status = dvc(ws, "status", "--json")
    assert status.returncode == 0, status.stderr[-3000:]
    assert set(json.loads(status.stdout)) == {"tune@finetune", "unlearn@finetune"}
