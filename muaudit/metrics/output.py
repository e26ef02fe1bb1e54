"""Output-level metrics, all from the stored logits.

- `accuracy` (layer "logits", role r): accuracy on r; `ua` = 1 − forget accuracy (UA of Jia et al.).
- `mia_efficacy` (role forget): the SalUn / Unlearn-Sparse MIA-Efficacy with the `confidence` feature.
  Protocol: feature = softmax probability of the true label p_y; members = |D_t| retain samples drawn
  without replacement by a numpy Generator seeded with `metrics.mia_efficacy.seed` (all retain if fewer),
  label 1; non-members = all test samples, label 0; scikit-learn SVC(C=3, gamma="auto", RBF) fit on
  these; score = fraction of forget samples predicted non-member (TN/|D_f|). The fit (retain, test) and
  the scored set (forget) are disjoint, so no sample is scored by a model that saw it. Higher = forget
  looks less like training data; the target is the retrain value, not 1.
- `loss_auc` (role forget): AUC of the per-example cross-entropy as a membership score, forget (members)
  vs test (non-members): P(loss_test > loss_forget), ties 1/2; 0.5 = indistinguishable. `loss_auc_gap`
  (reference "retrain_mean") = |AUC − mean AUC of the retrain seeds| (leave-one-out for a retrain seed).
- `agreement` (reference = a retrain seed, roles forget/test): share of samples with the same argmax.
- `kl` (reference "ensemble", roles forget/retain/test): mean over samples of KL(p̄_R ‖ p_model), p̄_R =
  mean of the retrain softmaxes (the other seeds for a retrain seed).
- `avg_gap` (reference "retrain_mean", role ""): mean of |v − v̄_R| over UA, RA, TA, MIA-efficacy, as
  fractions; v̄_R = mean over the retrain seeds (leave-one-out for a retrain seed).
"""

from __future__ import annotations

import numpy as np

from muaudit.metrics.registry import Judge, MetricParams, register_metric
from muaudit.metrics.table import row

EPS = 1e-12  # floor on probabilities inside logs; float64 softmax can underflow to 0
# Floors in the metrics' units: half a percentage point for shares of samples. In the class scenario every
# retrained model has forget accuracy exactly 0, and the floor is what a judged model is measured against.
SHARE_FLOOR = 0.005


class MiaParams(MetricParams):
    C: float = 3.0
    gamma: str = "auto"
    seed: int = 0  # draws the retain members


def _true_prob(ctx, model: str) -> np.ndarray:
    return ctx.probs(model)[np.arange(len(ctx.labels)), ctx.labels]


def accuracies(ctx, model: str) -> dict[str, float]:
    pred = ctx.probs(model).argmax(1)
    return {r: float(np.mean(pred[idx] == ctx.labels[idx])) for r, idx in ctx.role_index.items()}


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """P(score_pos > score_neg) + ½P(tie), by ranks (Mann-Whitney U)."""
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    # scipy and scikit-learn are imported where used: `muaudit run` imports this module to validate the
    # metrics block, and their import (2 s) is not worth paying for that.
    from scipy.stats import rankdata

    ranks = rankdata(np.concatenate([pos, neg]))
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def mia_efficacy(ctx, model: str, p: MiaParams | None = None) -> float:
    p = p or MiaParams()
    conf = _true_prob(ctx, model)
    idx = ctx.role_index
    rng = np.random.default_rng(p.seed)
    members = idx["retain"] if len(idx["retain"]) <= len(idx["test"]) else \
        np.sort(rng.choice(idx["retain"], len(idx["test"]), replace=False))
    x = np.concatenate([conf[members], conf[idx["test"]]])[:, None]
    y = np.r_[np.ones(len(members)), np.zeros(len(idx["test"]))]
    from sklearn.svm import SVC

    svc = SVC(C=p.C, kernel="rbf", gamma=p.gamma).fit(x, y)
    return float(np.mean(svc.predict(conf[idx["forget"]][:, None]) == 0))


def loss_auc(ctx, model: str) -> float:
    loss = -np.log(np.maximum(_true_prob(ctx, model), EPS))
    # members have low loss: score = −loss, members = forget
    return auc(-loss[ctx.role_index["forget"]], -loss[ctx.role_index["test"]])


