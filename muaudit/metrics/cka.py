"""Linear CKA, debiased (unbiased HSIC, Song et al. 2012), in the d x d feature-space form.

Why debiased: forget sets are small (n ~ 150 on digits) while layers have d ~ 16-512 units, and the
biased estimator is inflated when d approaches n, which would make every model look similar on the
forget set. The feature-space form costs O(n d^2) and O(d^2) memory, so n = 10k, d = 512 takes well
under a second. Columns are centered first, so Σᵢxᵢ = 0 and the unbiased-HSIC terms reduce to the
cross product XᵀY and the squared row norms; Context caches both, so a model's self-terms are computed
once per (layer, role) and each pair costs one XᵀY.

Row metric `cka` (model, reference = a retrain seed, layer, role): higher is closer to retraining.
"""

from __future__ import annotations

import numpy as np

from muaudit.metrics.registry import Judge, register_metric
from muaudit.metrics.table import row


def hsic_n(cross_fro2: float, sq_x: np.ndarray, sq_y: np.ndarray) -> float:
    """Unbiased HSIC(XXᵀ, YYᵀ) · n(n−3) for column-centered X, Y from ‖XᵀY‖_F² and the squared row norms."""
    n = len(sq_x)
    # Zero-diagonal Grams: tr(K~L~) = ‖XᵀY‖² − Σ|xᵢ|²|yᵢ|²; 1ᵀK~1 = −Σ|xᵢ|²; (K~1)ᵢ = −|xᵢ|² (centered).
    sxy = float(sq_x @ sq_y)
    return cross_fro2 - sxy + sq_x.sum() * sq_y.sum() / ((n - 1) * (n - 2)) - 2.0 * sxy / (n - 2)


def cka_from_parts(xty: np.ndarray, sq_x, sq_y, xx_fro2: float, yy_fro2: float) -> float:
    if len(sq_x) < 4:
        return float("nan")
    xy = hsic_n(float(np.sum(xty * xty)), sq_x, sq_y)
    xx = hsic_n(xx_fro2, sq_x, sq_x)
    yy = hsic_n(yy_fro2, sq_y, sq_y)
    if xx <= 0 or yy <= 0:
        return float("nan")
    return float(xy / np.sqrt(xx * yy))


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Debiased linear CKA of two activation matrices over the same n samples (rows)."""
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"CKA needs the same samples: {x.shape[0]} vs {y.shape[0]} rows")
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    x = x - x.mean(0)
    y = y - y.mean(0)
    sq_x, sq_y = np.einsum("ij,ij->i", x, x), np.einsum("ij,ij->i", y, y)
    gx, gy = x.T @ x, y.T @ y
    return cka_from_parts(x.T @ y, sq_x, sq_y, float(np.sum(gx * gx)), float(np.sum(gy * gy)))


# Fisher z: CKA is a similarity bounded by 1, and the retrain values crowd against that bound.
@register_metric("cka", judge={"cka": Judge("low", "fisher_z", floor=0.001, title="CKA")}, scope="representation")
def cka_metric(ctx, params) -> list[dict]:
    """Debiased linear CKA to each retrain seed, per layer and role."""
    rows = []
    for layer in ctx.layers:
        for role in ("forget", "retain", "test"):
            for m, r in ctx.pairs():
                sq_m, g_m, _ = ctx.centered_stats(m, layer, role)
                sq_r, g_r, _ = ctx.centered_stats(r, layer, role)
                rows.append(row(m, r, layer, role, "cka", cka_from_parts(ctx.cross(m, r, layer, role), sq_m, sq_r, g_m, g_r)))
    return rows
