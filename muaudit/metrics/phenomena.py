"""The three phenomena of "Erased, but Not Gone" (arXiv 2606.25001), as this project measures them.

The paper's abstract names the phenomena but gives no formulas; these are our definitions, and
docs/metrics.md gives the reasoning and the known answers each one is tested on. Every value is computed
for each model against each retrain seed, and for a retrain seed against the other seeds, so the retrain
pairs give the band like any other metric.

Alignment. Two models' layers live in unrelated bases, so they are compared after an orthogonal
Procrustes map. Each model's layer is normalised with statistics of the *fit* samples (role `fit_role`,
default test): Z = (X − μ_fit) / s_fit, s_fit = RMS row norm of the centered fit rows. The map
Q = argmin_{QᵀQ=I} ‖Z_a,fit Q − Z_b,fit‖_F is fitted on the fit samples only and applied to the scored
samples, which are disjoint from them, so the alignment cannot absorb the discrepancy it is meant to reveal.

Placebo. The forget set is compared with a *placebo*: a seeded random subset of the retain samples of the
forget set's size, treated as if it were a forget set (a sham unlearning request). Equal sizes matter:
residual and distance statistics depend on n relative to d, so a forget/retain difference measured on sets
of different sizes shows an "effect" where there is none. Rows on the placebo carry role `retain`.

- `asymmetry` (role ""): ln(E_placebo / E_forget), E_S = mean squared aligned residual ‖Z_U Q − Z_R‖² per
  sample of S. 0 = the model is as far from retraining on forget as on retain; > 0 = closer to retraining on
  forget than on retain (the paper's forget/retain asymmetry); < 0 = a residue on the forget set.
- `direction` (role forget): difference in differences. Δ_M = Z_M Q_{M→O} − Z_O is a model's displacement
  from the original O; DiD = (⟨Δ_U, Δ_R⟩_forget − ⟨Δ_U, Δ_R⟩_placebo) / ‖Δ_R‖²_forget. A retrain
  displacement contains −ε_O, the original seed's own idiosyncrasy, on every sample; the placebo term takes
  out what both roles share, and the projection (not a cosine) keeps the magnitude: removing half of the
  forget component scores half. Lower = moved less far along the way retraining moves (directional mismatch).
- `concentration` (roles forget, retain = placebo): ln(min(n, d) / PR(E)), E = the aligned residual
  Z_U Q_{U→R} − Z_R on the role, PR(E) = (Σσᵢ²)² / Σσᵢ⁴ its participation ratio (effective rank; σ = the
  singular values of E). A diffuse residual spreads over all min(n, d) directions and scores about 0; a
  rank-1 residual scores ln min(n, d), wherever it lies. Higher = more concentrated.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from muaudit.metrics.procrustes import orthogonal_map
from muaudit.metrics.registry import MetricParams, register_metric
from muaudit.metrics.table import row

TINY = 1e-20  # relative energy below which a residual is round-off (a rotated copy): undefined, not judged


class PhenomenonParams(MetricParams):
    fit_role: Literal["test", "retain"] = "test"  # samples the normalisation and the Procrustes map are fitted on
    placebo_seed: int = 0  # draws the placebo subset of retain


def _stats(ctx, model: str, layer: str, fit_role: str) -> tuple[np.ndarray, float]:
    """(μ_fit, s_fit) of a model's layer (cached on ctx; the normalised matrix itself never is)."""
    def make():
        fit = ctx.raw(model, layer)[ctx.mask(fit_role)].astype(np.float64)
        mu = fit.mean(0)
        s = np.sqrt(np.sum((fit - mu) ** 2) / len(fit))
        return mu, (s if s > 0 else 1.0)

    return ctx.memo(("stats", model, layer, fit_role), make)


def normalised(ctx, model: str, layer: str, fit_role: str, rows: np.ndarray) -> np.ndarray:
    """Z = (X − μ_fit) / s_fit on `rows`, statistics from the fit role only. Only the rows a metric scores
    are materialised (float64), so a layer of 60k samples costs one model's subset at a time, not n x d per
    model and pair."""
    mu, s = _stats(ctx, model, layer, fit_role)
    return (ctx.raw(model, layer)[rows].astype(np.float64) - mu) / s


def orthogonal_to(ctx, model: str, target: str, layer: str, fit_role: str) -> np.ndarray:
    """Q_{model→target}, fitted on the fit role only (a d x d matrix, cached on ctx)."""
    def make():
        fit = ctx.role_index[fit_role]
        return orthogonal_map(normalised(ctx, model, layer, fit_role, fit),
                              normalised(ctx, target, layer, fit_role, fit))

    return ctx.memo(("orthogonal", model, target, layer, fit_role), make)


def aligned(ctx, model: str, target: str, layer: str, fit_role: str, rows: np.ndarray) -> np.ndarray:
    """Z_model Q_{model→target} on `rows`."""
    return normalised(ctx, model, layer, fit_role, rows) @ orthogonal_to(ctx, model, target, layer, fit_role)


