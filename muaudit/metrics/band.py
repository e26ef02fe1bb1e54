"""The retrain band and the verdict.

For each quantity (metric, layer, role) every model gets one aggregate: its value (accuracy) or its mean
over the retrained references other than itself (CKA). The retrained models' own aggregates form the
band. Rule: band = [min - w, max + w] with w = max(tolerance, half the retrain range). A range-based
rule copes with zero spread (in the class scenario every retrained model has forget accuracy 0), needs no
normality assumption with five seeds, and the widening keeps the false-alarm rate of a new retrain seed low.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from muaudit.metrics.table import row

HIGHER_IS_CLOSER = {"cka"}  # similarity to retraining: above the band is not a discrepancy


def band_and_verdicts(rows: list[dict], statuses: dict[str, str], retrain_ids: list[str], tolerance: float) -> list[dict]:
    per_model: dict[tuple, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        per_model[(r["metric"], r["layer"], r["role"])][r["model"]].append(r["value"])
    out: list[dict] = []
    inside: dict[str, dict[tuple, bool]] = defaultdict(dict)
    position: dict[str, dict[tuple, int]] = defaultdict(dict)
    for key, by_model in sorted(per_model.items()):
        metric, layer, role = key
        agg = {m: float(np.nanmean(v)) for m, v in by_model.items()}
        ref_vals = np.array([agg[m] for m in retrain_ids if m in agg])
        if len(ref_vals) < 2:
            continue
        lo_raw, hi_raw = float(ref_vals.min()), float(ref_vals.max())
        w = max(tolerance, 0.5 * (hi_raw - lo_raw))
        lo, hi = lo_raw - w, hi_raw + w
        for stat, v in (("mean", ref_vals.mean()), ("sd", ref_vals.std(ddof=1)), ("low", lo), ("high", hi)):
            out.append(row("retrain", "band", layer, role, f"{metric}:{stat}", v))
        for m, v in agg.items():
            if m in retrain_ids:
                continue
            out.append(row(m, "band", layer, role, metric, v))
            pos = -1 if v < lo else (1 if v > hi else 0)
            if metric in HIGHER_IS_CLOSER and pos == 1:
                pos = 0
            position[m][key] = pos
            inside[m][key] = pos == 0
    for model, status in statuses.items():
        if model in retrain_ids:
            continue
        out += _verdict_rows(model, status, position.get(model, {}))
    return out


def _verdict_rows(model: str, status: str, pos: dict[tuple, int]) -> list[dict]:
    if status != "ok":
        return [row(model, "band", "", "", "verdict", np.nan, status if status in ("failed", "skipped") else "failed")]
    forget = pos.get(("accuracy", "logits", "forget"), 0)
    kept = [pos.get(("accuracy", "logits", r), 0) for r in ("retain", "test")]
    output_ok = forget == 0 and all(p == 0 for p in kept)
    rep_layers = sorted({k[1] for k in pos if k[0] != "accuracy"})
    rep_ok = {layer: all(p == 0 for k, p in pos.items() if k[1] == layer and k[0] != "accuracy") for layer in rep_layers}
    if forget == 1:
        label = "not-forgotten"
    elif forget == -1 or any(p == -1 for p in kept):
        label = "over-forgotten"
    elif not all(rep_ok.values()):
        label = "output-only"
    else:
        label = "consistent"
    rows = [row(model, "band", "", "", "verdict", np.nan, label),
            row(model, "band", "output", "", "verdict", np.nan, "inside" if output_ok else "outside")]
    rows += [row(model, "band", layer, "", "verdict", np.nan, "inside" if ok else "outside") for layer, ok in rep_ok.items()]
    return rows
