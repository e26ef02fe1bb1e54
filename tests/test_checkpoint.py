"""Resume inside a training loop: stopped after epoch k and rerun, it ends with an uninterrupted run's bytes."""

from __future__ import annotations

import copy
import json
import math
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save

from muaudit.checkpoint import AUTO_INTERVAL_S, Checkpointer, remove_checkpoints, remove_checkpoints_except
from muaudit.data import get_dataset, make_roles
from muaudit.methods import UnlearnContext, registry
from muaudit.models import build_model
from muaudit.runner.stage_hooks import StageHooks
from muaudit.runtime import configure
from muaudit.training import TrainingHooks, seeded_model, train_classifier


class Stop(Exception):
    """Stands in for a kill right after epoch k's checkpoint was written."""


class Hooks(StageHooks):
    """StageHooks that checkpoint every epoch, remember where they resumed, and can stop after an epoch."""

    def __init__(self, workspace: Path, stop_after: int | None = None, fingerprint: str = "same stage"):
        super().__init__("train", workspace, 1, lambda: fingerprint)
        self.stop_after = stop_after
        self.resumed_at: int | None = None
        self.curve: list[tuple[int, float]] = []

    def resume(self, state):
        self.resumed_at = super().resume(state)
        return self.resumed_at

    def epoch_end(self, epoch, epochs, loss, state):
        super().epoch_end(epoch, epochs, loss, state)
        self.curve.append((epoch, loss))
        if epoch == self.stop_after:
            raise Stop


def weights(model: torch.nn.Module) -> bytes:
    return save({k: v.contiguous() for k, v in model.state_dict().items()})


@pytest.fixture(scope="module")
def digits():
    configure(threads=1)
    ds = get_dataset("digits")
    roles = make_roles(ds.y, "class", 0.1, [3], 0.2, 0)
    forget, retain = np.flatnonzero(roles == "forget")[:60], np.flatnonzero(roles == "retain")[:300]

    def build():
        return build_model("small_cnn", ds.x.shape[1:], 10)

    x = torch.from_numpy(ds.x)
    y = torch.from_numpy(ds.y)
    original = train_classifier(seeded_model(build, 0), x[retain.tolist() + forget.tolist()],
                                y[retain.tolist() + forget.tolist()], 4, 3e-3, 64, 0)
    return {"x_forget": x[forget], "y_forget": y[forget], "x_retain": x[retain], "y_retain": y[retain],
            "build": build, "original": original.requires_grad_(False)}


def fit(digits, hooks: TrainingHooks | None) -> torch.nn.Module:
    model = seeded_model(digits["build"], 7)
    return train_classifier(model, digits["x_retain"], digits["y_retain"], 4, 3e-3, 32, 7, hooks=hooks)


def test_training_resumed_after_a_stop_matches_an_uninterrupted_run(digits, tmp_path: Path):
    whole = Hooks(tmp_path / "whole")
    reference = weights(fit(digits, whole))
    with pytest.raises(Stop):
        fit(digits, Hooks(tmp_path, stop_after=2))
    assert (tmp_path / ".muaudit/checkpoints/train/loop0.safetensors").exists()
    # the interrupted process's RNGs are gone with it: a rerun starts from whatever state
    torch.manual_seed(12345)
    np.random.seed(6789)
    random.seed(1)
    rerun = Hooks(tmp_path)
    assert weights(fit(digits, rerun)) == reference
    assert rerun.resumed_at == 2
    assert rerun._losses == [loss for _, loss in whole.curve]  # the curve is whole after the resume


def test_a_checkpoint_of_another_stage_version_is_ignored(digits, tmp_path: Path, capsys):
    with pytest.raises(Stop):
        fit(digits, Hooks(tmp_path, stop_after=1, fingerprint="before a params change"))
    rerun = Hooks(tmp_path, fingerprint="after")
    fit(digits, rerun)
    assert rerun.resumed_at == 0 and "checkpoint ignored: made by another version" in capsys.readouterr().out