def scored_index(ctx, seed: int) -> dict[str, np.ndarray]:
    """{"forget": forget rows, "retain": the placebo}, equal sizes: a seeded retain subset of the forget set's
    size (and a forget subset if retain is the smaller), sorted, the same for every model and layer."""
    def make():
        forget, retain = ctx.role_index["forget"], ctx.role_index["retain"]
        n = min(len(forget), len(retain))
        rng = np.random.default_rng(seed)
        pick = [idx if len(idx) == n else np.sort(rng.choice(idx, n, replace=False)) for idx in (forget, retain)]
        return {"forget": pick[0], "retain": pick[1]}

    return ctx.memo(("placebo", seed), make)


def scored_rows(idx: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The scored sample indices in one array, and each role's positions within it."""
    rows = np.concatenate([idx["forget"], idx["retain"]])
    n = len(idx["forget"])
    return rows, {"forget": np.arange(n), "retain": np.arange(n, len(rows))}


def participation_ratio(e: np.ndarray) -> float:
    """(Σσ²)² / Σσ⁴ over the singular values of e: the number of directions its energy is spread over."""
    s2 = np.linalg.svd(e, compute_uv=False) ** 2
    return float(s2.sum() ** 2 / np.sum(s2 * s2))


def concentration(resid: np.ndarray, scale: float = 1.0) -> float:
    """ln(min(n, d) / PR(resid)); NaN for a residual at round-off level relative to `scale` (energy)."""
    if float(np.sum(resid * resid)) <= TINY * scale:
        return float("nan")
    return float(np.log(min(resid.shape) / participation_ratio(resid)))


def residual_energy(resid: np.ndarray) -> float:
    return float(np.sum(resid * resid) / len(resid))


def asymmetry(e_placebo: float, e_forget: float) -> float:
    return float(np.log(e_placebo / e_forget)) if e_placebo > 0 and e_forget > 0 else float("nan")


def did_projection(d_m: dict[str, np.ndarray], d_r: dict[str, np.ndarray]) -> float:
    """(⟨d_m, d_r⟩_forget − ⟨d_m, d_r⟩_retain) / ‖d_r‖²_forget on equal-size roles."""
    norm = float(np.sum(d_r["forget"] ** 2))
    if norm <= 0:
        return float("nan")
    return float((np.sum(d_m["forget"] * d_r["forget"]) - np.sum(d_m["retain"] * d_r["retain"])) / norm)


@register_metric("asymmetry", judge={"asymmetry": "both"}, scope="representation", params=PhenomenonParams,
                 roles=("",), scale="log-ratio")
def asymmetry_metric(ctx, params: PhenomenonParams) -> list[dict]:
    """Forget/retain asymmetry: ln(residual energy to retraining on the placebo / on forget), equal n."""
    rows, parts = scored_rows(scored_index(ctx, params.placebo_seed))
    out = []
    for layer in ctx.layers:
        for m, r in ctx.pairs():
            resid = aligned(ctx, m, r, layer, params.fit_role, rows) - normalised(ctx, r, layer, params.fit_role, rows)
            e = {s: residual_energy(resid[i]) for s, i in parts.items()}
            out.append(row(m, r, layer, "", "asymmetry", asymmetry(e["retain"], e["forget"])))
    return out


@register_metric("direction", judge={"direction": "low"}, scope="representation", params=PhenomenonParams,
                 roles=("forget",), scale="projection")
def direction_metric(ctx, params: PhenomenonParams) -> list[dict]:
    """Difference-in-differences projection of the displacement from the original onto retraining's."""
    if "original" not in ctx.models:
        return []
    rows, parts = scored_rows(scored_index(ctx, params.placebo_seed))
    out = []
    for layer in ctx.layers:
        z_o = normalised(ctx, "original", layer, params.fit_role, rows)
        disp = {m: aligned(ctx, m, "original", layer, params.fit_role, rows) - z_o for m in ctx.models}
        by_role = {m: {s: d[i] for s, i in parts.items()} for m, d in disp.items()}
        out += [row(m, r, layer, "forget", "direction", did_projection(by_role[m], by_role[r])) for m, r in ctx.pairs()]
    return out


@register_metric("concentration", judge={"concentration": "high"}, scope="representation", params=PhenomenonParams,
                 roles=("forget", "retain"), scale="log-ratio")
def concentration_metric(ctx, params: PhenomenonParams) -> list[dict]:
    """ln(min(n, d) / effective rank) of the aligned residual to a retrain seed, on forget and the placebo."""
    rows, parts = scored_rows(scored_index(ctx, params.placebo_seed))
    out = []
    for layer in ctx.layers:
        for m, r in ctx.pairs():
            z_r = normalised(ctx, r, layer, params.fit_role, rows)
            resid = aligned(ctx, m, r, layer, params.fit_role, rows) - z_r
            out += [row(m, r, layer, s, "concentration", concentration(resid[i], float(np.sum(z_r[i] ** 2))))
                    for s, i in parts.items()]
    return out
