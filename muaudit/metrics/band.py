"""The retrain band and the verdict.

Aggregate. For each quantity (metric, layer, role) every model gets one number: the mean of its rows,
i.e. its own value (accuracy), or its mean over the retrain seeds other than itself (CKA, Procrustes,
phenomena: leave-one-out for a retrain seed), or its gap to the mean of the other seeds (gaps).

Band. The K retrain seeds' aggregates r_1..r_K give band = [min r − w, max r + w] with
w = max(band_tolerance, band_widen · (max r − min r)). Why range-based: with K = 5 a standard deviation
is too noisy for a z-rule, the rule needs no normality, and the tolerance floor copes with zero-spread
bands (class scenario: every retrained model has forget accuracy exactly 0). A value outside counts as a
discrepancy only on the metric's bad side (registry `judge`: similarities below, distances above,
values either side).

Verdict (per judged model, rows metric "verdict"):
1. status failed / skipped (or missing activations) -> that word.
2. Output (layer "output"): quantities whose metric is in `verdict.output` (default accuracy,
   MIA-efficacy). Forget accuracy above the band or MIA-efficacy below it -> `not-forgotten` (forget
   samples are still predicted / still look like members); forget accuracy below, retain or test accuracy
   below, or MIA-efficacy above -> `over-forgotten`; any other output quantity outside -> `not-forgotten`.
   Retain/test accuracy above the band is not a discrepancy.
3. Representation (one row per layer): a layer is `outside` when at least `verdict.layer_min_outside` of
   its quantities with metric in `verdict.representation` (default CKA, Procrustes, probe; all roles) are
   outside; the representation is outside when at least `verdict.min_layers_outside` layers are.
4. Output inside: representation outside -> `output-only`, else `consistent`.
The false-alarm rate of this rule (a new retrain seed judged against the band) is measured by
benchmarks/false_alarm.py; see docs/metrics.md.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from muaudit.metrics.table import row

ACC = "accuracy"
EDGE = 1e-9


def aggregates(rows: list[dict]) -> dict[tuple, dict[str, float]]:
    """(metric, layer, role) -> model -> mean of its rows (NaN rows ignored)."""
    per: dict[tuple, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        if r["reference"] != r["model"]:
            per[(r["metric"], r["layer"], r["role"])][r["model"]].append(r["value"])
    out = {}
    for key, by_model in per.items():
        out[key] = {m: (float(np.mean(f)) if len(f := [x for x in v if np.isfinite(x)]) else float("nan"))
                    for m, v in by_model.items()}
    return out


def band_limits(ref_vals: np.ndarray, tolerance: float, widen: float) -> tuple[float, float]:
    lo, hi = float(ref_vals.min()), float(ref_vals.max())
    w = max(tolerance, widen * (hi - lo))
    return lo - w, hi + w


def position(v: float, lo: float, hi: float, side: str) -> int:
    """-1 below, +1 above, 0 inside or on the harmless side; NaN cannot be judged (0)."""
    if not np.isfinite(v):
        return 0
    # a value on the edge is inside: lo/hi are sums of floats (1.0 vs 0.979167 + 0.020833 must not count)
    pos = -1 if v < lo - EDGE else (1 if v > hi + EDGE else 0)
    if (side == "low" and pos == 1) or (side == "high" and pos == -1):
        return 0
    return pos


def band_and_verdicts(rows: list[dict], statuses: dict[str, str], retrain_ids: list[str], cfg, sides: dict[str, str]) -> list[dict]:
    out: list[dict] = []
    positions: dict[str, dict[tuple, int]] = defaultdict(dict)
    for key, agg in sorted(aggregates(rows).items()):
        metric, layer, role = key
        ref_vals = np.array([agg[m] for m in retrain_ids if m in agg and np.isfinite(agg[m])])
        if len(ref_vals) < 2:
            continue
        lo, hi = band_limits(ref_vals, cfg.band_tolerance, cfg.band_widen)
        for stat, v in (("mean", ref_vals.mean()), ("sd", ref_vals.std(ddof=1)), ("low", lo), ("high", hi)):
            out.append(row("retrain", "band", layer, role, f"{metric}:{stat}", v))
        for m, v in agg.items():
            if m in retrain_ids:
                continue
            out.append(row(m, "band", layer, role, metric, v))
            positions[m][key] = position(v, lo, hi, sides.get(metric, "both"))
    for model, status in statuses.items():
        if model not in retrain_ids:
            out += verdict_rows(model, status, positions.get(model, {}), cfg.verdict)
    return out


def output_label(pos: dict[tuple, int], output_metrics: list[str]) -> str | None:
    """None when the output is inside the band, else not-forgotten / over-forgotten."""
    forget = pos.get((ACC, "logits", "forget"), 0)
    kept_low = any(pos.get((ACC, "logits", r), 0) == -1 for r in ("retain", "test"))
    mia = pos.get(("mia_efficacy", "logits", "forget"), 0) if "mia_efficacy" in output_metrics else 0
    if forget == 1 or mia == -1:
        return "not-forgotten"
    if forget == -1 or kept_low or mia == 1:
        return "over-forgotten"
    others = [p for (m, _, r), p in pos.items() if m in output_metrics and m not in (ACC, "mia_efficacy")]
    return "not-forgotten" if any(others) else None


def layers_outside(pos: dict[tuple, int], rep_metrics: list[str], min_outside: int) -> dict[str, bool]:
    count: dict[str, int] = defaultdict(int)
    for (m, layer, _), p in pos.items():
        if m in rep_metrics:
            count[layer] += p != 0
    return {layer: n >= min_outside for layer, n in sorted(count.items())}


def verdict_rows(model: str, status: str, pos: dict[tuple, int], vcfg) -> list[dict]:
    if status != "ok" or not pos:
        label = status if status in ("failed", "skipped") else "failed"
        return [row(model, "band", "", "", "verdict", np.nan, label)]
    out_label = output_label(pos, vcfg.output)
    rep = layers_outside(pos, vcfg.representation, vcfg.layer_min_outside)
    rep_outside = sum(rep.values()) >= vcfg.min_layers_outside
    label = out_label or ("output-only" if rep_outside else "consistent")
    rows = [row(model, "band", "", "", "verdict", np.nan, label),
            row(model, "band", "output", "", "verdict", np.nan, "outside" if out_label else "inside")]
    rows += [row(model, "band", layer, "", "verdict", np.nan, "outside" if o else "inside") for layer, o in rep.items()]
    return rows
