"""Linear CKA, debiased (unbiased HSIC, Song et al. 2012), in the d x d feature-space form.

Why debiased: forget sets are small (n ~ 150 on digits) while layers have d ~ 16-512 units, and the
biased estimator is inflated when d approaches n, which would make every model look similar on the
forget set. The feature-space form costs O(n d^2) and O(d^2) memory, so n = 10k, d = 512 takes well
under a second.
"""

from __future__ import annotations

import numpy as np


def _unbiased_hsic_terms(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased HSIC(XX^T, YY^T) * n(n-3), computed without forming n x n Grams."""
    n = x.shape[0]
    # tr(K~ L~) with zeroed diagonals: ||X^T Y||_F^2 - sum_i |x_i|^2 |y_i|^2
    xty = x.T @ y
    sq_x = np.einsum("ij,ij->i", x, x)
    sq_y = np.einsum("ij,ij->i", y, y)
    tr_kl = float(np.sum(xty * xty) - sq_x @ sq_y)
    # 1^T K~ 1 = |sum_i x_i|^2 - sum_i |x_i|^2
    sx, sy = x.sum(0), y.sum(0)
    sum_k = float(sx @ sx - sq_x.sum())
    sum_l = float(sy @ sy - sq_y.sum())
    # 1^T K~ L~ 1 = sum_i (K~1)_i (L~1)_i, with (K~1)_i = x_i . sum_x - |x_i|^2
    k1 = x @ sx - sq_x
    l1 = y @ sy - sq_y
    sum_kl = float(k1 @ l1)
    return tr_kl + sum_k * sum_l / ((n - 1) * (n - 2)) - 2.0 * sum_kl / (n - 2)


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Debiased linear CKA of two activation matrices over the same n samples (rows)."""
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"CKA needs the same samples: {x.shape[0]} vs {y.shape[0]} rows")
    if x.shape[0] < 4:
        return float("nan")
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    x = x - x.mean(0)
    y = y - y.mean(0)
    xy = _unbiased_hsic_terms(x, y)
    xx = _unbiased_hsic_terms(x, x)
    yy = _unbiased_hsic_terms(y, y)
    if xx <= 0 or yy <= 0:
        return float("nan")
    return float(xy / np.sqrt(xx * yy))
