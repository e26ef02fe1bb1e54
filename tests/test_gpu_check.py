"""The parts of benchmarks/gpu_check.py that need no GPU: its data, its params, its results section."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmarks import gpu_check
from muaudit.config import parse_params
from muaudit.data import make_roles


def test_synthetic_cifar_is_cifar_shaped_balanced_deterministic_and_learnable(tmp_path):
    a = np.load(gpu_check.synthetic_cifar(tmp_path / "a.npz", n=2000))
    b = np.load(gpu_check.synthetic_cifar(tmp_path / "b.npz", n=2000))
    x, y = a["x"], a["y"]
    assert x.shape == (2000, 3, 32, 32) and x.dtype == np.float32 and x.min() >= 0 and x.max() <= 1
    assert np.bincount(y).tolist() == [200] * 10
    assert np.array_equal(x, b["x"]) and np.array_equal(y, b["y"])
    means = np.stack([x[:1000][y[:1000] == c].mean(0) for c in range(10)]).reshape(10, -1)
    nearest = ((x[1000:].reshape(1000, 1, -1) - means[None]) ** 2).sum(-1).argmin(1)
    assert (nearest == y[1000:]).mean() > 0.9  # a network has something to learn


def test_cifar_params_are_valid_and_give_cifar_sizes():
    params = parse_params(gpu_check.CIFAR_PARAMS)
    assert params.runtime.device == "cuda" and params.model.name == "resnet18"
    y = np.arange(gpu_check.CIFAR_TRAIN + gpu_check.CIFAR_TEST) % 10
    roles = make_roles(y, "class", 0.1, params.split.forget_classes, params.data.test_fraction, params.split.seed)
    counts = {r: int((roles == r).sum()) for r in ("forget", "retain", "test")}
    assert counts == {"forget": 5000, "retain": 45000, "test": 10000}


def test_results_section_is_replaced_not_duplicated():
    first = gpu_check.replace_section("# results\n\nCPU rows\n", "<!-- gpu_check:start -->\nA\n<!-- gpu_check:end -->\n")
    again = gpu_check.replace_section(first, "<!-- gpu_check:start -->\nB\n<!-- gpu_check:end -->\n")
    assert again == "# results\n\nCPU rows\n\n<!-- gpu_check:start -->\nB\n<!-- gpu_check:end -->\n"
    assert gpu_check.gpu_section(again) == "<!-- gpu_check:start -->\nB\n<!-- gpu_check:end -->\n"
    assert gpu_check.gpu_section("# results\n") == ""


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_without_cuda_it_stops_at_once_and_says_why(capsys):
    assert gpu_check.main([]) == 2
    assert "no CUDA device" in capsys.readouterr().err


def test_section_lists_every_stage_and_flags_stages_off_the_gpu():
    rows = [{"stage": "train", "wall_s": 12.5, "gpu_mib": 812.4, "device": "cuda:0", "skipped": False},
            {"stage": "metrics", "wall_s": 3.0, "gpu_mib": None, "device": "cpu", "skipped": False}]
    text = gpu_check.section({"GPU": "H200"}, [{"name": "cifar", "wall_s": 300.0, "exit": "0", "rows": rows,
                                                "off_gpu": ["extract_original"]}])
    assert "| train | 12.50 | 812 | cuda:0 |" in text and "| metrics | 3.00 |  | cpu |" in text
    assert "largest stage peak 812 MiB" in text and "**FAILED: stages not on CUDA: extract_original**" in text
