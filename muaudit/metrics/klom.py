"""`klom`: per-example membership of the forget samples against the retrain seeds (KLoM, Georgiev et al.
2024; per-example rather than population attacks: Hayes et al. 2024, U-LiRA). docs/attacks.md.

Per forget sample i, its margin z = logit_y − max_{k≠y} logit_k under each model. The retrain seeds give a
distribution of z_i (Gaussian fit: mean, sd floored at `sd_floor`).
- With several seeds of a method (models `<method>_s<seed>` beside `<method>`, unlearn.extra_seeds): KL(N_method ‖
  N_retrain) per sample, label "kl". The band must hold the same statistic: each retrain seed's row is the KL of
  S retrain seeds (it and the next S − 1, cyclically; S the largest method family) against the other K − S, so
  this path needs K ≥ S + 2 retrain seeds. Its references are fewer than a method's K, so the band is the wider
  (conservative). A model with one seed there (the original, a method whose seed runs failed): its sd is the
  floor, label "kl-one-seed".
- Otherwise (one seed per method, the default, or too few retrain seeds), the documented one-sided fallback
  for every model, label "one-sided": −log10 of the retrain predictive tail probability P(z ≥ z_i), i.e. how
  surprisingly member-like the sample's margin is for a model that never saw it (leave-one-out for a retrain
  seed). Never NaN: the tail is floored at 1e-300.
Rows (layer logits, role forget, reference retrain): `klom_q50`, `klom_q90`, `klom_q99`, the median and upper
quantiles over forget samples; judged on the high side.
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import Field

from muaudit.metrics.registry import MetricParams, register_metric
from muaudit.metrics.table import row

QUANTILES = (50, 90, 99)
TAIL_FLOOR = 1e-300


class KlomParams(MetricParams):
    sd_floor: float = Field(0.5, gt=0)  # logits: a zero-spread retrain distribution would make any gap infinite


def margins(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    idx = np.arange(len(labels))
    true = logits[idx, labels]
    other = logits.copy()
    other[idx, labels] = -np.inf
    return true - other.max(1)


def gaussian_kl(mu_p: np.ndarray, sd_p: np.ndarray, mu_q: np.ndarray, sd_q: np.ndarray) -> np.ndarray:
    """KL(N(mu_p, sd_p²) ‖ N(mu_q, sd_q²)), elementwise."""
    return np.log(sd_q / sd_p) + (sd_p**2 + (mu_p - mu_q) ** 2) / (2 * sd_q**2) - 0.5


def one_sided(z: np.ndarray, mu: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """−log10 P(Z ≥ z) under N(mu, sd²), per sample."""
    tail = 0.5 * np.array([math.erfc(v / math.sqrt(2)) for v in (z - mu) / sd])
    return -np.log10(np.maximum(tail, TAIL_FLOOR))


def per_sample(judged: np.ndarray, reference: np.ndarray, sd_floor: float, two_sample: bool) -> tuple[np.ndarray, str]:
    """judged: (seeds, n) margins of one model family; reference: (K, n) retrain margins."""
    mu_r, sd_r = reference.mean(0), np.maximum(reference.std(0, ddof=1), sd_floor)
    if not two_sample:
        return one_sided(judged[0], mu_r, sd_r), "one-sided"
    sd = judged.std(0, ddof=1) if len(judged) >= 2 else np.zeros(judged.shape[1])
    return gaussian_kl(judged.mean(0), np.maximum(sd, sd_floor), mu_r, sd_r), "kl" if len(judged) >= 2 else "kl-one-seed"


def seed_models(model: str, models: list[str]) -> list[str]:
    return [model, *sorted(m for m in models if m.startswith(f"{model}_s") and m[len(model) + 2 :].isdigit())]


@register_metric("klom", judge={f"klom_q{q}": "high" for q in QUANTILES}, scope="output", params=KlomParams)
def klom_metric(ctx, p: KlomParams) -> list[dict]:
    """Per-sample margin distributions of each model family against the retrain seeds' (KLoM)."""
    forget = ctx.role_index["forget"]
    z = {m: margins(ctx.raw(m, "logits")[forget], ctx.labels[forget]) for m in ctx.models}
    extra_seeds = {s for m in ctx.models for s in seed_models(m, ctx.models)[1:]}
    retrain = ctx.retrain_ids
    size = max((len(seed_models(m, ctx.models)) for m in ctx.models if m not in retrain), default=1)
    two_sample = size >= 2 and len(retrain) >= size + 2
    rows = []
    for m in ctx.models:
        if m in extra_seeds:
            continue  # an extra seed is judged with its family, not alone
        if m not in retrain:
            family, refs = (seed_models(m, ctx.models) if two_sample else [m]), ctx.others(m)
        elif two_sample:  # the band's null: S retrain seeds against the others, the statistic the methods get
            i = retrain.index(m)
            family = [retrain[(i + j) % len(retrain)] for j in range(size)]
            refs = [r for r in retrain if r not in family]
        else:
            family, refs = [m], ctx.others(m)
        if len(refs) < 2:
            continue
        stat, how = per_sample(np.stack([z[s] for s in family]), np.stack([z[r] for r in refs]), p.sd_floor,
                               two_sample)
        rows += [row(m, "retrain", "logits", "forget", f"klom_q{q}", float(np.percentile(stat, q)), how)
                 for q in QUANTILES]
    return rows
