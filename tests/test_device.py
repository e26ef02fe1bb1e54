"""runtime.device reaches every stage function: trained, unlearned and extracted on the device asked for.

CPU-only proof: the stages are run with resolve_device patched to a fake accelerator (tests/fake_accelerator.py),
whose tensors compute with real numbers but fail when mixed with tensors left on the CPU, as CUDA's do. A
stage that ignored the device would compute on plain CPU tensors (caught), or mix them (an error).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from fake_accelerator import DEVICE, FakeAccelerator

import tasks.extract
import tasks.train
import tasks.unlearn
from muaudit.config import parse_params
from muaudit.data import get_dataset
from muaudit.methods import registry
from muaudit.runner.stage import run_files
from muaudit.runtime import configure, device_of, resolve_device

EXTERNAL = "supplied/external/vendor.safetensors"
DATA = "supplied/data/digits500.npz"  # the first 500 digits: fisher_forgetting's per-sample gradients dominate the cost


def tiny_params():
    methods = registry.names()
    # one epoch in large batches: the fake device dispatches every op through Python
    blocks = {m: {k: v for k, v in {"epochs": 1, "batch_size": 256}.items() if k in registry.get(m).params.model_fields}
              for m in methods}
    blocks["external"] = {"weights": EXTERNAL}
    return parse_params({"data": {"name": "npz", "path": DATA}, "train": {"epochs": 10},
                         "retrain": {"seeds": [1, 2]},
                         "unlearn": {"methods": methods, **blocks}, "extract": {"max_samples_per_role": 40}},
                        registries=False)


def run_stages(ws: Path) -> None:
    """train, a retrain, every registered method (controls and external included) and two extractions."""
    p = tiny_params()
    run_files("train", p, {"split": "data/split", "out": "data/models/original"})
    run_files("retrain", p, {"split": "data/split", "out": "data/models/retrain_1"}, seed=1)
    Path(EXTERNAL).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy("data/models/original/model.safetensors", EXTERNAL)
    for method in p.unlearn.methods:
        run_files("unlearn", p, {"split": "data/split", "original": "data/models/original",
                                 "out": f"data/models/{method}"}, method=method)
    for model in ("original", "scrub"):
        run_files("extract_unlearn", p, {"model_dir": f"data/models/{model}", "split": "data/split",
                                         "out": f"data/activations/model={model}"})


@pytest.fixture(scope="module")
def cpu_run(tmp_path_factory) -> Path:
    ws = tmp_path_factory.mktemp("cpu")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(ws)
        configure(threads=1)
        digits = get_dataset("digits")
        Path(DATA).parent.mkdir(parents=True)
        np.savez(DATA, x=digits.x[:500], y=digits.y[:500])
        run_files("split", tiny_params(), {"out": "data/split"})
        run_stages(ws)
    return ws


def test_every_stage_computes_on_the_requested_device_and_records_it(cpu_run: Path, tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copytree(cpu_run / "data/split", "data/split")
    for module in (tasks.train, tasks.unlearn, tasks.extract):
        monkeypatch.setattr(module, "resolve_device", lambda _requested: DEVICE)
    configure(threads=1)
    with FakeAccelerator() as accelerator:
        run_stages(tmp_path)

    assert accelerator.compute_off_device() == [], "these ran on the CPU although the device was meta"
    assert accelerator.compute_on_device() > 100  # not vacuous: the work did run, and on the device
    models = sorted(p.parent.name for p in Path("data/models").glob("*/model.json"))
    assert len(models) == len(registry.names()) + 2
    for name in models:
        meta = json.loads(Path(f"data/models/{name}/model.json").read_text())
        assert meta["device"] == "meta", name
        cpu = json.loads((cpu_run / f"data/models/{name}/model.json").read_text())
        assert cpu["device"] == "cpu", name
        assert {**meta, "device": "cpu"} == cpu, name  # the same numbers: only the device differs
        if meta.get("status", "ok") == "ok":
            weights = Path(f"data/models/{name}/model.safetensors").read_bytes()
            assert weights == (cpu_run / f"data/models/{name}/model.safetensors").read_bytes(), name
    for part in sorted(Path("data/activations").rglob("*.parquet")):
        assert part.read_bytes() == (cpu_run / part).read_bytes(), part


def test_resolve_device_keeps_auto_and_refuses_a_missing_gpu():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        from muaudit.errors import BadInputError

        with pytest.raises(BadInputError, match="runtime.device: 'cuda' requested"):
            resolve_device("cuda")


def test_device_of_reads_the_parameters():
    with FakeAccelerator():
        model = torch.nn.Linear(2, 2)
        assert device_of(model) == "cpu"
        model.to(DEVICE)
        assert device_of(model) == "meta"
        model.bias = torch.nn.Parameter(torch.zeros(2))  # half moved back: a record would be a guess
        with pytest.raises(RuntimeError, match="several devices"):
            device_of(model)


def test_the_fake_accelerator_catches_a_tensor_left_on_the_cpu():
    with FakeAccelerator():
        model = torch.nn.Linear(3, 2).to(DEVICE)
        with pytest.raises(RuntimeError, match="same device"):
            model(torch.ones(4, 3))
