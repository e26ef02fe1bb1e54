"""The statistics of the verdict: test scales, the predictive t test, effect sizes with intervals, and the
multiple-testing corrections. Pure functions of numbers; docs/verdict.md explains the choices.

Predictive t test. K reference values with mean m and standard deviation s (floored, see `spread`); a new
value v exchangeable with them gives T = (v − m) / (s √(1 + 1/K)) ~ t with K − 1 degrees of freedom (exact
for normal values, and for values "common term + i.i.d. normal", which is what the K + 1 construction of
muaudit/metrics/band.py produces for pairwise metrics). The critical value of a fixed level falls as K
grows, so power never falls with more retrain seeds.
"""

from __future__ import annotations

import math

import numpy as np

SCALES = ("identity", "fisher_z", "log", "logit")
CLIP = 1e-9  # keeps Fisher-z and logit finite at the edges of their range (CKA = 1, accuracy 0 or 1)
TINY = 1e-12  # log of a zero distance


def transform(values, scale: str) -> np.ndarray:
    """Values on the scale on which the test is run (declared per metric in the registry)."""
    x = np.asarray(values, dtype=np.float64)
    if scale == "identity":
        return x
    if scale == "fisher_z":
        return np.arctanh(np.clip(x, -1 + CLIP, 1 - CLIP))
    if scale == "log":
        return np.log(np.maximum(x, TINY))
    if scale == "logit":
        p = np.clip(x, CLIP, 1 - CLIP)
        return np.log(p / (1 - p))
    raise ValueError(f"unknown test scale '{scale}'; expected one of {', '.join(SCALES)}")


def inverse(z, scale: str) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    if scale == "identity":
        return z
    if scale == "fisher_z":
        return np.tanh(z)
    if scale == "log":
        return np.exp(z)
    if scale == "logit":
        return 1 / (1 + np.exp(-z))
    raise ValueError(f"unknown test scale '{scale}'")


def slope(raw: float, scale: str) -> float:
    """d transform / d value at raw: converts a floor in the metric's units into the test scale."""
    if scale == "identity":
        return 1.0
    if scale == "fisher_z":
        return 1.0 / max(1 - min(raw * raw, 1 - CLIP), CLIP)
    if scale == "log":
        return 1.0 / max(raw, TINY)
    p = min(max(raw, CLIP), 1 - CLIP)
    return 1.0 / (p * (1 - p))


def spread(ref_z: np.ndarray, floor_z: float) -> float:
    """The retrain-to-retrain standard deviation, never below the metric's floor (zero-spread bands)."""
    return max(float(np.std(ref_z, ddof=1)), floor_z)


def p_value(t: float, df: int, side: str) -> float:
    """P-value of the predictive t statistic; side: low (only small values are a discrepancy), high, both."""
    from scipy.stats import t as student

    if math.isnan(t):
        return math.nan
    if side == "low":
        return float(student.cdf(t, df))
    if side == "high":
        return float(student.sf(t, df))
    return float(min(1.0, 2 * student.sf(abs(t), df)))


def predictive_test(ref_z: np.ndarray, v_z: float, floor_z: float, side: str) -> tuple[float, float, float, float]:
    """(effect, ci_low, ci_high, p): effect = (v − m) / s in retrain standard deviations, its 95% interval
    from the noncentral t, and the predictive p-value. NaN anywhere gives NaN everywhere (fails closed)."""
    k = len(ref_z)
    if k < 2 or not np.all(np.isfinite(ref_z)) or not math.isfinite(v_z):
        return (math.nan,) * 4
    s = spread(ref_z, floor_z)
    diff = v_z - float(np.mean(ref_z))
    if s <= 0:  # no spread and no floor: equal is consistent, anything else is infinitely far
        if diff == 0:
            return 0.0, 0.0, 0.0, 1.0
        inf = math.copysign(math.inf, diff)
        return inf, inf, inf, (0.0 if side == "both" or (side == "low") == (diff < 0) else 1.0)
    effect = diff / s
    scale = math.sqrt(1 + 1 / k)
    lo, hi = effect_interval(effect / scale, k - 1)
    return effect, lo * scale, hi * scale, p_value(effect / scale, k - 1, side)


def effect_interval(t: float, df: int, level: float = 0.95) -> tuple[float, float]:
    """Confidence interval of the noncentrality δ of a noncentral t(df, δ) observed at t (test inversion)."""
    from scipy.optimize import brentq
    from scipy.stats import nct

    tail = (1 - level) / 2

    def solve(target: float) -> float:
        f = lambda d: float(nct.sf(t, df, d)) - target  # noqa: E731  increasing in d
        lo, hi = t - 10 - 2 * abs(t), t + 10 + 2 * abs(t)
        try:
            if f(lo) > 0 or f(hi) < 0:
                raise ValueError
            return brentq(f, lo, hi, xtol=1e-6)
        except (ValueError, RuntimeError):  # far tails the noncentral t cannot resolve: normal approximation
            from scipy.stats import norm

            z = norm.isf(target) if target < 0.5 else -norm.isf(1 - target)
            return t - z * math.sqrt(1 + t * t / (2 * df))

    return solve(tail), solve(1 - tail)


def bonferroni(ps: list[float]) -> float:
    """Family p-value: m × the smallest p (at most 1); NaN when any member is NaN (fails closed)."""
    if not ps:
        return 1.0
    if any(math.isnan(p) for p in ps):
        return math.nan
    return min(1.0, len(ps) * min(ps))


def holm(ps: dict[str, float]) -> dict[str, float]:
    """Holm step-down adjusted p-values (family-wise error under any dependence). NaN stays NaN."""
    finite = sorted((p, k) for k, p in ps.items() if not math.isnan(p))
    out = {k: math.nan for k, p in ps.items() if math.isnan(p)}
    m, running = len(finite), 0.0
    for i, (p, k) in enumerate(finite):
        running = max(running, min(1.0, (m - i) * p))
        out[k] = running
    return out


def benjamini_hochberg(ps: dict[str, float]) -> dict[str, float]:
    """BH q-values (false discovery rate under independence or positive dependence). NaN stays NaN."""
    finite = sorted((p, k) for k, p in ps.items() if not math.isnan(p))
    out = {k: math.nan for k, p in ps.items() if math.isnan(p)}
    m, running = len(finite), 1.0
    for i in range(m - 1, -1, -1):
        p, k = finite[i]
        running = min(running, p * m / (i + 1))
        out[k] = running
    return out


# The largest effect, in retrain standard deviations, that a rule must be able to detect in one quantity
# for its K to count as workable: a model 10 retrain standard deviations off in a quantity that a K this
# small cannot flag at alpha is a rule no user should run.
MAX_DETECTABLE_EFFECT = 10.0


def detectable_effect(k: int, alpha: float) -> float:
    """The effect (retrain sds) at which one two-sided quantity tested alone at alpha reaches p = alpha."""
    from scipy.stats import t as student

    if k < 2:
        return math.inf
    return float(student.isf(alpha / 2, k - 1) * math.sqrt(1 + 1 / k))


def smallest_k(alpha: float, limit: int = 1000) -> int:
    return next(k for k in range(2, limit) if detectable_effect(k, alpha) <= MAX_DETECTABLE_EFFECT)
