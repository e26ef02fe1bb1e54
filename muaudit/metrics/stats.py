"""The statistics of the verdict: test scales, the predictive t test, effect sizes with intervals, and the
multiple-testing corrections. Pure functions of numbers; docs/verdict.md explains the choices.

Predictive t test. K reference values with mean m and standard deviation s (floored, see `spread`); a new
value v exchangeable with them gives T = (v − m) / (s √(1 + 1/K)) ~ t with K − 1 degrees of freedom (exact
for normal values, and for values "common term + i.i.d. normal", which is what the K + 1 construction of
muaudit/metrics/band.py produces for pairwise metrics). Retrained models' representations are not normal
across seeds (they fall into modes, and the values have heavy tails; docs/verdict.md has the measurement),
so the verdict refers T to its distribution when the seeds are Student-t(tail_df) draws: T is still
pivotal, and its tail is computed once per (K, tail_df) (`_null_table`). Its critical value at a fixed
level falls as K grows, so power does not fall with more seeds.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import math

import numpy as np

from muaudit.errors import MuauditError
from muaudit.io import atomic_write, cache_dir

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


NULL_DRAWS = 20000  # reference sets drawn per (K, tail_df) for the heavy-tailed null; fixed seed, so p is a pure function
GRID = np.concatenate([np.linspace(0.0, 10.0, 201), np.geomspace(10.0, 1e4, 200)[1:]])  # t values of the null table


NULL_VERSION = 1  # part of the cache key: change it when _simulate_null changes


@functools.lru_cache(maxsize=256)
def _null_table(k: int, tail_df: float) -> np.ndarray:
    """ln P(T ≥ t) on GRID when the K + 1 values are Student-t(tail_df) draws (location and scale free).

    A pure function of (k, tail_df) that takes 1.5 s; every process that loads the params (the audit's checks,
    each stage) needs it, so the table is kept on disk per machine (muaudit.io.cache_dir) under a key that
    names everything it depends on: read back bit for bit, or recomputed when missing or unreadable."""
    import scipy

    key = hashlib.sha256(f"{NULL_VERSION}|{k}|{tail_df!r}|{NULL_DRAWS}|{np.__version__}|{scipy.__version__}".encode()
                         + GRID.tobytes()).hexdigest()[:24]
    path = cache_dir() / "null-tables" / f"k{k}-df{tail_df:g}-{key}.npy"
    try:
        table = np.load(path, allow_pickle=False)
        if table.shape == GRID.shape and table.dtype == np.float64 and np.isfinite(table).all():
            return table
    except (OSError, ValueError):
        pass
    table = _simulate_null(k, tail_df)

    def save(tmp) -> None:
        with open(tmp, "wb") as fh:  # a handle: np.save would add .npy to the temporary's name
            np.save(fh, table, allow_pickle=False)

    with contextlib.suppress(OSError, MuauditError):  # a cache: where it cannot be written, every process computes
        atomic_write(path, save)
    return table


def _simulate_null(k: int, tail_df: float) -> np.ndarray:
    """T = (v − m) / (s √(1 + 1/K)) is pivotal, and P(T ≥ t) = E[P(v ≥ m + t s √(1 + 1/K) | m, s)]: the inner
    probability is the t survival function, averaged over NULL_DRAWS simulated reference sets. Averaging
    a smooth probability resolves the far tail that counting simulated T values could not."""
    from scipy.special import stdtr

    x = np.random.default_rng(k).standard_t(tail_df, size=(NULL_DRAWS, k))
    m, s = x.mean(axis=1), x.std(axis=1, ddof=1) * math.sqrt(1 + 1 / k)
    return np.array([math.log(max(float(np.mean(stdtr(tail_df, -(m + t * s)))), 1e-300)) for t in GRID])


def tail_probability(t: float, k: int, tail_df: float | None = None) -> float:
    """P(T ≥ t) for a value exchangeable with K references: Student t with K − 1 degrees of freedom when the
    seeds vary normally (tail_df None), else under Student-t(tail_df) seeds (heavy tails; _null_table)."""
    from scipy.stats import t as student

    if tail_df is None:
        return float(student.sf(t, k - 1))
    if t < 0:
        return 1.0 - tail_probability(-t, k, tail_df)
    log_p = _null_table(k, float(tail_df))
    if t <= GRID[-1]:
        return float(math.exp(np.interp(t, GRID, log_p)))
    slope = (log_p[-1] - log_p[-2]) / (math.log(GRID[-1]) - math.log(GRID[-2]))  # power-law tail beyond the grid
    return float(math.exp(log_p[-1] + slope * (math.log(t) - math.log(GRID[-1]))))


def critical_value(level: float, k: int, tail_df: float | None = None) -> float:
    """The t with P(T ≥ t) = level (level < 0.5)."""
    from scipy.optimize import brentq
    from scipy.stats import t as student

    if tail_df is None:
        return float(student.isf(level, k - 1))
    hi = 10.0
    while tail_probability(hi, k, tail_df) > level:
        hi *= 10
    return float(brentq(lambda t: tail_probability(t, k, tail_df) - level, 0.0, hi, xtol=1e-6))


def predictive_half_width(level: float, k: int, tail_df: float | None = None) -> float:
    """Half-width, in retrain sds, of the two-sided predictive interval at `level` around K references' mean:
    a value outside it has a two-sided p below level."""
    return critical_value(level / 2, k, tail_df) * math.sqrt(1 + 1 / k)


def p_value(t: float, k: int, side: str, tail_df: float | None = None) -> float:
    """P-value of the predictive t statistic of K references; side: low (only small values are a
    discrepancy), high, both."""
    if math.isnan(t):
        return math.nan
    if side == "low":
        return tail_probability(-t, k, tail_df)
    if side == "high":
        return tail_probability(t, k, tail_df)
    return float(min(1.0, 2 * tail_probability(abs(t), k, tail_df)))


def predictive_test(ref_z: np.ndarray, v_z: float, floor_z: float, side: str,
                    tail_df: float | None = None) -> tuple[float, float, float, float]:
    """(effect, ci_low, ci_high, p): effect = (v − m) / s in retrain standard deviations, its 95% interval
    (normal theory, noncentral t), and the predictive p-value under seeds with Student-t(tail_df) tails
    (None: normal). NaN anywhere gives NaN everywhere (fails closed)."""
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
    return effect, lo * scale, hi * scale, p_value(effect / scale, k, side, tail_df)


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


def detectable_effect(k: int, alpha: float, tail_df: float | None = None) -> float:
    """The effect (retrain sds) at which one two-sided quantity tested alone at alpha reaches p = alpha."""
    return predictive_half_width(alpha, k, tail_df) if k >= 2 else math.inf


def smallest_k(alpha: float, tail_df: float | None = None, limit: int = 200) -> int:
    """The smallest K whose rule can flag a quantity MAX_DETECTABLE_EFFECT sds off (its critical value falls
    as K grows, so the first K that works is the answer); ValueError if none up to `limit` can."""
    found = next((k for k in range(2, limit) if detectable_effect(k, alpha, tail_df) <= MAX_DETECTABLE_EFFECT), None)
    if found is None:
        raise ValueError(f"no number of retrain seeds up to {limit} reaches alpha = {alpha} with tail_df = {tail_df}")
    return found
