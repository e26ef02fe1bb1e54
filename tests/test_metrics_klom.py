"""Known answers of `klom` (muaudit/metrics/klom.py) on synthetic logits."""

from __future__ import annotations

import numpy as np
import pytest

from muaudit.metrics.context import ArrayStore, Context
from muaudit.metrics.klom import KlomParams, gaussian_kl, klom_metric, margins, one_sided

N = 400


def _ctx(shifts: dict[str, float], seed: int = 0) -> Context:
    """Two-class logits [0, z]: margin of label 1 = z; each model draws z_i = base_i + shift + noise."""
    rng = np.random.default_rng(seed)
    base = rng.normal(0, 2, N)
    acts = {}
    for m, shift in shifts.items():
        z = base + shift + rng.normal(0, 1, N)
        acts[m] = {"logits": np.stack([np.zeros(N), z], 1).astype(np.float32)}
    ids = np.array([f"s{i}" for i in range(N)])
    store = ArrayStore(ids, np.array(["forget"] * N), np.ones(N, dtype=np.int64), acts)
    retrain = [m for m in shifts if m.startswith("retrain_")]
    return Context(store, list(shifts), retrain, "random")


def _values(rows, model):
    return {r["metric"]: (r["value"], r["label"]) for r in rows if r["model"] == model}


def test_margin_is_true_logit_minus_best_other():
    assert margins(np.array([[1.0, 3.0, 2.0]]), np.array([1])).tolist() == [1.0]
    assert margins(np.array([[1.0, 3.0, 2.0]]), np.array([0])).tolist() == [-2.0]


def test_gaussian_kl_is_zero_for_equal_and_grows_with_the_gap():
    one = np.ones(1)
    assert gaussian_kl(0 * one, one, 0 * one, one)[0] == pytest.approx(0)
    assert gaussian_kl(2 * one, one, 0 * one, one)[0] == pytest.approx(2.0)  # (Δμ)²/2σ²


def test_one_sided_fallback_flags_a_member_like_model_and_not_a_fresh_seed():
    retrain = {f"retrain_{k}": 0.0 for k in range(1, 6)}
    rows = klom_metric(_ctx({**retrain, "retrain_9": 0.0, "holder": 4.0}), KlomParams())
    fresh, holder = _values(rows, "retrain_9"), _values(rows, "holder")
    assert fresh["klom_q50"][1] == "one-sided"  # one seed: says so in the label, and is a number
    assert holder["klom_q50"][0] > 3 * fresh["klom_q50"][0]
    assert all(np.isfinite(v) for v, _ in holder.values())
    assert one_sided(np.array([100.0]), np.zeros(1), np.ones(1))[0] == pytest.approx(300)  # floored, not inf


def test_several_method_seeds_give_the_two_sample_kl():
    retrain = {f"retrain_{k}": 0.0 for k in range(1, 6)}
    ok = {"good": 0.0, "good_s1": 0.0, "good_s2": 0.0}
    bad = {"bad": 3.0, "bad_s1": 3.0, "bad_s2": 3.0}
    rows = klom_metric(_ctx({**retrain, **ok, **bad}), KlomParams())
    good, worse = _values(rows, "good"), _values(rows, "bad")
    assert good["klom_q50"][1] == "kl" and not _values(rows, "good_s1")  # extra seeds judged with their family
    assert worse["klom_q50"][0] > 5 * good["klom_q50"][0]
    assert good["klom_q50"][0] <= good["klom_q90"][0] <= good["klom_q99"][0]


def test_two_sample_band_holds_the_methods_statistic_and_needs_enough_retrain_seeds():
    retrain = {f"retrain_{k}": 0.0 for k in range(1, 7)}
    ok = {"good": 0.0, "good_s1": 0.0, "good_s2": 0.0}
    bad = {"bad": 3.0, "bad_s1": 3.0, "bad_s2": 3.0}
    rows = klom_metric(_ctx({**retrain, **ok, **bad, "original": 3.0}), KlomParams())
    band = [_values(rows, r)["klom_q50"] for r in retrain]
    assert {how for _, how in band} == {"kl"}  # the band is made of the same two-sample statistic
    top = max(v for v, _ in band)
    assert _values(rows, "good")["klom_q50"][0] <= top < _values(rows, "bad")["klom_q50"][0]
    assert _values(rows, "original")["klom_q50"][1] == "kl-one-seed"
    # 3 retrain seeds cannot hold a family of 3 and a reference of 2: one-sided for every model, said in the label
    few = {f"retrain_{k}": 0.0 for k in range(1, 4)}
    rows = klom_metric(_ctx({**few, **ok}), KlomParams())
    assert {r["label"] for r in rows} == {"one-sided"} and _values(rows, "good")
