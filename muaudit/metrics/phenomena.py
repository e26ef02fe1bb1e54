"""The three phenomena of "Erased, but Not Gone" (arXiv 2606.25001), as this project operationalises them.

The paper's abstract names the phenomena but gives no formulas; these are our definitions. Every one is
computed for each model against each retrain seed, and for a retrain seed against the other seeds, so
the retrain pairs give the band like any other metric.

Alignment (direction, concentration). Representations of two models live in unrelated bases, so they are
compared after an orthogonal Procrustes map. Each model's layer is normalised with statistics of the
*fit* samples (role `fit_role`, default test): Z = (X − μ_fit) / s_fit, s_fit = RMS row norm of the
centered fit rows. The map Q = argmin_{QᵀQ=I} ‖Z_a,fit Q − Z_b,fit‖_F is fitted on the fit samples only and
applied to the scored roles (forget, retain), which are disjoint from them, so the alignment cannot
absorb the discrepancy it is meant to reveal.

- `asymmetry` (role ""): D(retain) − D(forget), D = Procrustes distance (or 1 − CKA with
  `distance: cka`) to the reference seed on that role. Positive = the model is further from retraining on
  retain than on forget (the paper's forget/retain asymmetry).
- `direction` (roles forget, retain; not for `original`): cosine between the unlearning displacement
  Δ_U = Z_U Q_{U→O} − Z_O and the retraining displacement Δ_R = Z_R Q_{R→O} − Z_O on the scored role,
  as Frobenius inner product ⟨Δ_U, Δ_R⟩ / (‖Δ_U‖‖Δ_R‖), O = original. 1 = the model moved from the
  original the way retraining does; ≤ 0 = directional mismatch. Lower is worse.
- `concentration` (roles forget, retain): residual E = Z_U,S Q_{U→R} − Z_R,S (Q fit on the fit role);
  c_k = ‖E V_k‖_F² / ‖E‖_F², V_k = the top-k principal directions (right singular vectors) of R's
  representation on S, k = min(`concentration_k`, d − 1). A diffuse (isotropic) residual gives k/d; the
  band from retrain pairs gives the seed-to-seed value. Higher = residual concentrated along the
  directions retraining uses.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from muaudit.metrics.cka import cka_from_parts
from muaudit.metrics.procrustes import orthogonal_map, procrustes_from_cross
from muaudit.metrics.registry import MetricParams, register_metric
from muaudit.metrics.table import row

SCORED = ("forget", "retain")


class AsymmetryParams(MetricParams):
    distance: Literal["procrustes", "cka"] = "procrustes"


class AlignParams(MetricParams):
    fit_role: Literal["test", "retain"] = "test"


class ConcentrationParams(AlignParams):
    concentration_k: int = 5


def normalised(ctx, model: str, layer: str, fit_role: str) -> np.ndarray:
    """Z = (X − μ_fit) / s_fit for all samples, statistics from the fit role only (cached on ctx)."""
    def make():
        x = ctx.raw(model, layer)
        fit = x[ctx.mask(fit_role)]
        mu = fit.mean(0)
        s = np.sqrt(np.sum((fit - mu) ** 2) / len(fit))
        return (x - mu) / (s if s > 0 else 1.0)

    return ctx.memo(("normalised", model, layer, fit_role), make)


def aligned(ctx, model: str, target: str, layer: str, fit_role: str) -> np.ndarray:
    """Z_model Q_{model→target}, Q fitted on the fit role only (cached on ctx)."""
    def make():
        za, zb = normalised(ctx, model, layer, fit_role), normalised(ctx, target, layer, fit_role)
        fit = ctx.mask(fit_role)
        return za @ orthogonal_map(za[fit], zb[fit])

    return ctx.memo(("aligned", model, target, layer, fit_role), make)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    return float(np.sum(a * b) / (na * nb)) if na > 0 and nb > 0 else float("nan")


def concentration(resid: np.ndarray, ref: np.ndarray, k: int) -> float:
    """Share of ‖resid‖_F² inside the top-k principal directions of ref (rows = samples)."""
    _, _, vt = np.linalg.svd(ref - ref.mean(0), full_matrices=False)
    total = float(np.sum(resid * resid))
    # a residual at round-off level (identical up to rotation) has no direction: undefined, not concentrated
    if total <= 1e-20 * float(np.sum(ref * ref)):
        return float("nan")
    return float(np.sum((resid @ vt[:k].T) ** 2) / total)


def _distance(ctx, m: str, r: str, layer: str, role: str, kind: str) -> float:
    _, sq_m, g_m, f_m = ctx.centered(m, layer, role)
    _, sq_r, g_r, f_r = ctx.centered(r, layer, role)
    xty = ctx.cross(m, r, layer, role)
    return procrustes_from_cross(xty, f_m, f_r) if kind == "procrustes" else 1.0 - cka_from_parts(xty, sq_m, sq_r, g_m, g_r)


@register_metric("asymmetry", judge={"asymmetry": "both"}, scope="representation", params=AsymmetryParams)
def asymmetry_metric(ctx, params: AsymmetryParams) -> list[dict]:
    """Forget/retain asymmetry: discrepancy to retraining on retain minus on forget."""
    return [row(m, r, layer, "", "asymmetry",
                _distance(ctx, m, r, layer, "retain", params.distance) - _distance(ctx, m, r, layer, "forget", params.distance))
            for layer in ctx.layers for m, r in ctx.pairs()]


@register_metric("direction", judge={"direction": "low"}, scope="representation", params=AlignParams)
def direction_metric(ctx, params: AlignParams) -> list[dict]:
    """Cosine between the unlearning and the retraining displacement from the original, aligned."""
    if "original" not in ctx.models:
        return []
    rows = []
    for layer in ctx.layers:
        z_o = normalised(ctx, "original", layer, params.fit_role)
        for m, r in ctx.pairs():
            if m == "original":
                continue
            d_m = aligned(ctx, m, "original", layer, params.fit_role) - z_o
            d_r = aligned(ctx, r, "original", layer, params.fit_role) - z_o
            rows += [row(m, r, layer, s, "direction", cosine(d_m[ctx.mask(s)], d_r[ctx.mask(s)])) for s in SCORED]
    return rows


@register_metric("concentration", judge={"concentration": "high"}, scope="representation", params=ConcentrationParams)
def concentration_metric(ctx, params: ConcentrationParams) -> list[dict]:
    """Share of the aligned residual to a retrain seed in that seed's top-k principal directions."""
    rows = []
    for layer in ctx.layers:
        for m, r in ctx.pairs():
            z_r = normalised(ctx, r, layer, params.fit_role)
            resid = aligned(ctx, m, r, layer, params.fit_role) - z_r
            k = min(params.concentration_k, z_r.shape[1] - 1)
            rows += [row(m, r, layer, s, "concentration", concentration(resid[ctx.mask(s)], z_r[ctx.mask(s)], k))
                     for s in SCORED]
    return rows
