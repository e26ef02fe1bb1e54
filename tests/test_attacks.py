"""Known answers of the recovery attacks on synthetic data (muaudit/attacks/recovery.py) and their rows
(muaudit/metrics/attacks.py).

The synthetic world: four Gaussian classes in 10 dimensions; class 3 sits on class 0 except along the
last dimension, which no other class uses. A body is a bottleneck Linear(10, 2) + ReLU; weight decay
removes from a retrained body the direction it never needed, so only a model that saw class 3 keeps it.
The "holder" is the original with its class-3 logit lowered in the head alone, just enough that no
forget sample is predicted (forgotten at the output, still in the body).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from muaudit.attacks.recovery import head_bias, head_refit, relearn, split_forget
from muaudit.metrics.attacks import HeadRefitParams, RelearnParams, head_refit_metric, relearn_metric
from muaudit.training import accuracy, seeded_model, train_classifier

FORGET = 3


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(10, 2), nn.ReLU())
        self.head = nn.Linear(2, 4)

    def forward(self, x):
        return self.head(self.body(x))


def world(n_per_class: int = 60, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    means = torch.zeros(4, 10)
    means[0, 0], means[1, 1], means[2, 2], means[3, 0], means[3, 9] = 4.0, 4.0, 4.0, 4.0, 4.0
    y = torch.arange(4).repeat_interleave(n_per_class)
    x = means[y] + 0.5 * torch.randn(len(y), 10, generator=g)
    return x, y


def trained(x, y, seed: int) -> Net:
    net = seeded_model(Net, seed)
    return train_classifier(net, x, y, epochs=40, lr=0.05, batch_size=256, seed=seed, weight_decay=0.05)


@pytest.fixture(scope="module")
def models():
    x, y = world()
    keep = y != FORGET
    original = trained(x, y, 0)
    holder = seeded_model(Net, 0)
    holder.load_state_dict(original.state_dict())
    with torch.no_grad():
        z = original(x[y == FORGET])
        shift = float((z[:, FORGET] - z[:, :FORGET].max(1).values).max()) + 0.1
        holder.head.bias[FORGET] -= shift  # forgotten at the output only
    retrained = {s: trained(x[keep], y[keep], s) for s in (1, 2, 3)}
    forget = torch.nonzero(y == FORGET).flatten()
    att, ev = (torch.from_numpy(i) for i in split_forget(len(forget), 0.5, 0))
    return {"x": x, "y": y, "keep": keep, "att": forget[att], "ev": forget[ev], "original": original,
            "holder": holder, "shift": shift, **{f"retrain_{s}": m for s, m in retrained.items()}}


def _relearn(m, net, steps: int = 40):
    p = RelearnParams(steps=steps, lr=0.01, batch_size=8, eval_every=2, threshold=0.5, retain_per_batch=16)
    return relearn(net, m["x"][m["att"]], m["y"][m["att"]], m["x"][m["ev"]], m["y"][m["ev"]], optimizer=p.optimizer,
                   lr=p.lr, steps=p.steps, batch_size=p.batch_size, eval_every=p.eval_every, threshold=p.threshold,
                   seed=p.seed, x_retain=m["x"][m["keep"]], y_retain=m["y"][m["keep"]],
                   retain_per_batch=p.retain_per_batch)


@pytest.fixture(scope="module")
def relearned(models):
    return {name: _relearn(models, models[name]) for name in ("holder", "retrain_1", "retrain_2", "retrain_3")}


def _refit(m, net):
    x_train = torch.cat([m["x"][m["keep"]], m["x"][m["att"]]])
    y_train = torch.cat([m["y"][m["keep"]], m["y"][m["att"]]])
    return head_refit(net, x_train, y_train, m["x"][m["ev"]], m["y"][m["ev"]], lr=0.05, epochs=20, batch_size=64,
                      seed=0)


def test_split_forget_is_a_seeded_partition():
    att, ev = split_forget(11, 0.5, 3)
    assert sorted([*att, *ev]) == list(range(11)) and len(att) == 6 and not set(att) & set(ev)
    assert all(np.array_equal(a, b) for a, b in zip(split_forget(11, 0.5, 3), (att, ev), strict=True))
    assert not np.array_equal(split_forget(11, 0.5, 4)[0], att)
    assert [len(p) for p in split_forget(2, 0.99, 0)] == [1, 1]  # both parts keep a sample
    with pytest.raises(ValueError, match="at least 2"):
        split_forget(1, 0.5, 0)


def test_the_world_is_what_the_known_answers_assume(models):
    m = models
    x_f, y_f = m["x"][m["ev"]], m["y"][m["ev"]]
    assert accuracy(m["original"], x_f, y_f) > 0.9
    assert accuracy(m["holder"], x_f, y_f) == 0.0
    assert all(accuracy(m[f"retrain_{s}"], x_f, y_f) == 0.0 for s in (1, 2, 3))


def test_a_model_holding_the_forget_data_relearns_faster_than_retrained_ones(relearned):
    holder = relearned["holder"]
    retrained = [relearned[f"retrain_{s}"] for s in (1, 2, 3)]
    assert holder["curve"][0] == [0, 0.0]
    assert holder["steps_to_threshold"] is not None
    for r in retrained:  # a retrained model also relearns (in-distribution data), but later
        assert r["steps_to_threshold"] is None or r["steps_to_threshold"] >= 2 * holder["steps_to_threshold"]


def test_a_fresh_retrain_seed_relearns_like_the_other_seeds(relearned):
    steps = {s: relearned[f"retrain_{s}"]["steps_to_threshold"] for s in (1, 2, 3)}
    assert None not in steps.values()
    lo, hi = min(steps[1], steps[2]), max(steps[1], steps[2])
    width = max(4, hi - lo)  # the audit's band: range widened by its width, floored (two checkpoints)
    assert lo - width <= steps[3] <= hi + width


def test_relearn_is_deterministic_and_leaves_the_model_untouched(models):
    before = {k: v.clone() for k, v in models["holder"].state_dict().items()}
    assert _relearn(models, models["holder"], 6) == _relearn(models, models["holder"], 6)
    assert all(torch.equal(before[k], v) for k, v in models["holder"].state_dict().items())


def test_head_refit_recovers_from_a_body_that_kept_the_class_and_not_from_retrained_ones(models):
    holder = _refit(models, models["holder"])
    retrained = [_refit(models, models[f"retrain_{s}"]) for s in (1, 2, 3)]
    assert holder > 0.9
    assert max(retrained) < holder - 0.3


def test_head_bias_shows_a_forgetting_done_in_the_head(models):
    holder, original = head_bias(models["holder"], [FORGET]), head_bias(models["original"], [FORGET])
    assert holder["bias_gap"] == pytest.approx(original["bias_gap"] - models["shift"], abs=1e-5)
    assert holder["norm_ratio"] == pytest.approx(original["norm_ratio"])


class _Ctx:
    def __init__(self, results, scenario="class"):
        self.models, self.scenario, self._results = list(results), scenario, results

    def attack(self, model, name):
        return self._results[model][name]


def test_rows_carry_the_attack_results_and_a_censored_relearn_time():
    res = {"a": {"relearn": {"curve": [[0, 0.0], [2, 0.6]], "accuracy": 0.6, "steps_to_threshold": 2},
                 "head_refit": {"accuracy": 0.8, "bias": {"bias_gap": -3.0, "norm_ratio": 1.1}}},
           "b": {"relearn": {"curve": [[0, 0.0], [2, 0.1]], "accuracy": 0.1, "steps_to_threshold": None},
                 "head_refit": {"accuracy": 0.2, "bias": None}}}
    p = RelearnParams(steps=2, eval_every=2)
    rows = {(r["model"], r["layer"], r["metric"]): r for r in relearn_metric(_Ctx(res), p)}
    assert rows[("a", "attack", "relearn_steps")]["value"] == 2.0
    assert rows[("b", "attack", "relearn_steps")]["value"] == 4.0  # beyond the budget, never NaN
    assert rows[("b", "attack", "relearn_steps")]["label"] == "not-reached"
    assert rows[("a", "step=00002", "relearn_curve")]["value"] == 0.6
    refit = {(r["model"], r["metric"]): r["value"] for r in head_refit_metric(_Ctx(res), HeadRefitParams())}
    assert refit[("a", "head_refit")] == 0.8 and refit[("a", "head_bias_gap")] == -3.0
    assert ("b", "head_bias_gap") not in refit
