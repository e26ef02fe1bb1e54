"""Where the forget set sits: the forget samples' position relative to the retained classes, vs retraining.

CKA and Procrustes centre each role on its own mean, so on the forget role they cannot see a common shift of
the forget features: in the class scenario, where the forgotten class lies relative to the others, which is
the main signal of a kept class. This metric measures exactly that shift.

For a model M at a layer: c_k = centroid of the retain samples of class k (every class present in retain),
μ_c = centroid of the forget samples of class c (every class present in forget: the forgotten classes in
the class scenario, every class in the random one), s = RMS distance between the retain centroids (the
layer's own scale). P_M[c, k] = ‖μ_c − c_k‖ / s. The distances are invariant to rotations, shifts and the
scale of the layer, so models in unrelated bases are compared directly.

Row metric `position` (model, reference = a retrain seed, layer, role forget):
RMS over (c, k) of P_M − P_R. 0 = the forget samples sit where retraining puts them; higher = further.
"""

from __future__ import annotations

import numpy as np

from muaudit.metrics.registry import register_metric
from muaudit.metrics.table import row


def relative_position(x: np.ndarray, labels: np.ndarray, forget: np.ndarray, retain: np.ndarray) -> np.ndarray:
    """P[c, k] = ‖μ_forget,c − c_retain,k‖ / s, classes in sorted order."""
    x = np.asarray(x, np.float64)
    anchors = np.stack([x[retain][labels[retain] == k].mean(0) for k in np.unique(labels[retain])])
    groups = np.stack([x[forget][labels[forget] == c].mean(0) for c in np.unique(labels[forget])])
    spread = anchors - anchors.mean(0)
    # RMS pairwise distance between anchors = sqrt(2 · mean squared distance to their mean)
    s = float(np.sqrt(2.0 * np.mean(np.sum(spread * spread, 1))))
    dist = np.linalg.norm(groups[:, None, :] - anchors[None, :, :], axis=2)
    return dist / s if s > 0 else np.full_like(dist, np.nan)


def position_gap(p_m: np.ndarray, p_r: np.ndarray) -> float:
    return float(np.sqrt(np.mean((p_m - p_r) ** 2)))


@register_metric("position", judge={"position": "high"}, scope="representation", roles=("forget",), scale="distance")
def position_metric(ctx, params) -> list[dict]:
    """RMS difference, to each retrain seed, of the forget samples' distances to the retained classes' centroids."""
    forget, retain = ctx.role_index["forget"], ctx.role_index["retain"]
    rows = []
    for layer in ctx.layers:
        pos = {m: relative_position(ctx.raw(m, layer), ctx.labels, forget, retain) for m in ctx.models}
        rows += [row(m, r, layer, "forget", "position", position_gap(pos[m], pos[r])) for m, r in ctx.pairs()]
    return rows