def test_checkpoint_off_writes_and_reads_none(digits, tmp_path: Path):
    with pytest.raises(Stop):
        fit(digits, Hooks(tmp_path, stop_after=1))
    hooks = Hooks(tmp_path)
    hooks.every = "off"
    fit(digits, hooks)
    assert hooks.resumed_at == 0


TRAINING_METHODS = [n for n in registry.names() if "epochs" in registry.get(n).params.model_fields]


@pytest.mark.parametrize("name", TRAINING_METHODS)
def test_every_training_method_resumes_to_the_same_bytes(digits, name: str, tmp_path: Path):
    spec = registry.get(name)
    params = spec.params(epochs=3)

    def run(hooks: TrainingHooks):
        ctx = UnlearnContext(
            original=digits["original"], model=seeded_model(lambda: copy.deepcopy(digits["original"]), 0),
            x_forget=digits["x_forget"], y_forget=digits["y_forget"], x_retain=digits["x_retain"],
            y_retain=digits["y_retain"], num_classes=10, scenario="class", forget_classes=(3,), seed=0,
            build_model=digits["build"], hooks=hooks)
        ctx.model.requires_grad_(True)
        counter = ctx.model.register_forward_pre_hook(lambda _m, a: ctx.count(len(a[0])) if torch.is_grad_enabled() else None)
        try:
            return weights(spec.fn(ctx, params)), ctx.sample_passes
        finally:
            counter.remove()

    reference = run(TrainingHooks())
    with pytest.raises(Stop):
        run(Hooks(tmp_path, stop_after=1))
    torch.manual_seed(999)
    rerun = Hooks(tmp_path)
    assert run(rerun) == reference  # weights and the pass count that model.json records
    assert rerun.resumed_at == 1


def test_auto_checkpoints_at_most_once_a_minute_and_never_after_the_last_epoch(tmp_path: Path):
    now = [0.0]
    ckpt = Checkpointer(tmp_path / "c.safetensors", lambda: "f", "auto", clock=lambda: now[0])
    assert not ckpt.due(1, 10)
    now[0] = AUTO_INTERVAL_S
    assert ckpt.due(2, 10) and not ckpt.due(10, 10)
    ckpt.save(2, {"generator": torch.Generator().manual_seed(1)}, [0.5, math.nan])
    assert not ckpt.due(3, 10)
    every = Checkpointer(tmp_path / "d.safetensors", lambda: "f", 3)
    assert [e for e in range(1, 10) if every.due(e, 9)] == [3, 6]
    assert not any(Checkpointer(tmp_path / "e", lambda: "f", "off").due(e, 9) for e in range(1, 10))


def test_checkpoint_restores_optimizer_generators_and_global_rngs(tmp_path: Path):
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01, betas=(0.8, 0.9))
    model(torch.ones(4, 3)).sum().backward()
    optimizer.step()
    generator = torch.Generator().manual_seed(5)
    state = {"model": model, "optimizer": optimizer, "generator": generator}
    torch.manual_seed(3)
    np.random.seed(4)
    random.seed(5)
    ckpt = Checkpointer(tmp_path / "c.safetensors", lambda: "f", 1)
    ckpt.save(1, state, [0.25])
    expected = (torch.rand(3), np.random.rand(3), random.random(), torch.randn(2, generator=generator),
                copy.deepcopy(optimizer.state_dict()), weights(model))

    fresh = torch.nn.Linear(3, 2)
    fresh_opt = torch.optim.Adam(fresh.parameters(), lr=0.5)
    fresh_gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    assert ckpt.load({"model": fresh, "optimizer": fresh_opt, "generator": fresh_gen}) == (1, [0.25], "")
    assert torch.equal(torch.rand(3), expected[0]) and np.array_equal(np.random.rand(3), expected[1])
    assert random.random() == expected[2] and torch.equal(torch.randn(2, generator=fresh_gen), expected[3])
    restored = fresh_opt.state_dict()
    assert restored["param_groups"] == expected[4]["param_groups"]  # lr, betas as a tuple, ...
    assert all(torch.equal(restored["state"][0][k], expected[4]["state"][0][k]) for k in expected[4]["state"][0])
    assert weights(fresh) == expected[5]
    assert list(tmp_path.iterdir()) == [tmp_path / "c.safetensors"]  # written atomically: no temporaries


