"""Corrupt or missing artifacts on disk reach a stage: one line naming the file, exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from muaudit.models import build_model, save_model
from muaudit.runner.stage import NO_TRACKING_ENV
from muaudit.runner.stage import run as run_stage


@pytest.fixture
def split_dir(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv(NO_TRACKING_ENV, "1")
    (tmp_path / "params.yaml").write_text("model: {name: small_cnn}\n")
    assert run_stage("split", ["--params", str(tmp_path / "params.yaml"), "--out", str(tmp_path / "split")]) == 0
    return tmp_path / "split"


def truncate(path: Path) -> None:
    with open(path, "r+b") as fh:
        fh.truncate(path.stat().st_size // 2)


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    return err


def test_truncated_manifest(split_dir: Path, capsys):
    truncate(split_dir / "manifest.parquet")
    code = run_stage("train", ["--params", str(split_dir.parent / "params.yaml"), "--split", str(split_dir),
                             "--out", str(split_dir.parent / "model")])
    assert code == 2 and "manifest.parquet: not a readable Parquet file" in one_error_line(capsys)
    assert not (split_dir.parent / "model").exists()


def test_missing_split_file(split_dir: Path, capsys):
    (split_dir / "dataset.safetensors").unlink()
    code = run_stage("train", ["--params", str(split_dir.parent / "params.yaml"), "--split", str(split_dir),
                             "--out", str(split_dir.parent / "model")])
    assert code == 2 and "dataset.safetensors: missing" in one_error_line(capsys)


@pytest.mark.parametrize(
    ("make_weights", "fragment"),
    [
        (lambda path: torch.save({"w": torch.zeros(2)}, path), "model.safetensors: not a safetensors file"),
        (lambda path: None, "model.safetensors: weights do not match the model"),
    ],
    ids=["pickle", "other-architecture"],
)
def test_bad_weights(split_dir: Path, capsys, make_weights, fragment):
    model_dir = split_dir.parent / "original"
    save_model(build_model("mlp", (1, 8, 8), 10), model_dir, {"status": "ok"})  # params say small_cnn
    make_weights(model_dir / "model.safetensors")
    code = run_stage("extract", ["--params", str(split_dir.parent / "params.yaml"), "--split", str(split_dir),
                               "--model-dir", str(model_dir), "--out", str(split_dir.parent / "acts")])
    assert code == 2 and fragment in one_error_line(capsys)
    assert not (split_dir.parent / "acts").exists()
