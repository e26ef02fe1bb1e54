"""Extra method seeds (unlearn.extra_seeds, issue 16): params, the stages they expand to, the seed reaching
each method's randomness, and a tiny audit whose klom rows take the two-sample path."""

from __future__ import annotations

import copy
import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from muaudit.config import parse_params
from muaudit.data import get_dataset
from muaudit.errors import BadInputError
from muaudit.methods import UnlearnContext, registry
from muaudit.models import build_model
from muaudit.runner import dvc_adapter
from muaudit.runtime import configure
from muaudit.training import seeded_model, train_classifier
from tests.conftest import BIN, TINY, make_workspace

SEEDS = {"unlearn": {"extra_seeds": [1, 2]}}


@pytest.mark.parametrize(("seeds", "message"), [
    ([0, 1], r"unlearn.extra_seeds: \[0, 1\] holds a seed below 1"),
    ([1, 1], r"unlearn.extra_seeds: \[1, 1\] repeats a seed"),
    ("two", r"unlearn.extra_seeds: Input should be a valid list"),
])
def test_bad_extra_seeds_fail_in_one_line_naming_the_key(seeds, message):
    with pytest.raises(BadInputError, match=message) as err:
        parse_params({"unlearn": {"extra_seeds": seeds}}, registries=False)
    assert "\n" not in str(err.value)


def test_extra_seeds_must_keep_heldout_retrain_out_of_the_band_and_not_rename_a_method():
    with pytest.raises(BadInputError, match=r"unlearn.extra_seeds: 1 makes heldout_retrain train with seed 12"):
        parse_params({"retrain": {"seeds": [1, 2, 12]}, "unlearn": {"methods": ["heldout_retrain"], "extra_seeds": [1]}})
    parse_params({"retrain": {"seeds": [1, 2, 12]}, "unlearn": {"methods": ["heldout_retrain"], "extra_seeds": [3]}})
    with pytest.raises(BadInputError, match=r"unlearn.methods: 'a_s1' is also the name of a method's seed run"):
        parse_params({"unlearn": {"methods": ["a", "a_s1"], "extra_seeds": [1]}}, registries=False)
    assert parse_params({}).unlearn.extra_seeds == []  # default: one seed per method


def test_extra_seeds_expand_to_their_own_stages_and_the_default_adds_none(tmp_path: Path):
    default = dvc_adapter.graph(make_workspace(tmp_path / "one", TINY))
    assert not [s for s in default.order if "seed" in s]
    seeded = dvc_adapter.graph(make_workspace(tmp_path / "three", {**TINY, "unlearn": {**TINY["unlearn"], **SEEDS["unlearn"]}}))
    extra = sorted(set(seeded.order) - set(default.order))
    assert extra == sorted(f"{kind}@{m}-{k}" for kind in ("unlearn_seed", "extract_unlearn_seed", "attack_unlearn_seed")
                           for m in TINY["unlearn"]["methods"] for k in (1, 2))
    assert "--seed 2" in seeded.cmds["unlearn_seed@finetune-2"] and "finetune_s2" in seeded.cmds["unlearn_seed@finetune-2"]
    assert "unlearn_seed@finetune-2" in seeded.depends_on["extract_unlearn_seed@finetune-2"]
    assert {"extract_unlearn_seed@finetune-2", "attack_unlearn_seed@finetune-2"} <= set(seeded.depends_on["metrics"])


@pytest.fixture(scope="module")
def make_ctx():
    configure(threads=1)
    data = get_dataset("digits")
    x, y = torch.from_numpy(data.x[:300]), torch.from_numpy(data.y[:300])
    forget = y == 3

    def build():
        return build_model("small_cnn", data.x.shape[1:], 10)

    original = train_classifier(seeded_model(build, 0), x, y, epochs=2, lr=3e-3, batch_size=64, seed=0)

    def make(seed: int) -> UnlearnContext:
        return UnlearnContext(
            original=copy.deepcopy(original).requires_grad_(False),
            model=seeded_model(lambda: copy.deepcopy(original), seed).requires_grad_(True),
            x_forget=x[forget], y_forget=y[forget], x_retain=x[~forget], y_retain=y[~forget], num_classes=10,
            scenario="class", forget_classes=(3,), seed=seed, build_model=build)

    return make


@pytest.mark.parametrize(("method", "params"), [
    ("finetune", {"epochs": 1}),               # batch order
    ("random_labels", {"epochs": 1}),          # random labels
    ("fisher_forgetting", {}),                 # noise
    ("head_only", {"epochs": 1}),              # a new head's initial weights
    ("heldout_retrain", {"epochs": 1}),        # heldout_retrain.seed + the method seed
])
def test_the_method_seed_changes_the_methods_randomness(make_ctx, method, params):
    spec = registry.get(method)
    p = spec.parse_params(params, key=f"unlearn.{method}")
    own, again, other = (spec.fn(make_ctx(s), p).state_dict() for s in (0, 0, 1))
    assert all(torch.equal(v, again[k]) for k, v in own.items())  # seeded: the same seed, the same model
    assert any(not torch.equal(v, other[k]) for k, v in own.items())


@pytest.mark.slow
def test_two_method_seeds_give_two_sample_klom_rows_for_every_method(tmp_path: Path):
    # two seeds per method: the two-sample band needs 2 + 2 retrain seeds (muaudit/metrics/klom.py)
    ws = make_workspace(tmp_path / "ws", {**TINY, "retrain": {"seeds": [1, 2, 3, 4]},
                                          "unlearn": {**TINY["unlearn"], "extra_seeds": [1]},
                                          "metrics": {"enabled": ["accuracy", "klom"]}})
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "MUAUDIT_NO_TRACKING": "1"}
    done = subprocess.run([str(BIN / "dvc"), "repro", "-q"], cwd=ws, capture_output=True, text=True, env=env,
                          timeout=1500)
    assert done.returncode == 0, done.stderr[-2000:]
    table = pd.read_parquet(ws / "data/metrics/metrics.parquet")
    methods = TINY["unlearn"]["methods"]
    # the KLoM values (the "band" rows beside them carry the verdict's effect and p, unlabelled)
    klom = table[table.metric.str.startswith("klom_q") & table.model.isin(methods) & (table.reference != "band")]
    assert set(klom.model) == set(methods) and set(klom.label) == {"kl"}  # two-sample for every method
    assert not table[table.metric.str.startswith("klom_q") & table.model.str.contains("_s1")].size
    for m in methods:  # the seed run is its own model, trained with other randomness
        own, seeded = (load_file(next((ws / "data/models" / d).glob("*.safetensors"))) for d in (m, f"{m}_s1"))
        assert any(not torch.equal(v, seeded[k]) for k, v in own.items())
    report = (ws / "data/report/report.md").read_text()
    assert "## Method seeds" in report and all(f"**{m}**: " in report.split("## Method seeds")[1] for m in methods)