def _gap(values: dict[str, float], model: str, retrain_ids: list[str]) -> float:
    ref = [values[r] for r in retrain_ids if r != model and r in values]
    return abs(values[model] - float(np.mean(ref))) if ref else float("nan")


@register_metric("accuracy", judge={"accuracy": Judge("both", floor=SHARE_FLOOR, forgets="low", title="accuracy"),
                                   "ua": Judge("both", floor=SHARE_FLOOR, forgets="high", title="UA")}, scope="output")
def accuracy_metric(ctx, params) -> list[dict]:
    """Accuracy on forget/retain/test from the logits, and UA = 1 − forget accuracy."""
    rows = []
    for m in ctx.models:
        acc = accuracies(ctx, m)
        rows += [row(m, "", "logits", r, "accuracy", v) for r, v in acc.items()]
        rows.append(row(m, "", "logits", "forget", "ua", 1.0 - acc["forget"]))
    return rows


@register_metric("mia_efficacy", judge={"mia_efficacy": Judge("both", floor=SHARE_FLOOR, forgets="high", title="MIA-efficacy")},
                 scope="output", params=MiaParams)
def mia_metric(ctx, params: MiaParams) -> list[dict]:
    """SalUn MIA-Efficacy: confidence SVC fit on retain vs test, fraction of forget predicted non-member."""
    return [row(m, "", "logits", "forget", "mia_efficacy", mia_efficacy(ctx, m, params)) for m in ctx.models]


@register_metric("loss_auc", judge={"loss_auc": Judge("both", floor=SHARE_FLOOR, title="loss AUC"),
                                   "loss_auc_gap": Judge("high", floor=SHARE_FLOOR, title="loss-AUC gap")}, scope="output")
def loss_auc_metric(ctx, params) -> list[dict]:
    """Loss-threshold membership AUC, forget vs test, and its gap to the retrain mean."""
    vals = {m: loss_auc(ctx, m) for m in ctx.models}
    rows = [row(m, "", "logits", "forget", "loss_auc", v) for m, v in vals.items()]
    rows += [row(m, "retrain_mean", "logits", "forget", "loss_auc_gap", _gap(vals, m, ctx.retrain_ids)) for m in vals]
    return rows


@register_metric("agreement", judge={"agreement": Judge("low", "fisher_z", floor=SHARE_FLOOR, title="agreement")}, scope="output")
def agreement_metric(ctx, params) -> list[dict]:
    """Share of forget/test samples on which the model and a retrain seed predict the same class."""
    rows = []
    for m, r in ctx.pairs():
        same = ctx.probs(m).argmax(1) == ctx.probs(r).argmax(1)
        rows += [row(m, r, "logits", role, "agreement", float(np.mean(same[ctx.role_index[role]])))
                 for role in ("forget", "test")]
    return rows


@register_metric("kl", judge={"kl": Judge("high", "log", floor=0.001, title="KL (nats)")}, scope="output")
def kl_metric(ctx, params) -> list[dict]:
    """Mean KL(retrain ensemble ‖ model) of the output distributions, per role."""
    rows = []
    for m in ctx.models:
        ens = np.mean([ctx.probs(r) for r in ctx.others(m)], axis=0)
        p = ctx.probs(m)
        kl = np.sum(ens * (np.log(np.maximum(ens, EPS)) - np.log(np.maximum(p, EPS))), axis=1)
        rows += [row(m, "ensemble", "logits", r, "kl", float(kl[idx].mean())) for r, idx in ctx.role_index.items()]
    return rows


@register_metric("avg_gap", judge={"avg_gap": Judge("high", floor=SHARE_FLOOR, title="Avg. Gap")}, scope="output", params=MiaParams)
def avg_gap_metric(ctx, params: MiaParams) -> list[dict]:
    """SalUn Avg. Gap: mean |v − v̄_retrain| over UA, RA, TA and MIA-efficacy."""
    per = {m: {**accuracies(ctx, m), "mia": mia_efficacy(ctx, m, params)} for m in ctx.models}
    per = {m: {"ua": 1 - v["forget"], "ra": v["retain"], "ta": v["test"], "mia": v["mia"]} for m, v in per.items()}
    rows = []
    for m in per:
        gaps = [_gap({k: per[k][q] for k in per}, m, ctx.retrain_ids) for q in ("ua", "ra", "ta", "mia")]
        rows.append(row(m, "retrain_mean", "logits", "", "avg_gap", float(np.mean(gaps))))
    return rows