def test_a_damaged_checkpoint_is_ignored(tmp_path: Path):
    path = tmp_path / "c.safetensors"
    path.write_bytes(b"not a checkpoint")
    ckpt = Checkpointer(path, lambda: "f", 1)
    assert ckpt.load({"generator": torch.Generator()}) is None and ckpt.ignored.startswith("unreadable")


def test_checkpoints_are_removed_per_stage_and_for_stages_no_longer_stale(tmp_path: Path):
    for stage in ("train", "retrain@1", "unlearn@scrub"):
        (tmp_path / ".muaudit/checkpoints" / stage).mkdir(parents=True)
        (tmp_path / ".muaudit/checkpoints" / stage / "loop0.safetensors").write_bytes(b"x")
    remove_checkpoints(tmp_path, ["train"])
    assert remove_checkpoints_except(tmp_path, ["unlearn@scrub"]) == ["retrain@1"]
    assert sorted(p.name for p in (tmp_path / ".muaudit/checkpoints").iterdir()) == ["unlearn@scrub"]


def test_stage_hooks_report_each_epoch_to_the_progress_file(digits, tmp_path: Path):
    from muaudit.runner.progress import ProgressWriter

    hooks = Hooks(tmp_path)
    hooks.progress = ProgressWriter(tmp_path / "train.jsonl")
    fit(digits, hooks)
    events = [json.loads(line) for line in (tmp_path / "train.jsonl").read_text().splitlines()]
    assert [(e["event"], e["epoch"], e["epochs"]) for e in events] == [("epoch", e, 4) for e in range(1, 5)]
    assert all(e["loss"] > 0 and e["elapsed_s"] >= 0 for e in events)


def checkpoint_epoch(path: Path) -> int:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        return json.loads(fh.metadata()["muaudit.checkpoint"])["epoch"]


@pytest.mark.slow
def test_a_killed_train_stage_resumes_and_writes_the_uninterrupted_bytes(tmp_path: Path):
    """A real SIGKILL of `python -m tasks.train` (as dvc repro runs it) once a checkpoint exists."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from conftest import make_workspace

    epochs = 15
    ws = make_workspace(tmp_path / "ws", {"train": {"epochs": epochs}, "runtime": {"checkpoint_every": 1}})
    env = {**os.environ, "MUAUDIT_NO_TRACKING": "1"}

    def stage(*args: str, **kw):
        return subprocess.run([sys.executable, "-m", *args], cwd=ws, env=env, capture_output=True, text=True,
                              timeout=600, **kw)

    assert stage("tasks.split", "--out", "data/split").returncode == 0
    ref = stage("tasks.train", "--split", "data/split", "--out", "data/models/reference")
    assert ref.returncode == 0, ref.stderr

    checkpoint = ws / ".muaudit/checkpoints/train/loop0.safetensors"
    proc = subprocess.Popen([sys.executable, "-m", "tasks.train", "--split", "data/split", "--out",
                             "data/models/original"], cwd=ws, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 600
    while not (checkpoint.exists() and checkpoint_epoch(checkpoint) >= 2):
        assert proc.poll() is None, "the stage ended before a checkpoint was seen"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    killed_at = checkpoint_epoch(checkpoint)
    assert not (ws / "data/models/original").exists()

    rerun = stage("tasks.train", "--split", "data/split", "--out", "data/models/original")
    assert rerun.returncode == 0, rerun.stderr
    resumed = int(rerun.stdout.split("resumed from the checkpoint after epoch ")[1].split()[0])
    assert 2 <= killed_at <= resumed < epochs
    for name in ("model.safetensors", "model.json"):
        assert (ws / "data/models/original" / name).read_bytes() == (ws / "data/models/reference" / name).read_bytes()
    assert not checkpoint.parent.exists()  # `dvc repro` records the stage when it exits 0: its checkpoints go
