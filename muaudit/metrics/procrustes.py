"""Orthogonal Procrustes distance (Ding et al. 2021) and the orthogonal map it implies.

A, B = column-centered activations scaled to ‖A‖_F = ‖B‖_F = 1;
d = min_Q ‖AQ − B‖_F² = 2 − 2‖AᵀB‖_* (nuclear norm), in [0, 2]; 0 iff B is a rotation/reflection of A.
Computed in feature space: one d x d SVD of the cached cross product XᵀY, never an n x n matrix.

Row metric `procrustes` (model, reference = a retrain seed, layer, role): lower is closer to retraining.
"""

from __future__ import annotations

import numpy as np

from muaudit.metrics.registry import Judge, register_metric
from muaudit.metrics.table import row


def procrustes_from_cross(xty: np.ndarray, x_fro2: float, y_fro2: float) -> float:
    if x_fro2 <= 0 or y_fro2 <= 0:
        return float("nan")
    nuc = np.linalg.svd(xty, compute_uv=False).sum() / np.sqrt(x_fro2 * y_fro2)
    return float(max(0.0, 2.0 - 2.0 * nuc))  # clip float round-off below 0


def procrustes_distance(x: np.ndarray, y: np.ndarray) -> float:
    x = np.asarray(x, np.float64) - np.mean(x, 0)
    y = np.asarray(y, np.float64) - np.mean(y, 0)
    return procrustes_from_cross(x.T @ y, float(np.sum(x * x)), float(np.sum(y * y)))


def orthogonal_map(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Q (d_x x d_y, orthonormal columns or rows) minimising ‖XQ − Y‖_F: Q = UVᵀ from XᵀY = UΣVᵀ."""
    u, _, vt = np.linalg.svd(x.T @ y, full_matrices=False)
    return u @ vt


# log: a distance bounded below by 0, whose spread grows with its size.
@register_metric("procrustes", judge={"procrustes": Judge("high", "log", floor=0.001, title="Procrustes")},
                 scope="representation")
def procrustes_metric(ctx, params) -> list[dict]:
    """Orthogonal Procrustes distance to each retrain seed, per layer and role."""
    rows = []
    for layer in ctx.layers:
        for role in ("forget", "retain", "test"):
            for m, r in ctx.pairs():
                fx, fy = ctx.centered_stats(m, layer, role)[2], ctx.centered_stats(r, layer, role)[2]
                rows.append(row(m, r, layer, role, "procrustes", procrustes_from_cross(ctx.cross(m, r, layer, role), fx, fy)))
    return rows
