"""Linear-probe recoverability of the forgotten information from frozen features, cross-fitted.

Probe: StandardScaler + L2 logistic regression (lbfgs, multinomial, C = `probe_C`, `max_iter`), fit on
the frozen layer features; the scaler is fit on the probe's training samples only. Capacity is fixed, so
the same probe on the retrained models gives the band.

- class scenario, row metric `probe` (role forget): "are the forgotten classes still linearly decodable?"
  The forget set is split into `folds` stratified folds (seeded). For fold f the probe's fit pool is all
  test samples plus the forget samples outside f; every class of the pool is subsampled (seeded) to the
  size of its smallest class, so each fit sees *equal samples per class*. (Without this the forgotten class
  has about 4x the samples of any other class in the pool, and the probe decodes it from the prior alone:
  every model, retrained or not, scores near 1.) The probe scores label accuracy on fold f; the value is
  the accuracy over all forget samples. Fit and score never share a sample. Retain is left out of the fit
  because the unlearned models were fit on it.
- random scenario, row metric `probe` (role forget): membership probe, forget (1) vs test (0), the larger
  side subsampled (seeded) to the smaller; binary probe, stratified k-fold; the value is the AUC of the
  out-of-fold decision scores (each sample scored by the probe that did not see it). 0.5 = chance.
Both are repeated `repeats` times with seeds seed, seed + 1, ... (new folds, new subsamples) and averaged,
so one unlucky split does not decide. Higher = more recoverable; judged on both sides of the band (lower
than retraining = features destroyed).
"""

from __future__ import annotations

import warnings

import numpy as np
from pydantic import Field

from muaudit.metrics.output import auc
from muaudit.metrics.registry import Judge, MetricParams, register_metric
from muaudit.metrics.table import row


class ProbeParams(MetricParams):
    probe_C: float = 0.1  # L2 strength; fixed so every model gets the same probe capacity
    folds: int = 5
    max_iter: int = 200
    seed: int = 0
    repeats: int = Field(3, ge=1)  # seeded repeats of the whole cross-fit, averaged

    def min_forget(self) -> int:
        return self.folds  # each fold scores at least one forget sample


def _probe(p: ProbeParams):
    # scikit-learn is imported where used, as in metrics/output.py: validating the metrics block imports this.
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=p.probe_C, max_iter=p.max_iter))


def _folds(y: np.ndarray, p: ProbeParams, seed: int):
    from sklearn.model_selection import StratifiedKFold

    k = int(min(p.folds, np.bincount(y).max()))
    # classes with fewer samples than folds are allowed: StratifiedKFold warns, splits them as it can
    return StratifiedKFold(n_splits=max(k, 2), shuffle=True, random_state=seed).split(np.zeros(len(y)), y)


def balanced(idx: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """idx with every class subsampled to the size of its smallest class, sorted."""
    classes, counts = np.unique(y[idx], return_counts=True)
    n = counts.min()
    return np.sort(np.concatenate([rng.choice(idx[y[idx] == c], n, replace=False) for c in classes]))


def class_probe_accuracy(x: np.ndarray, y: np.ndarray, forget: np.ndarray, heldout: np.ndarray, p: ProbeParams,
                         seed: int | None = None) -> float:
    """Cross-fitted accuracy on the forget samples of a class-balanced probe fit on held-out + other forget folds."""
    seed = p.seed if seed is None else seed
    rng = np.random.default_rng(seed)
    correct = np.zeros(len(forget), bool)
    for fit_f, score_f in _folds(y[forget], p, seed):
        fit = balanced(np.concatenate([heldout, forget[fit_f]]), y, rng)
        clf = _probe(p).fit(x[fit], y[fit])
        correct[score_f] = clf.predict(x[forget[score_f]]) == y[forget[score_f]]
    return float(correct.mean())


def membership_probe_auc(x_pos: np.ndarray, x_neg: np.ndarray, p: ProbeParams, seed: int | None = None) -> float:
    """Out-of-fold AUC of a linear probe separating x_pos (members) from x_neg, balanced by subsampling."""
    seed = p.seed if seed is None else seed
    rng = np.random.default_rng(seed)
    n = min(len(x_pos), len(x_neg))
    xp = x_pos[np.sort(rng.choice(len(x_pos), n, replace=False))]
    xn = x_neg[np.sort(rng.choice(len(x_neg), n, replace=False))]
    x, y = np.concatenate([xp, xn]), np.r_[np.ones(n, int), np.zeros(n, int)]
    score = np.zeros(2 * n)
    for fit, test in _folds(y, p, seed):
        score[test] = _probe(p).fit(x[fit], y[fit]).decision_function(x[test])
    return auc(score[y == 1], score[y == 0])


# floor: half a percentage point of accuracy/AUC, for seeds that all decode the forget set perfectly
@register_metric("probe", judge={"probe": Judge("both", floor=0.005)}, scope="representation", params=ProbeParams,
                 roles=("forget",), scale="fraction")
def probe_metric(ctx, params: ProbeParams) -> list[dict]:
    """Cross-fitted linear-probe recoverability on the forget set (class labels or membership)."""
    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_limits

    rows = []
    forget, test = ctx.role_index["forget"], ctx.role_index["test"]
    # One BLAS thread: the fits are small (n ~ 500, d <= 512), and thread start-up dominated (3-10x slower).
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)  # StratifiedKFold on tiny classes
        for layer in ctx.layers:
            for m in ctx.models:
                x = ctx.raw(m, layer).astype(np.float64)  # one model's layer at a time
                seeds = range(params.seed, params.seed + params.repeats)
                if ctx.scenario == "class":
                    v = np.mean([class_probe_accuracy(x, ctx.labels, forget, test, params, s) for s in seeds])
                else:
                    v = np.mean([membership_probe_auc(x[forget], x[test], params, s) for s in seeds])
                rows.append(row(m, "", layer, "forget", "probe", v))
    return rows
